"""libcst edits of migration files: only the strings that must change are touched, every other
byte (comments, quotes, commas, layout) stays as it was."""
from __future__ import annotations

import hashlib
import re

import libcst as cst

Key = tuple[str, str]
REFERENCE_LISTS = ("dependencies", "run_before", "replaces")

MERGE_TEMPLATE = """from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
{dependencies}
    ]

    operations = [
    ]
"""


class RewriteError(Exception):
    """A file cannot be rewritten safely; the message is one sentence."""


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _with_value(node: cst.SimpleString, value: str) -> cst.SimpleString:
    """The same string literal (prefix and quotes kept) holding `value`."""
    prefix = node.prefix
    quote = node.quote
    if quote in value or "\\" in value:
        raise RewriteError(f"cannot write {value!r} inside {node.value}")
    return node.with_changes(value=f"{prefix}{quote}{value}{quote}")


class _ReferenceRewriter(cst.CSTTransformer):
    """Rewrites `(app, name)` pairs inside the reference lists of `class Migration`."""

    def __init__(self, renames: dict[Key, str], repoint: tuple[str, set[str], str] | None) -> None:
        self.renames = renames
        self.repoint = repoint
        self.repointed = False
        self.depth = 0
        self.current: str | None = None
        self.changed = 0

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.depth += 1
        return self.depth == 1 and node.name.value == "Migration"

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.depth -= 1
        return updated

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def _target(self, node: cst.BaseSmallStatement) -> str | None:
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
        elif isinstance(node, cst.AnnAssign):
            target = node.target
        else:
            return None
        return target.value if isinstance(target, cst.Name) and target.value in REFERENCE_LISTS else None

    def visit_Assign(self, node: cst.Assign) -> bool:
        self.current = self._target(node)
        return self.current is not None

    def visit_AnnAssign(self, node: cst.AnnAssign) -> bool:
        self.current = self._target(node)
        return self.current is not None

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        self.current = None
        return updated

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        self.current = None
        return updated

    def _pair(self, node: cst.BaseExpression) -> tuple[Key, cst.SimpleString] | None:
        if not isinstance(node, (cst.Tuple, cst.List)) or len(node.elements) != 2:
            return None
        app_node, name_node = (element.value for element in node.elements)
        app, name = _string_value(app_node), _string_value(name_node)
        if app is None or name is None or not isinstance(name_node, cst.SimpleString):
            return None
        return (app, name), name_node

    def _rewrite_pair(self, node: cst.Tuple | cst.List) -> cst.Tuple | cst.List:
        found = self._pair(node)
        if found is None or self.current is None:
            return node
        key, name_node = found
        new_name = None
        if (self.repoint and not self.repointed and self.current == "dependencies"
                and key[0] == self.repoint[0] and key[1] in self.repoint[1]):
            new_name = self.repoint[2]
            self.repointed = True
        elif key in self.renames:
            new_name = self.renames[key]
        if new_name is None or new_name == key[1]:
            return node
        self.changed += 1
        elements = list(node.elements)
        elements[1] = elements[1].with_changes(value=_with_value(name_node, new_name))
        return node.with_changes(elements=elements)

    def leave_Tuple(self, original: cst.Tuple, updated: cst.Tuple) -> cst.BaseExpression:
        return self._rewrite_pair(updated)

    def leave_List(self, original: cst.List, updated: cst.List) -> cst.BaseExpression:
        return self._rewrite_pair(updated)


def rewrite_references(source: str, renames: dict[Key, str],
                       repoint: tuple[str, set[str], str] | None = None) -> str:
    """Rename `(app, old)` to `(app, renames[...])` in dependencies, run_before and replaces.

    `repoint = (app, parents, new_parent)` also points the first same-app dependency on one of
    `parents` at `new_parent`; a migration with no such dependency gets one appended.
    Every other byte stays: a UTF-8 byte order mark, CR-only or CRLF line ends, a missing final newline."""
    bom = "\ufeff" if source.startswith("\ufeff") else ""
    body = source[len(bom):]
    cr_only = "\r" in body and "\n" not in body
    if cr_only:
        body = body.replace("\r", "\n")
    try:
        module = cst.parse_module(body)
    except (cst.ParserSyntaxError, RecursionError, MemoryError) as error:
        line = getattr(error, "raw_line", None)
        raise RewriteError(f"is not valid Python{f' (line {line})' if line else ''}") from None
    if module.code != body:
        raise RewriteError("has line endings or bytes migguard cannot rewrite without changing others")
    rewriter = _ReferenceRewriter(renames, repoint)
    module = module.visit(rewriter)
    if repoint and not rewriter.repointed:
        module = _append_dependency(module, (repoint[0], repoint[2]))
    code = module.code
    return bom + (code.replace("\n", "\r") if cr_only else code)


def _quote_of(elements: list[cst.BaseElement]) -> str:
    """The quote the list's strings use (single quotes when it has none)."""
    for element in elements:
        inner = element.value.elements if isinstance(element.value, (cst.List, cst.Tuple, cst.Set)) else ()
        for node in (element.value, *(e.value for e in inner)):
            if isinstance(node, cst.SimpleString) and node.quote in ("'", '"'):
                return node.quote
    return "'"


def _append_dependency(module: cst.Module, key: Key) -> cst.Module:
    """Append `key` to the literal `dependencies` list, laid out like the elements already there."""

    class Appender(cst.CSTTransformer):
        done = False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return node.name.value == "Migration"

        def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
            target = updated.targets[0].target if len(updated.targets) == 1 else None
            if self.done or not (isinstance(target, cst.Name) and target.value == "dependencies"):
                return updated
            container = updated.value
            if not isinstance(container, (cst.List, cst.Tuple)):
                return updated
            if isinstance(container, cst.Tuple) and not container.lpar:
                return updated
            self.done = True
            elements = list(container.elements)
            quote = _quote_of(elements)
            pair = cst.Tuple([cst.Element(cst.SimpleString(f"{quote}{key[0]}{quote}"),
                                          comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                              cst.Element(cst.SimpleString(f"{quote}{key[1]}{quote}"))])
            opening = container.lbracket if isinstance(container, cst.List) else container.lpar[0]
            closing = container.rbracket if isinstance(container, cst.List) else container.rpar[0]
            separator = opening.whitespace_after
            if len(elements) >= 2 and isinstance(elements[-2].comma, cst.Comma):
                separator = elements[-2].comma.whitespace_after
            if isinstance(separator, cst.ParenthesizedWhitespace):
                separator = separator.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
            if not elements:
                if isinstance(separator, cst.ParenthesizedWhitespace):
                    inner = separator.with_changes(last_line=cst.SimpleWhitespace(separator.last_line.value + "    "))
                    opening = opening.with_changes(whitespace_after=inner)
                    element = cst.Element(pair, comma=cst.Comma(whitespace_after=opening.whitespace_after
                                                                .with_changes(last_line=separator.last_line)))
                else:
                    element = cst.Element(pair)
                return self._with(updated, container, opening, closing, [element])
            last = elements[-1]
            if isinstance(last.comma, cst.Comma) and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace):
                between, end = _split_line(separator, last.comma.whitespace_after)
                element = cst.Element(pair, comma=last.comma.with_changes(whitespace_after=end))
                elements[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
            elif isinstance(last.comma, cst.Comma):
                between, end = _split_line(separator, closing.whitespace_before)
                closing = closing.with_changes(whitespace_before=end)
                element = cst.Element(pair, comma=last.comma)
                elements[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
            else:
                between, end = _split_line(separator, closing.whitespace_before)
                closing = closing.with_changes(whitespace_before=end)
                element = cst.Element(pair)
                elements[-1] = last.with_changes(comma=cst.Comma(whitespace_after=between))
            return self._with(updated, container, opening, closing, [*elements, element])

        @staticmethod
        def _with(updated: cst.Assign, container: cst.List | cst.Tuple, opening: cst.CSTNode,
                  closing: cst.CSTNode, elements: list[cst.BaseElement]) -> cst.Assign:
            value: cst.List | cst.Tuple
            if isinstance(container, cst.List):
                value = container.with_changes(lbracket=opening, rbracket=closing, elements=elements)
            else:
                value = container.with_changes(lpar=[opening, *container.lpar[1:]],
                                               rpar=[closing, *container.rpar[1:]], elements=elements)
            return updated.with_changes(value=value)

    appender = Appender()
    module = module.visit(appender)
    if not appender.done:
        raise RewriteError("has no literal `dependencies` list to point at the new parent")
    return module


def _split_line(separator: cst.BaseParenthesizableWhitespace, end: cst.BaseParenthesizableWhitespace
                ) -> tuple[cst.BaseParenthesizableWhitespace, cst.BaseParenthesizableWhitespace]:
    """The whitespace between the last old element and the new one, and after the new one.

    A comment ending the old last element's line stays on that line; the line break and indent
    come from the list's own layout (one space in a one-line list)."""
    if not isinstance(separator, cst.ParenthesizedWhitespace):
        return cst.SimpleWhitespace(" "), end
    if isinstance(end, cst.ParenthesizedWhitespace):
        return separator.with_changes(first_line=end.first_line), end.with_changes(first_line=cst.TrailingWhitespace())
    return separator, end


def parse_number(name: str) -> int | None:
    """Django's `MigrationAutodetector.parse_number`: `_squashed_N` counts as N."""
    squashed = re.search(r".*_squashed_(\d+)", name)
    if squashed:
        return int(squashed[1])
    match = re.match(r"^\d+", name)
    return int(match[0]) if match else None


def merge_name(leaves: list[str]) -> str:
    """`makemigrations --merge`'s name, with a digest of the leaves where Django puts a timestamp."""
    numbers = [number for number in map(parse_number, leaves) if number is not None]
    biggest = max(numbers) if numbers else 1
    joined = "_".join(sorted(leaves))
    if len(joined) > 47:
        joined = hashlib.sha256("\n".join(sorted(leaves)).encode()).hexdigest()[:8]
    return f"{biggest + 1:04d}_merge_{joined}"


def merge_migration(app: str, leaves: list[str]) -> str:
    """A merge migration depending on every leaf: the same bytes on every machine, every time."""
    dependencies = "\n".join(f"        ({app!r}, {leaf!r})," for leaf in sorted(leaves))
    text = MERGE_TEMPLATE.format(dependencies=dependencies)
    cst.parse_module(text)
    return text


def renumbered(name: str, number: int, width: int) -> str:
    """`name` with its leading number replaced (or a number added) at `width` digits."""
    match = re.match(r"^\d+_?", name)
    rest = name[match.end():] if match else name
    return f"{number:0{width}d}_{rest}" if rest else f"{number:0{width}d}"
