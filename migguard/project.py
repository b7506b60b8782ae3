"""The project view: every app's migrations, graph and lock file, from a work tree or a commit."""
from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any, NamedTuple

from migguard import cache, config as config_module, discovery, files, gitio, graph as graph_module, lockfile, monorepo, reader
from migguard.collector import paused
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
    unread: tuple[str, ...] = ()
    lock_problem: str | None = None


class Project:
    """What `check`, `fix` and the hooks look at: apps, their migrations, the graph, the problems."""

    def __init__(self, root: str, config: Config, apps: dict[str, App], migrations: dict[Key, MigrationSource],
                 graph: Graph, issues: list[Issue], scope: str = "") -> None:
        self.root = root
        self.scope = scope  # the project's folder in a monorepo (`projects` in the configuration), else ""
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
        if app.unread:
            return LockState("unchecked", (), f"cannot be checked: {', '.join(app.unread)} could not be read")
        if app.lock_problem:
            return LockState("unreadable", (), app.lock_problem)
        existing = {name for (_, name) in self.graph.app_nodes(label)} | set(app.files)
        return lockfile.state(app.lock_data, self.leaves(label), existing, enabled=bool(self.config.lockfile))

    def lock_path(self, label: str) -> str:
        return f"{self.apps[label].path}/{self.config.lockfile}".lstrip("/")


class _RevisionFiles:
    """Files of a commit: keys are blob ids, read in one batch, none larger than the bound."""

    def __init__(self, cwd: str | Path) -> None:
        self.cwd = cwd
        self.notes: dict[str, str] = {}

    def identify(self, key: str) -> str | None:
        return key

    def blob_id(self, key: str, data: bytes) -> str:
        return key

    def read(self, keys: list[str]) -> tuple[dict[str, bytes], dict[str, str]]:
        if not keys:
            return {}, {}
        failures: dict[str, str] = {}
        try:
            sizes = gitio.blob_sizes(self.cwd, keys)
        except gitio.GitError as error:
            raise gitio.GitError(f"cannot read {len(keys)} file(s) from git objects ({error}); "
                                 f"a partial clone needs its remote to fetch them") from None
        small = []
        for key in keys:
            size = sizes.get(key)
            if size is None:
                failures[key] = "is missing from the repository's objects (a partial clone?); not read"
            elif size > files.MAX_BYTES:
                failures[key] = f"is {size:,} bytes, over migguard's limit of {files.MAX_BYTES:,}; not read"
            else:
                small.append(key)
        return gitio.cat_blobs(self.cwd, small), failures

    def save(self) -> None:
        pass


class _WorktreeFiles:
    """Files on disk: keys are paths; a file unchanged since the last run is known by its blob id unread."""

    def __init__(self, root: str, common_dir: Path | None) -> None:
        self.root_real = os.path.realpath(root)
        self.prefix = len(os.path.join(root, ""))
        self.index = cache.WorktreeIndex.for_root(common_dir, root) if common_dir is not None else None
        self.now_ns = time.time_ns()
        self.notes: dict[str, str] = {}
        self.signatures: dict[str, files.Signature] = {}  # of each file known by its blob id unread

    def identify(self, key: str) -> str | None:
        if self.index is None:
            return None
        try:
            status = os.lstat(key)
        except OSError:
            return None
        if not stat.S_ISREG(status.st_mode):
            return None
        signature = files.signature(status)
        oid = self.index.known(key[self.prefix:], signature)
        if oid is not None:
            self.signatures[key] = signature
        return oid

    def blob_id(self, key: str, data: bytes) -> str:
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def read(self, keys: list[str]) -> tuple[dict[str, bytes], dict[str, str]]:
        found, failures = {}, {}
        for key in keys:
            try:
                data, status, note = files.read_bounded(key, self.root_real)
            except files.Unreadable as error:
                failures[key] = str(error)
                continue
            found[key] = data
            if note:
                self.notes[key] = note
            if self.index is not None and stat.S_ISREG(os.lstat(key).st_mode):
                self.index.record(key[self.prefix:], files.signature(status), self.blob_id(key, data), self.now_ns)
        return found, failures

    def save(self) -> None:
        if self.index is not None:
            self.index.save()


def load_worktree(root: str | Path, config: Config | None = None, full: bool = False,
                  scope: str | None = None) -> Project:
    """Read the migrations below `root` from disk (only project `scope`'s, when given).

    `full`: the migrations of each app with several leaves also carry their operations (what `fix`
    compares); everything else is read once per blob, through the parse cache."""
    root, config, packages, problems = _worktree(root, config)
    if scope is not None:
        packages = monorepo.select(packages, config.projects, scope)
    project = _load_worktree_packages(root, config, packages, problems, False, [scope or ""])[0]
    return with_operations(project) if full else project


def load_projects(root: str | Path, config: Config | None = None, full: bool = False, under: str = "") -> list[Project]:
    """One Project per project folder below `under` (one in all when `projects` is not configured)."""
    root, config, packages, problems = _worktree(root, config)
    packages = [package for package in packages if monorepo.inside(package.path, under)]
    projects = _load_worktree_packages(root, config, packages, problems, False, monorepo.scopes(config.projects, under))
    return [with_operations(project) for project in projects] if full else projects


def checked_worktree(root: str | Path, under: str = "") -> dict[str, Any]:
    """`check`'s result for the work tree below `under`: answered from the results cache when every
    file read is known by its blob id without reading it (the work-tree index, stat-checked like git's
    own) and the same contents were checked before; else checked, and cached under those blob ids."""
    from migguard import results, snapshot
    from migguard.report import check_results

    if not under and (found := snapshot.answer(str(root))) is not None:  # (the click-free `check` asked it already)
        return found
    started_ns = time.time_ns()
    listed: list[str] = []
    root, config, packages, problems = _worktree(root, None, listed)
    packages = [package for package in packages if monorepo.inside(package.path, under)]
    scopes = monorepo.scopes(config.projects, under)
    common_dir = cache.find_common_dir(root)
    if common_dir is None:
        return check_results(_load_worktree_packages(root, config, packages, problems, False, scopes))
    source = _WorktreeFiles(root, common_dir)
    key = _worktree_key(source, config, packages, problems, under)
    cached = results.load(common_dir, key, "") if key is not None else None
    if cached is not None and cached.get("version") == results.SCHEMA_VERSION:
        result = cached
    else:
        projects = _split(root, config, packages, source, False, cache.ParseCache.for_common_dir(common_dir), problems,
                          scopes, relative_to=root)
        source.save()
        result = check_results(projects)
        source.signatures.clear()
        key = _worktree_key(source, config, packages, problems, under)  # every file just read is known now
        if key is not None:
            results.store(common_dir, key, "", result)
    if key is not None and not under and not problems:  # the whole work tree, every file known by its signature
        snapshot.record(root, started_ns, listed, source.signatures, result)
    return result


def _worktree_key(source: _WorktreeFiles, config: Config, packages: list[Package], problems: list[tuple[str, str]],
                  under: str) -> str | None:
    """A digest of everything a work-tree check reads, by blob id; None when any file is not known unread
    (changed since it was last read, too recently changed to trust its stat, not a regular file...)."""
    digest = hashlib.sha1(repr(("worktree", under, config, problems)).encode("utf-8", "surrogateescape"))
    for package in packages:
        ids = []
        for key in (package.lock, package.app_config, *[package.modules[name] for name in sorted(package.modules)]):
            oid = source.identify(key) if key is not None else ""
            if oid is None:
                return None
            ids.append(oid)
        digest.update(repr((package.path, sorted(package.modules), package.notes, ids)).encode("utf-8", "surrogateescape"))
    return "worktree:" + digest.hexdigest()


def with_operations(project: Project) -> Project:
    """Read the migrations of the apps with several leaves again, in full (with their operations).

    A file whose graph attributes or problems read differently now changed while migguard read
    it: InputError, rather than operations and a graph from two different contents."""
    root_real = os.path.realpath(project.root)
    for label in sorted(project.conflicts()):
        for name, key in sorted(project.apps[label].files.items()):
            known = project.migrations.get((label, name))
            if known is None:
                continue
            try:
                data, _, _ = files.read_bounded(key, root_real)
            except files.Unreadable as error:
                raise InputError(f"{project.file_of((label, name))} {error}") from None
            source = reader.read_full(data)
            file = project.file_of((label, name))
            if source._replace(operations=None) == known._replace(operations=None):
                project.migrations[(label, name)] = source
                continue
            failed = [problem for problem in source.problems if problem.fatal and problem not in known.problems]
            if failed and source.operations is None and not source.dependencies:  # only the full read failed
                project.issues += [Issue(file, problem.line, f"{file} {problem.message}") for problem in failed]
                continue
            raise InputError(f"{file} changed while migguard was reading it; run the command again.")
    return project


def _worktree(root: str | Path, config: Config | None,
              listed: list[str] | None = None) -> tuple[str, Config, list[Package], list[tuple[str, str]]]:
    root = str(root)
    if not os.path.isdir(root):
        raise InputError(f"{root} is not a directory.")
    if config is None:
        try:
            config = config_module.load_directory(root)
        except config_module.ConfigError as error:
            raise InputError(str(error)) from None
    problems: list[tuple[str, str]] = []
    packages = discovery.in_worktree(root, config, problems, listed)
    return root, config, packages, problems


def _load_worktree_packages(root: str, config: Config, packages: list[Package], problems: list[tuple[str, str]],
                            full: bool, scopes: list[str]) -> list[Project]:
    common_dir = cache.find_common_dir(root)
    source = _WorktreeFiles(root, common_dir)
    parse_cache = cache.ParseCache.for_common_dir(common_dir) if common_dir is not None else None
    projects = _split(root, config, packages, source, full, parse_cache, problems, scopes, relative_to=root)
    source.save()
    return projects


def _split(root: str, config: Config, packages: list[Package], source: _RevisionFiles | _WorktreeFiles, full: bool,
           parse_cache: cache.ParseCache | None, problems: list[tuple[str, str]], scopes: list[str],
           relative_to: str | None = None) -> list[Project]:
    """One Project per scope; problems found while listing files go to the first."""
    projects = []
    for index, scope in enumerate(scopes):
        selected = packages if len(scopes) == 1 and not config.projects else monorepo.select(packages, config.projects, scope)
        projects.append(_assemble(root, config, selected, source, full, parse_cache, problems if index == 0 else [],
                                  relative_to=relative_to, scope=scope))
    for path in monorepo.outside(packages, config.projects):
        projects[0].issues.append(Issue(path, 1, f"{path} is in none of the `projects` of the configuration; "
                                                 f"not checked", fatal=False))
    return projects


def load_revision(cwd: str | Path, rev: str, under: str | None = None, full: bool = False,
                  inputs: RevisionInputs | None = None, scope: str | None = None) -> Project:
    """Read the migrations of commit `rev` through git objects, never the work tree or index.

    `under` limits the search to a folder of the repository (default: the folder `cwd` is in)."""
    inputs = inputs or revision_inputs(cwd, rev, under)
    packages = inputs.packages if scope is None else monorepo.select(inputs.packages, inputs.config.projects, scope)
    return _assemble(str(cwd), inputs.config, packages, _RevisionFiles(cwd), full,
                     cache.ParseCache.for_common_dir(inputs.common_dir), list(inputs.problems), scope=scope or "")


def load_revision_projects(cwd: str | Path, rev: str, under: str | None = None, full: bool = False,
                           inputs: RevisionInputs | None = None, parse_cache: cache.ParseCache | None = None) -> list[Project]:
    """`load_revision`, one Project per project folder (one in all when `projects` is not configured)."""
    inputs = inputs or revision_inputs(cwd, rev, under)
    prefix = under if under is not None else gitio.resolve_tree(cwd, rev)[1]
    return _split(str(cwd), inputs.config, inputs.packages, _RevisionFiles(cwd), full,
                  parse_cache or cache.ParseCache.for_common_dir(inputs.common_dir), list(inputs.problems),
                  monorepo.scopes(inputs.config.projects, prefix.strip("/")))


APP_CONFIG_PREFIX = "apps.py:"


def _assemble(root: str, config: Config, packages: list[Package], source: _RevisionFiles | _WorktreeFiles, full: bool,
              parse_cache: cache.ParseCache | None, problems: list[tuple[str, str]],
              relative_to: str | None = None, scope: str = "") -> Project:
    with paused():
        return _assemble_unpaused(root, config, packages, source, full, parse_cache, problems, relative_to, scope)


def _assemble_unpaused(root: str, config: Config, packages: list[Package], source: _RevisionFiles | _WorktreeFiles,
                       full: bool, parse_cache: cache.ParseCache | None, problems: list[tuple[str, str]],
                       relative_to: str | None, scope: str) -> Project:
    issues = [Issue(path, 1, f"{path} {message}") for path, message in problems]

    def shown(key: str) -> str:
        return os.path.relpath(key, relative_to).replace(os.sep, "/") if relative_to is not None else key

    module_keys = [key for package in packages for key in package.modules.values()]
    config_keys = [package.app_config for package in packages if package.app_config]
    parsed: dict[str, object] = {}
    if parse_cache is not None:
        for key in (module_keys if not full else []) + config_keys:
            oid = source.identify(key)
            if oid is not None:
                hit = parse_cache.get((APP_CONFIG_PREFIX + oid) if key in config_keys else oid)
                if hit is not None:
                    parsed[key] = hit
    wanted = [key for key in module_keys + config_keys if key not in parsed]
    wanted += [package.lock for package in packages if package.lock]
    contents, failures = source.read(wanted)
    sources: list[tuple[Package, dict[str, MigrationSource]]] = []
    for package in packages:
        modules: dict[str, MigrationSource] = {}
        for name, key in package.modules.items():
            if key in parsed:
                modules[name] = parsed[key]  # type: ignore[assignment]
            elif key in contents:
                modules[name] = _parse(contents[key], full)
                if parse_cache is not None and not full:
                    parse_cache.put(source.blob_id(key, contents[key]), modules[name])
        django = bool(modules) and not all(reader.lacks_class(module) for module in modules.values())
        if django or not modules:
            for name, key in package.modules.items():
                if key in failures or key in source.notes:
                    file = f"{package.path}/{name}.py".lstrip("/")
                    issues.append(Issue(file, 1, f"{file} {failures.get(key) or source.notes[key]}"))
            if package.lock in source.notes:
                file = f"{package.path}/{config.lockfile}".lstrip("/")
                issues.append(Issue(file, 1, f"{file} {source.notes[package.lock]}"))
            for filename, message in package.notes:
                file = f"{package.path}/{filename}".lstrip("/")
                issues.append(Issue(file, 1, f"{file} {message}"))
        if django:
            sources.append((package, modules))
    kept = {package.path for package, _ in sources}
    nested = [package for package, _ in sources if package.path.rpartition("/")[0] in kept
              and package.path.rpartition("/")[0] != package.path and not config.label_for(package.path)]
    for package in nested:
        issues.append(Issue(package.path, 1, f"{package.path} is a package inside the migrations package "
                            f"{package.path.rpartition('/')[0]}: Django ignores it, and so does migguard", fatal=False))
    sources = [(package, modules) for package, modules in sources if package not in nested]
    declared: dict[str, str] = {}
    for package, _ in sources:
        if package.app_config is None:
            continue
        key = package.app_config
        label = parsed.get(key)
        if label is None and key in contents:
            label = reader.app_config_label(contents[key]) or ""
            if parse_cache is not None:
                parse_cache.put(APP_CONFIG_PREFIX + source.blob_id(key, contents[key]), label)
        if label:
            declared[package.path] = label  # type: ignore[assignment]
    if parse_cache is not None:
        parse_cache.save()
    labels, label_issues = assign_labels(sources, config, declared)
    issues += label_issues
    apps: dict[str, App] = {}
    migrations: dict[Key, MigrationSource] = {}
    for package, modules in sources:
        label = labels.get(package.path)
        if label is None:
            continue
        lock_data = contents.get(package.lock) if package.lock else None
        unread = tuple(sorted(f"{name}.py" for name, key in package.modules.items() if key in failures))
        apps[label] = App(label, package.path, dict(package.modules), lock_data, unread,
                          failures.get(package.lock) if package.lock else None)
        for name, module in modules.items():
            file = f"{package.path}/{name}.py".lstrip("/")
            for problem in module.problems:
                issues.append(Issue(file, problem.line, f"{file} {problem.message}", problem.fatal))
            migrations[(label, name)] = module
    graph, graph_errors = graph_module.build(migrations, config.django_version, config.auth_user_model.split(".")[0])
    if config.auth_user_model and graph_errors:
        from migguard import swappable

        graph_errors = swappable.annotate(graph_errors, graph, migrations, config.auth_user_model)
    for error in graph_errors:
        file = f"{apps[error.key[0]].path}/{error.key[1]}.py".lstrip("/")
        issues.append(Issue(file, error.line, f"{file} {error.message}"))
    if not config.auth_user_model and not graph_errors:
        from migguard import swappable

        hidden = swappable.hidden_cycle(graph, migrations)
        if hidden:
            file = f"{apps[hidden[0][0]].path}/{hidden[0][1]}.py".lstrip("/")
            issues.append(Issue(file, 1, f"{file} {hidden[1]}", fatal=False))
    return Project(root, config, apps, migrations, graph, issues, scope)


def _parse(data: bytes, full: bool) -> MigrationSource:
    return reader.read_full(data) if full else reader.read_graph_fields(data)


def folder_label(path: str) -> str:
    """The label Django gives an app whose migrations live in `path` when no AppConfig says otherwise:
    its parent folder's name."""
    parts = path.rsplit("/", 2)
    return parts[-2] if len(parts) >= 2 else (path or "migrations")


def own_references(modules: dict[str, MigrationSource]) -> dict[str, set[str]]:
    """For each label X: the migrations of this package that name `(X, another file of this package)`.

    Only `dependencies` and `run_before` count: `replaces` names what a squash replaced, often in
    another app, and a migration naming its own file is no evidence at all."""
    found: dict[str, set[str]] = {}
    for name, module in modules.items():
        for dependency in (*module.dependencies, *module.run_before):
            if not dependency.swappable and dependency.name in modules and dependency.name != name:
                found.setdefault(dependency.app, set()).add(name)
    return found


def assign_labels(sources: list[tuple[Package, dict[str, MigrationSource]]], config: Config,
                  declared: dict[str, str] | None = None) -> tuple[dict[str, str], list[Issue]]:
    """Label each package as Django would: configuration, else its app's AppConfig (`declared`, read
    from apps.py), else the folder name.

    A dependency on another app never decides a label. Only the package's own references can
    correct the folder name, when at least two of its migrations name `(X, another of its files)`,
    every such reference names X, and X is no other package's label."""
    declared = declared or {}
    labels: dict[str, str] = {}
    for package, _ in sources:
        labels[package.path] = config.label_for(package.path) or declared.get(package.path) or folder_label(package.path)
    for package, modules in sources:
        path = package.path
        if config.label_for(path) or path in declared:
            continue
        references = own_references(modules)
        if len(references) != 1 or labels[path] in references:
            continue
        (label, referrers), = references.items()
        taken = any(other != path and other_label == label for other, other_label in labels.items())
        if len(referrers) >= 2 and label.isidentifier() and not taken:
            labels[path] = label
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
