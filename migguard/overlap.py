"""The overlap guard: two sides that change the same field or model are not merged blindly."""
from __future__ import annotations

from itertools import combinations
from typing import NamedTuple

from migguard.project import Project
from migguard.reader import Operation

FIELD_OPERATIONS = {"AddField", "RemoveField", "AlterField", "RenameField"}
MODEL_REMOVALS = {"DeleteModel", "RenameModel"}
CODE_OPERATIONS = {"RunPython", "RunSQL"}


class Located(NamedTuple):
    operation: Operation
    file: str

    def describe(self) -> str:
        op = self.operation
        target = op.model or op.old_name or "?"
        if op.kind in FIELD_OPERATIONS:
            target += f".{op.old_name or op.field}" + (f" -> {op.new_name}" if op.kind == "RenameField" else "")
        elif op.kind == "RenameModel":
            target = f"{op.old_name} -> {op.new_name}"
        return f"{op.kind}({target}) at {self.file}:{op.line}"


class Overlap(NamedTuple):
    collisions: list[str]
    notes: list[str]
    warnings: list[str]


def side_operations(project: Project, label: str, leaf: str, common: set[tuple[str, str]]) -> list[Located]:
    """The operations of the migrations behind `leaf` that are not behind every other leaf."""
    graph = project.graph
    key = (label, leaf)
    own = (graph.ancestors(key, label) | {key}) - common
    found = []
    for node in sorted(own):
        source = project.migrations.get(node)
        for operation in (source.operations or ()) if source else ():
            found.append(Located(operation, project.file_of(node)))
    return found


def _fields(operation: Operation) -> set[tuple[str, str]]:
    if operation.kind not in FIELD_OPERATIONS or operation.model is None:
        return set()
    names = {operation.field, operation.old_name, operation.new_name} - {None}
    return {(operation.model, name) for name in names}  # type: ignore[misc]


def _models_touched(operation: Operation) -> set[str]:
    names = {operation.model, operation.old_name if operation.kind == "RenameModel" else None}
    return {name for name in names if name}


def _removed_models(operation: Operation) -> set[str]:
    """The model a DeleteModel or RenameModel takes away."""
    if operation.kind not in MODEL_REMOVALS:
        return set()
    removed = operation.old_name if operation.kind == "RenameModel" else operation.model
    return {removed} if removed else set()


def compare(first: list[Located], second: list[Located]) -> Overlap:
    collisions, notes = [], []
    for a in first:
        for b in second:
            if _fields(a.operation) & _fields(b.operation):
                if a.operation.kind == b.operation.kind == "AlterField" and a.operation.fingerprint == b.operation.fingerprint:
                    notes.append(f"both sides make the identical {a.describe().split(' at ')[0]}: not a collision")
                    continue
                collisions.append(f"{a.describe()} and {b.describe()} change the same field")
            elif _removed_models(a.operation) & _models_touched(b.operation) or _removed_models(b.operation) & _models_touched(a.operation):
                collisions.append(f"{a.describe()} and {b.describe()} touch a model the other side removes or renames")
    return Overlap(collisions, notes, [])


def check_app(project: Project, label: str) -> Overlap:
    """Compare every pair of the app's leaves, each side since the pair's common ancestors."""
    graph = project.graph
    leaves = project.leaves(label)
    lines = {leaf: graph.ancestors((label, leaf), label) | {(label, leaf)} for leaf in leaves}
    result = Overlap([], [], [])
    code: dict[str, None] = {}
    for a, b in combinations(leaves, 2):
        common = lines[a] & lines[b]
        first, second = side_operations(project, label, a, common), side_operations(project, label, b, common)
        found = compare(first, second)
        result.collisions.extend(c for c in found.collisions if c not in result.collisions)
        result.notes.extend(n for n in found.notes if n not in result.notes)
        for located in (*first, *second):
            if located.operation.kind in CODE_OPERATIONS:
                code[f"{located.operation.kind} at {located.file}:{located.operation.line} runs code "
                     f"that migguard cannot compare; review it against the other side"] = None
    result.warnings.extend(code)
    return result
