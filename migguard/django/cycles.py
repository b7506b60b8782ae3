"""Migrations that depend on each other in a loop (Django's CircularDependencyError): named, with the fields that close it."""
from __future__ import annotations

from typing import Any

from django.db.migrations.exceptions import CircularDependencyError
from django.db.migrations.loader import MigrationLoader

from migguard.django.findings import Finding

Key = tuple[str, str]


class TolerantLoader(MigrationLoader):  # type: ignore[misc]
    """Django's loader, keeping the graph when it has a cycle (`cycle` holds Django's message, else "")."""

    cycle = ""

    def build_graph(self) -> None:
        try:
            super().build_graph()
        except CircularDependencyError as error:
            self.cycle = str(error)


def load(connection: Any) -> TolerantLoader:
    """The graph `migrate` sees (squashes chosen by what `connection` recorded; none when it is None)."""
    return TolerantLoader(connection, ignore_no_migrations=True)


def find_cycle(loader: MigrationLoader) -> list[Key]:
    """One loop of the graph, each migration followed by one it needs, from its smallest key ([] when none)."""
    graph = loader.graph
    state: dict[Key, int] = {}
    for start in sorted(graph.nodes):
        if start in state:
            continue
        path = [start]
        stack = [sorted((parent.key for parent in graph.node_map[start].parents), reverse=True)]
        state[start] = 1
        while stack:
            if not stack[-1]:
                stack.pop()
                state[path.pop()] = 2
                continue
            parent = stack[-1].pop()
            if state.get(parent) == 1:
                loop = path[path.index(parent):]
                first = loop.index(min(loop))
                return loop[first:] + loop[:first]
            if parent not in state:
                state[parent] = 1
                path.append(parent)
                stack.append(sorted((p.key for p in graph.node_map[parent].parents), reverse=True))
    return []


def finding(loader: TolerantLoader) -> Finding | None:
    """The `cycle` finding: each step of the loop and what makes it (a field, a base, a swappable dependency)."""
    if not loader.cycle:
        return None
    loop = find_cycle(loader)
    if not loop:
        return None
    steps = [f"{_name(child)} needs {_name(parent)} ({'; '.join(why(loader, child, parent))})"
             for child, parent in zip(loop, loop[1:] + loop[:1], strict=True)]
    names = [_name(key) for key in loop]
    message = (f"{', '.join(steps)}: Django cannot put these migrations in order (CircularDependencyError: "
               f"{loader.cycle}). Move one of these fields into a new migration of its app, after the other "
               f"app's migration (`makemigrations` does this when the field is added on its own); "
               f"`migguard db repair` changes nothing here")
    return Finding("cycle", loop[0][0], names, message)


def why(loader: MigrationLoader, child: Key, parent: Key) -> list[str]:
    """What in migration `child` makes it depend on `parent`: dependencies as written, fields and bases pointing there."""
    migration = loader.graph.nodes[child]
    reasons = []
    for dependency in migration.dependencies:
        value = getattr(dependency, "setting", None)  # SwappableTuple keeps the setting's value
        if value and _resolves(loader, tuple(dependency), child[0]) == parent:
            reasons.append(f"swappable_dependency(settings.{_swappable_name(str(value)) or '?'}) = {value}")
    for model, field, target in references(migration):
        if target.split(".", 1)[0].lower() == parent[0].lower():
            swappable = _swappable_name(target)
            via = f" through settings.{swappable}" if swappable else ""
            reasons.append(f"{child[0]}.{model}.{field} -> {target}{via}" if field else f"{child[0]}.{model} based on {target}")
    if not reasons:
        reasons.append("its dependencies name it" if parent[0] != child[0] else "the previous migration of the app")
    return reasons


def references(migration: Any) -> list[tuple[str, str, str]]:
    """(model, field, "app.Model") for each relation a migration's operations declare; field "" for a base class."""
    from django.db import models

    found: list[tuple[str, str, str]] = []
    for operation in migration.operations:
        fields: list[tuple[str, Any]] = []
        model = getattr(operation, "name", "") or ""
        if operation.__class__.__name__ == "CreateModel":
            fields = list(operation.fields)
            for base in operation.bases:
                if isinstance(base, str) and "." in base:
                    found.append((model, "", base))
        elif operation.__class__.__name__ in ("AddField", "AlterField"):
            model = operation.model_name
            fields = [(operation.name, operation.field)]
        for name, field in fields:
            remote = getattr(field, "remote_field", None)
            if remote is None:
                continue
            target = remote.model if isinstance(remote.model, str) else f"{remote.model._meta.label}"
            if isinstance(field, models.Field) and "." in target:
                found.append((model, name, target))
    return found


def _resolves(loader: MigrationLoader, key: Any, app: str) -> Key | None:
    try:
        resolved = loader.check_key(key, app)
    except ValueError:
        return None
    return None if resolved is None else (resolved[0], resolved[1])


def _swappable_name(target: str) -> str:
    from django.apps import apps

    try:
        return str(apps.get_swappable_settings_name(target) or "")
    except LookupError:
        return ""


def _name(key: Key) -> str:
    return f"{key[0]}.{key[1]}"
