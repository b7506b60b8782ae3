"""The dependencies of a migration file in the plain shape `makemigrations` writes (any formatting), read with
Python's own parser through `_ast` alone: the hooks' quick paths use it, and `reader` (whose `ast`, `re` and
`typing` cost a hook more than its git calls) answers everything else.

It answers only where `reader.read_graph_fields` finds no problem, no `replaces` or `run_before`, and only
literal `(app, name)` pairs; None otherwise (the caller then asks `reader`)."""
from __future__ import annotations

import _ast

PyCF_ONLY_AST = 0x400  # ast.PyCF_ONLY_AST: `compile` returns the tree, as `ast.parse` does
LITERAL_NODES = (_ast.Constant, _ast.Tuple, _ast.List, _ast.ListComp, _ast.Dict, _ast.DictComp, _ast.Set, _ast.SetComp,
                 _ast.GeneratorExp, _ast.JoinedStr)  # reader.LITERAL_NODES: calling one is a missing comma
OTHER_GRAPH_ATTRIBUTES = ("replaces", "run_before")


def plain_dependencies(data: bytes) -> list[tuple[str, str]] | None:
    """The `(app, name)` pairs of `dependencies` when the file is certainly a plain migration; None when unsure."""
    if b"<<<<<<<" in data or b">>>>>>>" in data or b"=======" in data or b"\0" in data:
        return None
    try:
        tree = compile(data, "<migration>", "exec", PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(tree, _ast.Module) or not tree.body:
        return None
    classes = [node for node in tree.body if isinstance(node, _ast.ClassDef) and node.name == "Migration"]
    last = tree.body[-1]
    if len(classes) != 1 or classes[0] is not last or not isinstance(last, _ast.ClassDef) or last.decorator_list:
        return None
    if _calls_a_literal(tree):
        return None
    found: list[tuple[str, str]] | None = None
    for index, statement in enumerate(last.body):
        if isinstance(statement, _ast.Expr) and index == 0 and isinstance(statement.value, _ast.Constant) \
                and isinstance(statement.value.value, str):
            continue  # a docstring
        if not isinstance(statement, _ast.Assign) or len(statement.targets) != 1 \
                or not isinstance(statement.targets[0], _ast.Name):
            return None
        name = statement.targets[0].id
        if name in OTHER_GRAPH_ATTRIBUTES or name == "dependencies" and found is not None:
            return None
        if name == "dependencies":
            found = _pairs(statement.value)
            if found is None:
                return None
    return found if found is not None else []


def _pairs(value: _ast.expr) -> list[tuple[str, str]] | None:
    if not isinstance(value, (_ast.List, _ast.Tuple)):
        return None
    pairs = []
    for element in value.elts:
        if not isinstance(element, _ast.Tuple) or len(element.elts) != 2:
            return None
        app, name = element.elts
        if not isinstance(app, _ast.Constant) or not isinstance(name, _ast.Constant) \
                or not isinstance(app.value, str) or not isinstance(name.value, str) \
                or "\0" in app.value or "\0" in name.value:
            return None
        pairs.append((app.value, name.value))
    return pairs


def _calls_a_literal(tree: _ast.AST) -> bool:
    """Whether any call in the module calls a literal (`("a", "b") ("c", "d")`: Django's import raises TypeError)."""
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, _ast.AST):
            if isinstance(node, _ast.Call) and isinstance(node.func, LITERAL_NODES):
                return True
            stack.extend(getattr(node, field, None) for field in node._fields)
    return False
