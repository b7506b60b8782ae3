"""The project view: every app's migrations, graph and lock file, from a work tree or a commit."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

from migguard import cache, config as config_module, discovery, gitio, graph as graph_module, lockfile, reader
from migguard.config import Config
from migguard.errors import InputError
from migguard.discovery import Package
from migguard.graph import Graph, Key
from migguard.revision import RevisionInputs, revision_inputs
from migguard.lockfile import LockState
from migguard.reader import MigrationSource


class Issue(NamedTuple):
    path: str
    line: int
    message: str
    fatal: bool = True


class App(NamedTuple):
    label: str
    path: str
    files: dict[str, str]
    lock_data: bytes | None


class Project:
    """What `check`, `fix` and the hooks look at: apps, their migrations, the graph, the problems."""

    def __init__(self, root: str, config: Config, apps: dict[str, App], migrations: dict[Key, MigrationSource],
                 graph: Graph, issues: list[Issue]) -> None:
        self.root = root
        self.config = config
        self.apps = apps
        self.migrations = migrations
        self.graph = graph
        self.issues = issues

    def file_of(self, key: Key) -> str:
        app = self.apps[key[0]]
        return f"{app.path}/{key[1]}.py".lstrip("/")

    def leaves(self, label: str) -> list[str]:
        return [name for _, name in self.graph.leaf_nodes(label)]

    def conflicts(self) -> dict[str, list[str]]:
        return graph_module.conflicts(self.graph, sorted(self.apps))

    def lock_state(self, label: str) -> LockState:
        app = self.apps[label]
        existing = {name for (_, name) in self.graph.app_nodes(label)} | set(app.files)
        return lockfile.state(app.lock_data, self.leaves(label), existing, enabled=bool(self.config.lockfile))

    def lock_path(self, label: str) -> str:
        return f"{self.apps[label].path}/{self.config.lockfile}".lstrip("/")


Reader = Callable[[list[str]], dict[str, bytes]]


def load_worktree(root: str | Path, config: Config | None = None, full: bool = False) -> Project:
    """Read the migrations below `root` from disk."""
    root = str(root)
    if not os.path.isdir(root):
        raise InputError(f"{root} is not a directory.")
    if config is None:
        try:
            config = config_module.load_directory(root)
        except config_module.ConfigError as error:
            raise InputError(str(error)) from None
    packages = discovery.in_worktree(root, config)

    def read(keys: list[str]) -> dict[str, bytes]:
        found = {}
        for key in keys:
            try:
                found[key] = _read_bytes(key)
            except OSError:
                continue
        return found

    return _assemble(root, config, packages, read, full=full)


def load_revision(cwd: str | Path, rev: str, under: str | None = None, full: bool = False,
                  inputs: RevisionInputs | None = None, parse_cache: cache.ParseCache | None = None) -> Project:
    """Read the migrations of commit `rev` through git objects, never the work tree or index.

    `under` limits the search to a folder of the repository (default: the folder `cwd` is in)."""
    inputs = inputs or revision_inputs(cwd, rev, under)
    return _assemble(str(cwd), inputs.config, inputs.packages, lambda oids: gitio.cat_blobs(cwd, oids), full=full,
                     parse_cache=parse_cache or cache.ParseCache.for_common_dir(inputs.common_dir))


def _read_bytes(path: str) -> bytes:
    """A whole file with plain system calls (thousands of small files: no buffered file objects)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(descriptor).st_size
        data = os.read(descriptor, size)
        while len(data) < size and (chunk := os.read(descriptor, size - len(data))):
            data += chunk
        return data
    finally:
        os.close(descriptor)


def _assemble(root: str, config: Config, packages: list[Package], read: Reader, full: bool,
              parse_cache: cache.ParseCache | None = None) -> Project:
    keys = [key for package in packages for key in package.modules.values()]
    keys += [package.lock for package in packages if package.lock]
    parsed: dict[str, MigrationSource] = {}
    if parse_cache is not None and not full:
        parsed = parse_cache.get_many(keys)
    contents = read([key for key in keys if key not in parsed])
    issues: list[Issue] = []
    sources: list[tuple[Package, dict[str, MigrationSource]]] = []
    for package in packages:
        modules = {}
        for name, key in package.modules.items():
            if key in parsed:
                modules[name] = parsed[key]
                continue
            data = contents.get(key)
            if data is None:
                continue
            modules[name] = _parse(data, full)
            if parse_cache is not None and not full:
                parse_cache.put(key, modules[name])
        if all(_lacks_class(source) for source in modules.values()):
            continue
        sources.append((package, modules))
    if parse_cache is not None:
        parse_cache.save()
    labels, label_issues = assign_labels(sources, config)
    issues += label_issues
    apps: dict[str, App] = {}
    migrations: dict[Key, MigrationSource] = {}
    for package, modules in sources:
        label = labels.get(package.path)
        if label is None:
            continue
        lock_data = contents.get(package.lock) if package.lock else None
        apps[label] = App(label, package.path, dict(package.modules), lock_data)
        for name, source in modules.items():
            file = f"{package.path}/{name}.py".lstrip("/")
            for problem in source.problems:
                issues.append(Issue(file, problem.line, f"{file} {problem.message}", problem.fatal))
            migrations[(label, name)] = source
    graph, graph_errors = graph_module.build(migrations)
    for error in graph_errors:
        file = f"{apps[error.key[0]].path}/{error.key[1]}.py".lstrip("/")
        issues.append(Issue(file, error.line, f"{file} {error.message}"))
    return Project(root, config, apps, migrations, graph, issues)


def _parse(data: bytes, full: bool) -> MigrationSource:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return reader.MigrationSource((), (), (), None, None, (reader.Problem(1, "is not UTF-8 text"),))
    return reader.read_full(text) if full else reader.read_graph_fields(text)


def _lacks_class(source: MigrationSource) -> bool:
    return any("class Migration" in problem.message for problem in source.problems)


def folder_label(path: str) -> str:
    """The label Django would give an app whose migrations live in `path`: its parent folder's name."""
    parts = path.rsplit("/", 2)
    return parts[-2] if len(parts) >= 2 else (path or "migrations")


def assign_labels(sources: list[tuple[Package, dict[str, MigrationSource]]], config: Config) -> tuple[dict[str, str], list[Issue]]:
    """Label each package: configuration, then the label its migrations use for their own names, then the folder.

    A reference `(X, name)` is evidence that X is the label of a package holding `name`, unless
    another package's folder is called X (`0001_initial` is everywhere)."""
    names_of = {package.path: set(modules) for package, modules in sources}
    folders: dict[str, list[str]] = {}
    for path in names_of:
        folders.setdefault(folder_label(path), []).append(path)
    holders: dict[str, list[str]] = {}
    for path, names in names_of.items():
        for name in names:
            holders.setdefault(name, []).append(path)
    votes: dict[str, Counter[str]] = {path: Counter() for path in names_of}
    for package, modules in sources:
        for source in modules.values():
            for dependency in (*source.dependencies, *source.replaces, *source.run_before):
                if dependency.swappable:
                    continue
                named = folders.get(dependency.app)
                candidates = [p for p in named if dependency.name in names_of[p]] if named else holders.get(dependency.name, ())
                for path in candidates:
                    votes[path][dependency.app] += 2 if path == package.path else 1
    labels: dict[str, str] = {}
    for package, _ in sources:
        configured = config.label_for(package.path)
        if configured:
            labels[package.path] = configured
    claims = sorted(
        ((count, path, label) for path, counter in votes.items() if path not in labels for label, count in counter.items()),
        key=lambda claim: (-claim[0], claim[1], claim[2]),
    )
    for _, path, label in claims:
        if path not in labels and label not in labels.values():
            labels[path] = label
    for path in names_of:
        labels.setdefault(path, folder_label(path))
    issues = []
    by_label: dict[str, list[str]] = {}
    for path, label in sorted(labels.items()):
        by_label.setdefault(label, []).append(path)
    for label, paths in by_label.items():
        for path in paths[1:]:
            del labels[path]
            issues.append(Issue(path, 1, f"{path} and {paths[0]} both hold migrations of app {label!r}; "
                                f"set one app's path under `apps` in [tool.migguard]"))
    return labels, issues
