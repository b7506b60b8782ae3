"""Each app's migration graph, built by the rules of Django's `MigrationLoader.build_graph`."""
from __future__ import annotations

from typing import Mapping, NamedTuple

from migguard.reader import Dependency, MigrationSource

Key = tuple[str, str]


class GraphError(NamedTuple):
    key: Key
    line: int
    message: str


class Graph:
    """Nodes, parent and child edges, the way `django.db.migrations.graph` keeps them."""

    def __init__(self) -> None:
        self.nodes: set[Key] = set()
        self.parents: dict[Key, set[Key]] = {}
        self.children: dict[Key, set[Key]] = {}
        self.dummies: dict[Key, tuple[Key, int]] = {}
        self.by_app: dict[str, set[Key]] = {}
        self._leaves: dict[str, list[Key]] = {}

    def _touch(self, key: Key, origin: Key, line: int) -> None:
        if key not in self.parents:
            self.parents[key] = set()
            self.children[key] = set()
            if key not in self.nodes:
                self.dummies[key] = (origin, line)

    def add_dependency(self, child: Key, parent: Key, origin: Key, line: int) -> None:
        self._touch(child, origin, line)
        self._touch(parent, origin, line)
        self.children[parent].add(child)
        self.parents[child].add(parent)

    def remove_replaced_nodes(self, replacement: Key, replaced: list[Key]) -> None:
        """Re-point every edge of the replaced nodes at the squashed migration."""
        targets = set(replaced)
        for key in targets:
            self.nodes.discard(key)
            self.by_app.get(key[0], set()).discard(key)
            self.dummies.pop(key, None)
            if key not in self.parents:
                continue
            for child in self.children.pop(key):
                self.parents[child].discard(key)
                if child not in targets:
                    self.children[replacement].add(child)
                    self.parents[child].add(replacement)
            for parent in self.parents.pop(key):
                self.children[parent].discard(key)
                if parent not in targets:
                    self.parents[replacement].add(parent)
                    self.children[parent].add(replacement)

    def app_nodes(self, app: str) -> list[Key]:
        return sorted(self.by_app.get(app, ()))

    def leaf_nodes(self, app: str) -> list[Key]:
        """Nodes of `app` with no child in `app`; remembered once the graph is complete."""
        if app in self._leaves:
            return self._leaves[app]
        return [k for k in self.app_nodes(app) if all(c[0] != app for c in self.children[k])]

    def freeze(self) -> None:
        """The graph will not change any more: remember each app's leaves."""
        self._leaves = {}
        for app in self.by_app:
            self._leaves[app] = self.leaf_nodes(app)

    def root_nodes(self, app: str) -> list[Key]:
        return [k for k in self.app_nodes(app) if all(p[0] != app for p in self.parents[k])]

    def ancestors(self, key: Key, app: str | None = None) -> set[Key]:
        """Every node `key` depends on, directly or not (optionally only within one app)."""
        seen: set[Key] = set()
        stack = [key]
        while stack:
            for parent in self.parents.get(stack.pop(), ()):
                if parent not in seen and (app is None or parent[0] == app):
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def find_cycle(self) -> list[Key] | None:
        """One dependency cycle among the real nodes, or None (the same one on every run)."""
        if self._acyclic():
            return None
        return self._cycle(ordered=True)

    def _acyclic(self) -> bool:
        """Kahn's algorithm: every real node can be removed parents first."""
        waiting = {key: sum(1 for p in self.parents[key] if p in self.nodes) for key in self.nodes}
        ready = [key for key, count in waiting.items() if count == 0]
        removed = 0
        while ready:
            key = ready.pop()
            removed += 1
            for child in self.children[key]:
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        ready.append(child)
        return removed == len(self.nodes)

    def _cycle(self, ordered: bool) -> list[Key] | None:
        arrange = sorted if ordered else list
        state: dict[Key, int] = {}
        for start in arrange(self.nodes):
            if start in state:
                continue
            path: list[Key] = [start]
            stack: list[tuple[Key, list[Key]]] = [(start, arrange(self.parents[start]))]
            state[start] = 1
            while stack:
                node, pending = stack[-1]
                if not pending:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                    continue
                parent = pending.pop()
                if state.get(parent) == 1:
                    return path[path.index(parent):] + [parent]
                if parent not in state and parent in self.nodes:
                    state[parent] = 1
                    path.append(parent)
                    stack.append((parent, arrange(self.parents[parent])))
        return None


def build(migrations: Mapping[Key, MigrationSource]) -> tuple[Graph, list[GraphError]]:
    """Build the graph of every migration of the project, as Django would with no database."""
    graph = Graph()
    graph.nodes = set(migrations)
    graph.parents = {key: set() for key in migrations}
    graph.children = {key: set() for key in migrations}
    for key in migrations:
        graph.by_app.setdefault(key[0], set()).add(key)
    apps = set(graph.by_app)
    ordered = sorted(migrations.items())
    for key, migration in ordered:
        for dependency in migration.dependencies:
            if dependency.app == key[0] and dependency.name != "__first__" and not dependency.swappable:
                graph.add_dependency(key, (dependency.app, dependency.name), key, dependency.line)
    for key, migration in ordered:
        for dependency in migration.dependencies:
            if dependency.app == key[0]:
                continue
            parent = _resolve(graph, dependency, key[0], apps)
            if parent is not None:
                graph.add_dependency(key, parent, key, dependency.line)
        for dependency in migration.run_before:
            child = _resolve(graph, dependency, key[0], apps)
            if child is not None:
                graph.add_dependency(child, key, key, dependency.line)
    for key, migration in ordered:
        if migration.replaces:
            graph.remove_replaced_nodes(key, [(d.app, d.name) for d in migration.replaces])
    errors = [
        GraphError(origin, line, f"depends on {missing[0]}.{missing[1]}, which does not exist")
        for missing, (origin, line) in sorted(graph.dummies.items())
    ]
    graph.freeze()
    if not errors:
        cycle = graph.find_cycle()
        if cycle:
            chain = " -> ".join(f"{app}.{name}" for app, name in cycle)
            errors.append(GraphError(cycle[0], 1, f"is part of a dependency cycle: {chain}"))
    return graph, errors


def _resolve(graph: Graph, dependency: Dependency, current_app: str, apps: set[str]) -> Key | None:
    """Django's `check_key`: `__first__`/`__latest__`, and apps that are not in the repository."""
    if dependency.app not in apps:
        return None
    if dependency.name not in ("__first__", "__latest__"):
        return (dependency.app, dependency.name)
    if (dependency.app, dependency.name) in graph.nodes:
        return (dependency.app, dependency.name)
    if dependency.app == current_app:
        return None
    found = graph.root_nodes(dependency.app) if dependency.name == "__first__" else graph.leaf_nodes(dependency.app)
    return found[0] if found else None


def conflicts(graph: Graph, apps: list[str]) -> dict[str, list[str]]:
    """Apps with more than one leaf, like `MigrationLoader.detect_conflicts()`."""
    found = {}
    for app in apps:
        leaves = graph.leaf_nodes(app)
        if len(leaves) > 1:
            found[app] = [name for _, name in leaves]
    return found


def topological(graph: Graph, keys: set[Key]) -> list[Key]:
    """`keys` parents first; ties by name, so the order is stable."""
    remaining = {key: {p for p in graph.parents[key] if p in keys} for key in keys}
    ordered: list[Key] = []
    while remaining:
        ready = sorted(key for key, parents in remaining.items() if not parents)
        if not ready:
            raise ValueError("cycle")
        for key in ready:
            ordered.append(key)
            del remaining[key]
        for parents in remaining.values():
            parents.difference_update(ready)
    return ordered
