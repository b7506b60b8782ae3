"""Read one Django migration file statically: never import it, never run it.

Every file is parsed in full with `ast` (once per blob: the callers cache the result), so a file
Python cannot import is always reported, and one reader answers for `check`, the hooks and `fix`."""
from __future__ import annotations

import ast
import gc
import re
from typing import NamedTuple

CONFLICT_MARKER = re.compile(r"^(<{7}|>{7})(?: |$)|^={7}$", re.MULTILINE)
CONFLICT_MARKER_BYTES = re.compile(rb"^(<{7}|>{7})(?: |\r?$)|^={7}\r?$", re.MULTILINE)
GRAPH_ATTRIBUTES = ("dependencies", "replaces", "run_before")
# A call of a literal (`("a", "b") ("c", "d")`: a comma is missing) has one of these just before `(`:
# a closing bracket or quote, a number, `...`, None, True or False.
LITERAL_CALL_HINT = re.compile(rb"""(?:[)\]}'"]|(?<![\w.])\.?\d[\w.]*|\.\.\.|\b(?:None|True|False))\s*\(""")
LITERAL_NODES = (ast.Constant, ast.Tuple, ast.List, ast.ListComp, ast.Dict, ast.DictComp, ast.Set, ast.SetComp,
                 ast.GeneratorExp, ast.JoinedStr)


class Dependency(NamedTuple):
    """One `(app, name)` reference; `swappable` marks `swappable_dependency(...)`."""

    app: str
    name: str
    line: int
    swappable: bool = False
    setting: str = ""  # `swappable_dependency(settings.X)`: "X" (the app is then "", known only to the settings)


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


NO_CLASS = "has no top-level `class Migration`"


def lacks_class(source: MigrationSource) -> bool:
    """The module defines no `class Migration` (it is a helper module, not a migration)."""
    return any(problem.message == NO_CLASS for problem in source.problems)


class _Collector:
    """Gathers the graph attributes of one `Migration` class body."""

    def __init__(self, with_operations: bool) -> None:
        self.with_operations = with_operations
        self.values: dict[str, tuple[Dependency, ...]] = {}
        self.initial: bool | None = None
        self.operations: tuple[Operation, ...] | None = None
        self.problems: list[Problem] = []

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self.assign(target, node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.assign(node.target, node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id in GRAPH_ATTRIBUTES:
            if isinstance(node.op, ast.Add):
                self.values[node.target.id] = self.values.get(node.target.id, ()) + self.references(node.target.id, node.value)
            else:
                self.problems.append(Problem(node.lineno, f"changes {node.target.id} in a way migguard cannot read"))
        elif isinstance(node, (ast.Expr, ast.If, ast.For, ast.While, ast.Try, ast.With, ast.Delete)):
            self.compound(node)

    def assign(self, target: ast.expr, value: ast.expr) -> None:
        if not isinstance(target, ast.Name):
            return
        if target.id == "initial":
            self.initial = value.value if isinstance(value, ast.Constant) and isinstance(value.value, bool) else None
        elif target.id in GRAPH_ATTRIBUTES:
            self.values[target.id] = self.references(target.id, value)
        elif target.id == "operations" and self.with_operations:
            self.operations = read_operations(value)

    def compound(self, node: ast.stmt) -> None:
        """A statement that may change a graph attribute in a way a static reader cannot follow."""
        for inner in ast.walk(node):
            name = None
            if isinstance(inner, ast.Name) and not isinstance(inner.ctx, ast.Load):
                name = inner.id
            elif isinstance(inner, ast.Attribute) and isinstance(inner.value, ast.Name) and isinstance(inner.ctx, ast.Load):
                name = inner.value.id if inner.attr in ("append", "extend", "insert", "remove", "pop", "clear") else None
            if name in GRAPH_ATTRIBUTES:
                self.problems.append(Problem(node.lineno, f"changes {name} inside a statement migguard cannot "
                                             f"follow statically; write it as one literal list"))
                return

    def references(self, attribute: str, value: ast.expr) -> tuple[Dependency, ...]:
        if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
            return self.references(attribute, value.left) + self.references(attribute, value.right)
        if not isinstance(value, (ast.List, ast.Tuple)):
            self.problems.append(Problem(value.lineno, f"{attribute} is not a literal list; ignored", fatal=False))
            return ()
        found = []
        for element in value.elts:
            if isinstance(element, ast.Call) and isinstance(element.func, LITERAL_NODES):
                self.problems.append(Problem(element.lineno, _literal_call_message(element.func)))
                continue
            if isinstance(element, ast.Call) and isinstance(element.func, ast.Call):
                self.problems.append(Problem(element.lineno, f"calls what {_call_name(element.func.func) or 'a call'}"
                                             f"(...) returns in {attribute} (a comma is missing?); Django's import "
                                             f"raises TypeError"))
                continue
            dependency = self.reference(element)
            if dependency is None:
                self.problems.append(
                    Problem(element.lineno, f"dynamic entry in {attribute} cannot be read statically; ignored", fatal=False)
                )
            elif "\0" in dependency.app or "\0" in dependency.name:
                self.problems.append(Problem(element.lineno, f"names a migration with a NUL character in {attribute}"))
            elif dependency.swappable and attribute != "dependencies":
                continue
            else:
                found.append(dependency)
        return tuple(found)

    @staticmethod
    def reference(node: ast.expr) -> Dependency | None:
        if isinstance(node, (ast.Tuple, ast.List)) and len(node.elts) == 2:
            app, name = (_string(part) for part in node.elts)
            if app is not None and name is not None:
                return Dependency(app, name, node.lineno)
            return None
        if isinstance(node, ast.Call) and _call_name(node.func) == "swappable_dependency":
            setting = _string(node.args[0]) if node.args else None
            if setting and "." in setting:
                return Dependency(setting.split(".", 1)[0], "__first__", node.lineno, swappable=True)
            return Dependency("", "__first__", node.lineno, swappable=True, setting=_setting_name(node.args[0]) if node.args else "")
        return None

    def result(self) -> MigrationSource:
        return MigrationSource(
            self.values.get("dependencies", ()),
            self.values.get("replaces", ()),
            self.values.get("run_before", ()),
            self.initial,
            (self.operations or ()) if self.with_operations else None,
            tuple(self.problems),
        )


def _literal_call_message(func: ast.expr) -> str:
    kind = {ast.Tuple: "a tuple", ast.List: "a list", ast.Dict: "a dict", ast.Set: "a set"}.get(type(func))
    if kind is None:
        text = ast.unparse(func)
        kind = f"the literal {text if len(text) <= 30 else text[:27] + '...'}"
    return f"is not valid Python: it calls {kind} (a comma is missing?); Django's import raises TypeError"


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _setting_name(node: ast.expr) -> str:
    """`settings.X` or `django.conf.settings.X` -> "X"; anything else -> ""."""
    if isinstance(node, ast.Attribute) and _call_name(node.value) == "settings":
        return node.attr
    return ""


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


def _literal_calls(tree: ast.Module) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, LITERAL_NODES)]


def _later_uses(statements: list[ast.stmt]) -> int | None:
    """The line of the first use of the name `Migration` after the class: a change there is invisible statically."""
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Name) and node.id == "Migration":
                return node.lineno
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "Migration":
                return node.lineno
    return None


def read_graph_fields(source: str | bytes) -> MigrationSource:
    """The attributes the graph needs (no operations); any file Python cannot import is reported."""
    return _read(source, with_operations=False)


def read_full(source: str | bytes) -> MigrationSource:
    """Graph attributes and the summary of operations (what `fix` and the overlap guard need)."""
    return _read(source, with_operations=True)


def _read(source: str | bytes, with_operations: bool) -> MigrationSource:
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    if b"<<<<<<<" in data or b">>>>>>>" in data or b"=======" in data:
        marker = CONFLICT_MARKER_BYTES.search(data)
        if marker:
            return _failure(data.count(b"\n", 0, marker.start()) + 1, "holds git conflict markers")
    if b"\0" in data:
        return _failure(data.count(b"\n", 0, data.index(b"\0")) + 1, "is not valid Python (it holds a NUL byte)")
    collecting = gc.isenabled()
    gc.disable()  # an AST holds no cycles; the collector's passes over it would make parsing quadratic
    try:
        tree = ast.parse(data)
        return _collect(tree, data, with_operations)
    except SyntaxError as error:
        return _failure(error.lineno or 1, f"is not valid Python ({error.msg})")
    except (RecursionError, MemoryError):
        return _failure(1, "nests too deeply to be read (Python may not import it either)")
    except ValueError as error:
        return _failure(1, f"is not valid Python ({error})")
    finally:
        if collecting:
            gc.enable()


def _collect(tree: ast.Module, data: bytes, with_operations: bool) -> MigrationSource:
    position, cls = None, None
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            position, cls = index, node
    if position is None or cls is None:
        return _failure(1, NO_CLASS)
    collector = _Collector(with_operations)
    for earlier in tree.body[:position]:
        if isinstance(earlier, ast.ClassDef) and earlier.name == "Migration":  # Python runs its body too
            discarded = _Collector(False)
            for node in earlier.body:
                discarded.statement(node)
            collector.problems += [problem for problem in discarded.problems if problem.fatal]
    for node in cls.body:
        collector.statement(node)
    if cls.decorator_list:
        collector.problems.append(Problem(cls.lineno, "decorates class Migration: migguard cannot read what a decorator changes"))
    later = _later_uses(tree.body[position + 1:])
    if later is not None:
        collector.problems.append(Problem(later, "uses `Migration` after the class (a change made there is invisible "
                                                 "to a static reader); set dependencies inside the class"))
    if LITERAL_CALL_HINT.search(data):
        reported = {problem.line for problem in collector.problems}
        for call in _literal_calls(tree):
            if call.lineno not in reported:
                collector.problems.append(Problem(call.lineno, _literal_call_message(call.func)))
                reported.add(call.lineno)
    return collector.result()


def _failure(line: int, message: str) -> MigrationSource:
    return MigrationSource((), (), (), None, None, (Problem(line, message),))


class _ConfigClass(NamedTuple):
    bases: tuple[str, ...]
    label: str | None
    name: str | None
    default: bool | None
    unreadable: bool


def app_config_label(source: str | bytes) -> str | None:
    """The label of the AppConfig Django would pick from this `apps.py`, read statically; None when unsure.

    Django takes the one AppConfig subclass of the module, else the one with `default = True`; its
    label is `label`, else the last part of `name`. Classes count when a base's name ends in `Config`
    (`AppConfig`, or an imported subclass such as oscar's `OscarConfig`), directly or through a class
    of this file; several candidates that all give one label are that label."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    classes: dict[str, _ConfigClass] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = _config_class(node)

    def is_config(name: str, seen: frozenset[str] = frozenset()) -> bool:
        cls = classes.get(name)
        if cls is None or name in seen:
            return False
        return any(is_config(base, seen | {name}) if base in classes else base.endswith("Config") for base in cls.bases)

    def attribute(name: str, field: str, seen: frozenset[str] = frozenset()) -> tuple[bool, str | bool | None]:
        """(known, value) of `field`, looked up through the bases defined in this file."""
        cls = classes[name]
        if cls.unreadable:
            return False, None
        value = getattr(cls, field)
        if value is not None:
            return True, value
        for base in cls.bases:
            if base in classes and base not in seen:
                known, found = attribute(base, field, seen | {name})
                if not known or found is not None:
                    return known, found
        return True, None

    candidates = [name for name in classes if is_config(name) and attribute(name, "default")[1] is not False]
    if len(candidates) > 1:
        chosen = [name for name in candidates if attribute(name, "default")[1] is True]
        candidates = chosen if len(chosen) == 1 else candidates
    labels = set()
    for name in candidates:
        known_label, label = attribute(name, "label")
        known_name, dotted = attribute(name, "name")
        if not known_label or (label is None and not known_name):
            return None
        if label is None and isinstance(dotted, str):
            label = dotted.rpartition(".")[2]
        if not isinstance(label, str) or not label.isidentifier():
            return None
        labels.add(label)
    return labels.pop() if len(labels) == 1 else None


def _config_class(node: ast.ClassDef) -> _ConfigClass:
    bases = tuple(_call_name(base) for base in node.bases)
    values: dict[str, object] = {}
    unreadable = False
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("label", "name", "default"):
                if isinstance(value, ast.Constant) and isinstance(value.value, (str, bool)):
                    values[target.id] = value.value
                elif target.id != "default":
                    unreadable = True
    label, name, default = values.get("label"), values.get("name"), values.get("default")
    return _ConfigClass(bases, label if isinstance(label, str) else None, name if isinstance(name, str) else None,
                        default if isinstance(default, bool) else None, unreadable)
