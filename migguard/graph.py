"""Each app's migration graph, built by the rules of Django's `MigrationLoader.build_graph`."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from migguard.collector import paused
from migguard.errors import InputError
from migguard.reader import Dependency, MigrationSource

Key = tuple[str, str]

# Django 6.0 loads a squash of a squash (inner squashes are replaced first, a loop is an error);
# before 6.0 squashes are replaced in an order that changes from run to run.
NESTED_SQUASHES_SINCE = (6, 0)


class CycleError(InputError):
    """Migrations that cannot be put in order; the message names the cycle."""


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
        self.installed_django: str | None = None  # the installed Django's version, when it decided the answer

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
        """Re-point every edge of the replaced nodes at the squashed migration (which must be in the graph)."""
        targets = set(replaced) - {replacement}
        if replacement not in self.parents:
            return
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
        children = self.children
        return [k for k in self.app_nodes(app) if not children[k] or all(c[0] != app for c in children[k])]

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
        nodes, parents, children = self.nodes, self.parents, self.children
        waiting = {key: len(parents[key]) for key in nodes}
        for other in parents.keys() - nodes:  # a missing parent (each edge is kept on both sides)
            for child in children[other]:
                if child in waiting:
                    waiting[child] -= 1
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


def build(migrations: Mapping[Key, MigrationSource], django_version: str = "",
          auth_user_app: str = "") -> tuple[Graph, list[GraphError]]:
    """Build the graph of every migration of the project, as Django would with no database.

    `django_version` ("5.2", "6.0", ...) chooses how squashes of squashes load; "" means the installed
    Django's way, found only when such a squash exists (the newest way when none is installed).
    `auth_user_app`: the app of settings.AUTH_USER_MODEL, for `swappable_dependency(settings.AUTH_USER_MODEL)`."""
    with paused():
        return _build(migrations, django_version, auth_user_app)


def _build(migrations: Mapping[Key, MigrationSource], django_version: str,
           auth_user_app: str) -> tuple[Graph, list[GraphError]]:
    graph = Graph()
    nodes: set[Key] = set(migrations)
    parents: dict[Key, set[Key]] = {key: set() for key in migrations}
    children: dict[Key, set[Key]] = {key: set() for key in migrations}
    graph.nodes, graph.parents, graph.children = nodes, parents, children
    by_app = graph.by_app
    for key in migrations:
        if key[0] in by_app:
            by_app[key[0]].add(key)
        else:
            by_app[key[0]] = {key}
    apps = set(by_app)
    ordered = [(key, migrations[key]) for key in sorted(migrations)]
    for key, migration in ordered:  # `add_dependency` inlined: the same edges, each missing parent noted once
        app = key[0]
        for dependency in migration.dependencies:
            if dependency.app == app and dependency.name != "__first__" and not dependency.swappable:
                named = (app, dependency.name)
                if named not in parents:
                    parents[named] = set()
                    children[named] = set()
                    if named not in nodes:
                        graph.dummies[named] = (key, dependency.line)
                children[named].add(key)
                parents[key].add(named)
    for key, migration in ordered:
        for dependency in migration.dependencies:
            if auth_user_app and dependency.setting == "AUTH_USER_MODEL" and not dependency.app:
                dependency = dependency._replace(app=auth_user_app)
            if dependency.app == key[0]:
                continue
            parent = _resolve(graph, dependency, key[0], apps)
            if parent is not None:
                graph.add_dependency(key, parent, key, dependency.line)
        for dependency in migration.run_before:
            child = _resolve(graph, dependency, key[0], apps)
            if child is not None:
                graph.add_dependency(child, key, key, dependency.line)
    errors = _replace_squashed(graph, migrations, django_version)
    errors += [
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
    """`keys` parents first, in rounds: every key whose parents are all placed, sorted by name (linear time).

    Raises CycleError naming a cycle when some keys can never be placed."""
    waiting = {key: 0 for key in keys}
    for key in keys:
        waiting[key] = sum(1 for parent in graph.parents.get(key, ()) if parent in waiting)
    ordered: list[Key] = []
    ready = sorted(key for key, count in waiting.items() if count == 0)
    while ready:
        ordered.extend(ready)
        following = []
        for key in ready:
            for child in graph.children.get(key, ()):
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        following.append(child)
        ready = sorted(following)
    if len(ordered) != len(keys):
        placed = set(ordered)
        cycle = _cycle_among(graph, {key for key in keys if key not in placed})
        raise CycleError(f"dependency cycle: {_chain(cycle)}")
    return ordered


def _chain(keys: list[Key]) -> str:
    return " -> ".join(f"{app}.{name}" for app, name in keys)


def _cycle_among(graph: Graph, nodes: set[Key]) -> list[Key]:
    """One cycle through `nodes`, each of which is on or behind a cycle (walk parents until one repeats)."""
    start = min(nodes)
    path: list[Key] = []
    seen: dict[Key, int] = {}
    key = start
    while key not in seen:
        seen[key] = len(path)
        path.append(key)
        key = min(parent for parent in graph.parents[key] if parent in nodes)
    cycle = path[seen[key]:]
    first = cycle.index(min(cycle))
    cycle = cycle[first:] + cycle[:first]
    return cycle + [cycle[0]]


def _replace_squashed(graph: Graph, migrations: Mapping[Key, MigrationSource], django_version: str) -> list[GraphError]:
    """Replace what each squash replaces, as Django's loader does with no database: a squash of a squash
    after its inner squash (Django 6.0's `replace_migration`); a loop of squashes is reported, not followed."""
    replacements = {key: migration.replaces for key, migration in sorted(migrations.items()) if migration.replaces}
    errors: list[GraphError] = []
    looping = _squash_loops(replacements, errors)
    done: set[Key] = set()
    for start in replacements:
        if start in done or start in looping:
            continue
        stack = [(start, iter(replacements[start]))]
        while stack:
            key, pending = stack[-1]
            inner = next(pending, None)
            if inner is None:
                stack.pop()
                done.add(key)
                graph.remove_replaced_nodes(key, [(d.app, d.name) for d in replacements[key]])
                continue
            target = (inner.app, inner.name)
            if target in replacements and target not in done and target not in looping:
                stack.append((target, iter(replacements[target])))
    squashes = replacements.keys() - looping
    nested = [(key, reference) for key, replaced in replacements.items() if key in squashes
              for reference in replaced if (reference.app, reference.name) in squashes]
    if nested:
        version = django_version or installed_django_version()
        if not django_version:
            graph.installed_django = version
        if version and _version_tuple(version) < NESTED_SQUASHES_SINCE:
            origin = "django_version in the configuration" if django_version else "installed"
            for key, reference in nested:
                errors.append(GraphError(key, reference.line, (
                    f"replaces {reference.app}.{reference.name}, itself a squash still present: Django {version} "
                    f"({origin}) loads a squash of a squash only on some runs (NodeNotFoundError); delete "
                    f"{reference.name} once it is applied everywhere, or use Django 6.0")))
    return errors


def _squash_loops(replacements: dict[Key, tuple[Dependency, ...]], errors: list[GraphError]) -> set[Key]:
    """Squashes that replace themselves, directly or through other squashes (Django 6.0: "Cyclical squash
    replacement found"; before 6.0, "Unable to find replacement node"); one error for each loop."""
    state: dict[Key, int] = {}
    looping: set[Key] = set()
    for start in replacements:
        if start in state:
            continue
        path: list[Key] = [start]
        stack = [iter(replacements[start])]
        state[start] = 1
        while stack:
            reference = next(stack[-1], None)
            if reference is None:
                stack.pop()
                state[path.pop()] = 2
                continue
            target = (reference.app, reference.name)
            if target not in replacements:
                continue
            if state.get(target) == 1:
                loop = path[path.index(target):]
                looping.update(loop)
                if len(loop) == 1:
                    message = "replaces itself, a cyclical squash replacement that Django cannot load"
                else:
                    chain = _chain([path[-1], *loop[:-1], path[-1]])
                    message = f"is part of a cyclical squash replacement that Django cannot load: {chain}"
                errors.append(GraphError(path[-1], reference.line, message))
            elif target not in state:
                state[target] = 1
                path.append(target)
                stack.append(iter(replacements[target]))
    return looping


def installed_django_version() -> str:
    """The version of the Django installed beside migguard, read from its metadata (never imported); "" if none."""
    global _installed
    if _installed is None:
        from importlib import metadata

        from migguard import sitepath

        sitepath.ensure()  # a hook started without `site` sees Django where Python normally would

        try:
            _installed = metadata.version("django")
        except metadata.PackageNotFoundError:
            _installed = ""
    return _installed


_installed: str | None = None


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", version)
    return tuple(int(number) for number in numbers[:2])
