"""Read one Django migration file statically: never import it, never run it."""
from __future__ import annotations

import ast
import re
from typing import NamedTuple

CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})(?: |$)|^={7}$", re.MULTILINE)
MIGRATION_CLASS = re.compile(r"^class\s+Migration\b[^\n]*:", re.MULTILINE)
CLASS_END = re.compile(r"^[^\s#)\]}]", re.MULTILINE)
GRAPH_STATEMENT = re.compile(
    r"^(?P<indent>[ \t]+)(?P<attr>dependencies|replaces|run_before|initial)\s*(?::[^=\n]*)?=",
    re.MULTILINE,
)


LITERAL_LIST = re.compile(r"(dependencies|replaces|run_before)\s*=\s*\[([\s(),'\"\w]*)\]\s*$")
LITERAL_PAIR = re.compile(r"\(\s*(['\"])(\w+)\1\s*,\s*(['\"])(\w+)\3\s*,?\s*\)")
LITERAL_REST = re.compile(r"^[\s,]*$")
LITERAL_BOOL = re.compile(r"initial\s*=\s*(True|False)\s*$")


class Dependency(NamedTuple):
    """One `(app, name)` reference; `swappable` marks `swappable_dependency(...)`."""

    app: str
    name: str
    line: int
    swappable: bool = False


class Operation(NamedTuple):
    """What the overlap guard needs to know of one operation."""

    kind: str
    model: str | None
    field: str | None
    old_name: str | None
    new_name: str | None
    fingerprint: str
    line: int


class Problem(NamedTuple):
    line: int
    message: str
    fatal: bool = True


class MigrationSource(NamedTuple):
    """The statically read facts of one migration module."""

    dependencies: tuple[Dependency, ...]
    replaces: tuple[Dependency, ...]
    run_before: tuple[Dependency, ...]
    initial: bool | None
    operations: tuple[Operation, ...] | None
    problems: tuple[Problem, ...]


class _Collector:
    """Gathers the graph attributes of one `Migration` class body."""

    def __init__(self, line_offset: int = 0) -> None:
        self.line_offset = line_offset
        self.values: dict[str, tuple[Dependency, ...]] = {}
        self.initial: bool | None = None
        self.operations: tuple[Operation, ...] | None = None
        self.problems: list[Problem] = []

    def line(self, node: ast.AST) -> int:
        return getattr(node, "lineno", 1) + self.line_offset

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            return
        if not isinstance(target, ast.Name):
            return
        if target.id == "initial":
            self.initial = value.value if isinstance(value, ast.Constant) and isinstance(value.value, bool) else None
        elif target.id in ("dependencies", "replaces", "run_before"):
            self.values[target.id] = self.references(target.id, value)
        elif target.id == "operations":
            self.operations = read_operations(value, self.line_offset)

    def references(self, attribute: str, value: ast.expr) -> tuple[Dependency, ...]:
        if not isinstance(value, (ast.List, ast.Tuple)):
            self.problems.append(Problem(self.line(value), f"{attribute} is not a literal list; ignored", fatal=False))
            return ()
        found = []
        for element in value.elts:
            dependency = self.reference(element)
            if dependency is None:
                self.problems.append(
                    Problem(self.line(element), f"dynamic entry in {attribute} cannot be read statically; ignored", fatal=False)
                )
            elif dependency.swappable and attribute != "dependencies":
                continue
            else:
                found.append(dependency)
        return tuple(found)

    def reference(self, node: ast.expr) -> Dependency | None:
        if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == 2:
            app, name = (_string(part) for part in node.elts)
            if app is not None and name is not None:
                return Dependency(app, name, self.line(node))
            return None
        if isinstance(node, ast.Call) and _call_name(node.func) == "swappable_dependency":
            setting = _string(node.args[0]) if node.args else None
            if setting and "." in setting:
                return Dependency(setting.split(".", 1)[0], "__first__", self.line(node), swappable=True)
            return Dependency("", "__first__", self.line(node), swappable=True)
        return None

    def result(self) -> MigrationSource:
        return MigrationSource(
            self.values.get("dependencies", ()),
            self.values.get("replaces", ()),
            self.values.get("run_before", ()),
            self.initial,
            self.operations,
            tuple(self.problems),
        )


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


OPERATION_POSITIONALS = {
    "AddField": ("model_name", "name"),
    "AlterField": ("model_name", "name"),
    "RemoveField": ("model_name", "name"),
    "RenameField": ("model_name", "old_name", "new_name"),
    "RenameModel": ("old_name", "new_name"),
}


def read_operations(value: ast.expr, line_offset: int = 0) -> tuple[Operation, ...]:
    if not isinstance(value, (ast.List, ast.Tuple)):
        return ()
    operations = []
    for call in value.elts:
        if not isinstance(call, ast.Call):
            continue
        kind = _call_name(call.func)
        arguments = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
        for position, name in enumerate(OPERATION_POSITIONALS.get(kind, ("name",))):
            if position < len(call.args):
                arguments.setdefault(name, call.args[position])
        texts = {key: _string(node) for key, node in arguments.items()}
        model = texts.get("model_name") or (texts.get("name") if "model_name" not in arguments else None)
        field = texts.get("name") if "model_name" in arguments else None
        operations.append(
            Operation(
                kind,
                model.lower() if model else None,
                field.lower() if field else None,
                (texts.get("old_name") or "").lower() or None,
                (texts.get("new_name") or "").lower() or None,
                ast.dump(call, annotate_fields=True, include_attributes=False),
                call.lineno + line_offset,
            )
        )
    return tuple(operations)


def _migration_class(tree: ast.Module) -> ast.ClassDef | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            return node
    return None


def read_full(source: str) -> MigrationSource:
    """Parse the whole module: graph attributes and the summary of operations."""
    marker = CONFLICT_MARKER.search(source)
    if marker:
        return _failure(source.count("\n", 0, marker.start()) + 1, "holds git conflict markers")
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return _failure(error.lineno or 1, f"is not valid Python ({error.msg})")
    cls = _migration_class(tree)
    if cls is None:
        return _failure(1, "has no top-level `class Migration`")
    collector = _Collector()
    for node in cls.body:
        collector.statement(node)
    if collector.operations is None:
        collector.operations = ()
    return collector.result()


DJANGO_LAYOUT = re.compile(
    r"^class Migration\(migrations\.Migration\):\n(?:\n|    [^\n]*\n)*?"
    r"    dependencies = \[(?:\n((?:        \('\w+', '\w+'\),\n)*)    )?\]\n",
    re.MULTILINE,
)
DJANGO_PAIR = re.compile(r"\('(\w+)', '(\w+)'\)")


def _read_django_layout(source: str) -> MigrationSource | None:
    """The exact layout Django's writer produces, read with one regex; None for anything else."""
    if (source.count("dependencies") != 1 or "replaces" in source or "run_before" in source
            or source.count("class ") != 1 or '"""' in source or "'''" in source or "=======" in source
            or "<<<<<<<" in source or ">>>>>>>" in source
            or "\n    initial" in source and "\n    initial = True\n" not in source):
        return None
    match = DJANGO_LAYOUT.search(source)
    if match is None:
        return None
    body = match[1] or ""
    line = source.count("\n", 0, match.start(1) if match[1] else match.start()) + 1
    dependencies = tuple(Dependency(pair[1], pair[2], line + body.count("\n", 0, pair.start()))
                         for pair in DJANGO_PAIR.finditer(body))
    initial = True if "\n    initial = True\n" in source else None
    return MigrationSource(dependencies, (), (), initial, None, ())


def _brackets_balance(source: str) -> bool:
    """Cheap sign of a mangled file: every bracket closed (a full parse decides when not)."""
    return (source.count("(") == source.count(")") and source.count("[") == source.count("]")
            and source.count("{") == source.count("}"))


def read_graph_fields(source: str) -> MigrationSource:
    """Read only the statements the graph needs; fall back to a full parse when unsure.

    A syntax error outside those statements is found only when it leaves brackets unbalanced;
    `read_full` (used by `fix`) finds every one."""
    if not _brackets_balance(source):
        return read_full(source)
    django = _read_django_layout(source)
    if django is not None:
        return django
    if "<<<<<<<" in source or "=======" in source or ">>>>>>>" in source:
        marker = CONFLICT_MARKER.search(source)
        if marker:
            return _failure(source.count("\n", 0, marker.start()) + 1, "holds git conflict markers")
    if source.count("class Migration") != 1 or '"""' in source or "'''" in source or "\\\n" in source:
        return read_full(source)
    class_match = MIGRATION_CLASS.search(source)
    if class_match is None:
        return read_full(source)
    body_start = class_match.end()
    body_indent = _body_indent(source, body_start)
    if body_indent is None:
        return read_full(source)
    class_end = CLASS_END.search(source, body_start + 1)
    collector = _Collector()
    for match in GRAPH_STATEMENT.finditer(source, body_start, class_end.start() if class_end else len(source)):
        if match["indent"] != body_indent:
            continue
        snippet = _statement_text(source, match.start(), body_indent)
        first_line = source.count("\n", 0, match.start())
        if _read_literal(snippet, first_line, collector):
            continue
        try:
            tree = ast.parse(snippet)
        except SyntaxError:
            return read_full(source)
        collector.line_offset = first_line
        for node in tree.body:
            collector.statement(node)
    return collector.result()


def _read_literal(snippet: str, first_line: int, collector: _Collector) -> bool:
    """Read the plain shape Django writes (a list of string pairs, or a bool) without a parser.

    Exact or nothing: only brackets, commas, blanks and quoted words may appear; else False."""
    literal = LITERAL_LIST.match(snippet)
    if literal:
        body = literal[2]
        if LITERAL_REST.match(LITERAL_PAIR.sub("", body)) is None:
            return False
        offset = first_line + 1 + snippet.count("\n", 0, literal.start(2))
        collector.values[literal[1]] = tuple(
            Dependency(pair[2], pair[4], offset + body.count("\n", 0, pair.start()))
            for pair in LITERAL_PAIR.finditer(body)
        )
        return True
    flag = LITERAL_BOOL.match(snippet)
    if flag:
        collector.initial = flag[1] == "True"
        return True
    return False


def _body_indent(source: str, position: int) -> str | None:
    for line in source[position:].split("\n", 40)[1:]:
        stripped = line.lstrip(" \t")
        if stripped and not stripped.startswith("#"):
            indent = line[: len(line) - len(stripped)]
            return indent or None
    return None


_STATEMENT_ENDS: dict[int, re.Pattern[str]] = {}


def _statement_text(source: str, start: int, indent: str) -> str:
    """The statement starting at `start`, dedented: up to the next line that starts at or left
    of `indent` with anything but a comment or a closing bracket."""
    width = len(indent)
    end_pattern = _STATEMENT_ENDS.get(width)
    if end_pattern is None:
        end_pattern = _STATEMENT_ENDS[width] = re.compile(r"\n[ \t]{0,%d}[^ \t\n#)\]}]" % width)
    end = end_pattern.search(source, start)
    text = source[start : end.start() if end else len(source)]
    lines = text.split("\n")
    return "\n".join(line[width:] if not line[:width].strip() else line.lstrip() for line in lines) + "\n"


def _failure(line: int, message: str) -> MigrationSource:
    return MigrationSource((), (), (), None, None, (Problem(line, message),))
