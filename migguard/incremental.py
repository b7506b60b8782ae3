"""`check --rev` of a commit that only adds migrations to a clean parent: answered from the parent's cached
result and the added files alone, exactly as the full check would answer, or None (then the full check runs).

Taken only when everything is certain: the whole repository, a first parent whose cached result is clean
(one leaf per app, no error, no warning, no conflict, one project, no Django-version marker) and whose
facts (`remember`) were recorded by a full check, every change that can matter an added migration module
of an app directly in its package folder (or that app's lock file), each read in full and clean, naming
only its app's old leaf, its fellow new files, or existing migrations of other apps of the repository."""
from __future__ import annotations

from migguard import files, results
from migguard.changes import Change, may_change_findings, migration_name, staged_changes, tree_changes
from migguard.lockwrite import content
from migguard.plain_migration import plain_dependencies
from migguard.processes import run_git

TYPE_CHECKING = False  # imported by the hooks' quick paths: typing, pathlib and the reader only where needed
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from migguard.reader import MigrationSource

FACTS_VERSION = 1
REGULAR_MODES = ("100644", "100755")
SPECIAL_NAMES = ("__first__", "__latest__")
taken = 0  # how many times this process answered through this path (what the tests observe)


def facts_key(key: str) -> str:
    """Where a checked tree's (or content digest's) facts are cached, beside its result."""
    return "incremental:" + key.replace("content:", "content-")


def facts(projects: list[Any], packages: list[str]) -> dict[str, Any] | None:
    """What the incremental path needs to know of a fully checked commit that its result does not say:
    its migration package folders, configuration bits, the apps named through `__first__`/`__latest__` or
    the user-model setting, and the migrations named anywhere that do not exist. None for a monorepo."""
    if len(projects) != 1 or projects[0].config.projects:
        return None
    project = projects[0]
    config = project.config
    migrations: dict[tuple[str, str], MigrationSource] = project.migrations
    auth_app = config.auth_user_model.split(".")[0] if config.auth_user_model else ""
    pinned: set[str] = set()
    absent: set[tuple[str, str]] = set()
    unresolved = False
    for migration in migrations.values():
        for group in (migration.dependencies, migration.run_before, migration.replaces):
            for dependency in group:
                app, name = dependency.app, dependency.name
                if dependency.swappable or dependency.setting or not app:
                    if auth_app:
                        pinned.add(auth_app)
                    else:
                        unresolved = True
                elif name in SPECIAL_NAMES:
                    pinned.add(app)
                elif (app, name) not in migrations:
                    absent.add((app, name))
    return {"version": FACTS_VERSION, "packages": sorted(packages), "lockfile": config.lockfile,
            "app_paths": [path.strip("/") for _, path in config.apps], "pinned": sorted(pinned),
            "absent": sorted(f"{app}\0{name}" for app, name in absent), "unresolved": unresolved}


def remember(common: Path, keys: list[str], found: dict[str, Any] | None) -> None:
    for key in keys:
        if found is not None and results.load(common, facts_key(key), "") != found:
            results.store(common, facts_key(key), "", found)


def recalled(common: Path, key: str) -> dict[str, Any] | None:
    """The facts recorded with the result cached under `key`, if any."""
    return results.load(common, facts_key(key), "")


def _clean(result: dict[str, Any] | None) -> bool:
    return (result is not None and result.get("version") == results.SCHEMA_VERSION and result.get("ok") is True
            and result.get("errors") == [] and result.get("warnings") == [] and result.get("conflicts") == []
            and "projects" not in result and "django" not in result and isinstance(result.get("apps"), list)
            and all(isinstance(app, dict) and isinstance(app.get("leaves"), list) and len(app["leaves"]) == 1
                    and app.get("project") == "" for app in result["apps"]))


def _usable_facts(found: dict[str, Any] | None) -> bool:
    return (found is not None and found.get("version") == FACTS_VERSION and found.get("unresolved") is False
            and isinstance(found.get("packages"), list) and isinstance(found.get("lockfile"), str)
            and isinstance(found.get("app_paths"), list) and isinstance(found.get("pinned"), list)
            and isinstance(found.get("absent"), list))


def check(cwd: str | Path, common: Path, tree: str, rev: str) -> dict[str, Any] | None:
    """The result of `check --rev REV` for the whole repository when it certainly follows from the first
    parent's cached result; None when unsure (the full check answers then)."""
    try:
        return _check(cwd, common, tree, rev)
    except (OSError, ValueError, KeyError, TypeError):
        return None


ANCESTORS = 16  # first-parent ancestors looked at for a checked tree


def _check(cwd: str | Path, common: Path, tree: str, rev: str) -> dict[str, Any] | None:
    base = checked_ancestor(cwd, common, f"{rev}^1", len(tree))
    return None if base is None else from_parent(cwd, common, base, tree)


def checked_ancestor(cwd: str | Path, common: Path | str, rev: str, length: int) -> str | None:
    """The tree of the nearest of `rev` and its first-parent ancestors whose result is cached (what lies between
    only changes the comparison of the two trees, which decides); None when none of the nearest is."""
    trees = first_parent_trees(cwd, rev, ANCESTORS)
    return None if trees is None else cached_tree(common, trees, length)


def first_parent_trees(cwd: str | Path, rev: str, count: int) -> list[str] | None:
    """The trees of `rev` and its first-parent ancestors, nearest first, at most `count`; None when git fails."""
    status, out, _ = run_git(["log", "--first-parent", "--format=%T", f"-n{count}", "--end-of-options", rev, "--"], cwd)
    return out.decode("utf-8", "surrogateescape").split() if status == 0 else None


def cached_tree(common: Path | str, trees: list[str], length: int) -> str | None:
    """The first of `trees` whose result is cached."""
    for tree in trees:
        if len(tree) == length and results.load(common, tree, "") is not None:
            return tree
    return None


def from_parent(cwd: str | Path, common: Path | str, parent_tree: str, tree: str,
                changes: list[Change] | None = None) -> dict[str, Any] | None:
    """The whole repository's result for `tree` when it certainly follows from `parent_tree`'s cached one
    (stored by tree); None when unsure. `changes`: from `parent_tree` to `tree`, when the caller has them."""
    global taken
    delta = _safe_delta(cwd, common, parent_tree, tree, changes, locks_in_step=True)
    if delta is None:
        return None
    before, found, new_leaves = delta
    results.store(common, facts_key(tree), "", found)
    results.touch(common, parent_tree, "")  # the parent stays among the newest cached results while in use
    results.touch(common, facts_key(parent_tree), "")
    taken += 1
    return _followed(before, new_leaves)


def _followed(before: dict[str, Any], new_leaves: dict[str, str]) -> dict[str, Any]:
    """The parent's result with each changed app's new leaf."""
    after = dict(before)
    after["apps"] = [dict(app, leaves=[new_leaves[app["app"]]]) if app["app"] in new_leaves else app
                     for app in before["apps"]]
    return after


def stale_locks(cwd: str | Path, common: Path | str, parent_tree: str, changes: list[Change] | None = None,
                blobs: dict[str, bytes] | None = None) -> tuple[dict[str, tuple[str, str]], dict[str, Any], dict[str, Any]] | None:
    """For an index that only adds migrations to a clean, cached parent (lock files untouched): each changed
    app's lock file path and its one new leaf, and the result and facts of the index once they are written.
    None when unsure (the full check decides then). `changes`: from `parent_tree` to the index, when the
    caller has them; `blobs`: the added files' bytes by id, when the caller has read them."""
    delta = _safe_delta(cwd, common, parent_tree, None, changes, locks_in_step=False, blobs=blobs)
    if delta is None:
        return None
    before, found, new_leaves = delta
    paths = {app["app"]: app["path"] for app in before["apps"]}
    lock_name: str = found["lockfile"]
    locks = {label: (f"{paths[label]}/{lock_name}".lstrip("/"), leaf) for label, leaf in new_leaves.items()} \
        if lock_name else {}
    return locks, _followed(before, new_leaves), found


def _safe_delta(cwd: str | Path, common: Path | str, parent_tree: str, tree: str | None, changes: list[Change] | None,
                locks_in_step: bool, blobs: dict[str, bytes] | None = None,
                ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]] | None:
    try:
        return _delta(cwd, common, parent_tree, tree, changes, locks_in_step, blobs or {})
    except (OSError, ValueError, KeyError, TypeError):  # unsure: the full check answers
        return None


def _delta(cwd: str | Path, common: Path | str, parent_tree: str, tree: str | None, changes: list[Change] | None,
           locks_in_step: bool, known: dict[str, bytes]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]] | None:
    """The parent's result and facts, and each changed app's one new leaf, when `tree` (None: the index) only
    adds migrations to the clean parent (with `locks_in_step`: each changed app's lock file naming its new
    leaf; without: no lock file changed)."""
    before = results.load(common, parent_tree, "")
    found = results.load(common, facts_key(parent_tree), "")
    if before is None or not _clean(before) or found is None or not _usable_facts(found):
        return None
    if changes is None:
        changes = staged_changes(cwd, parent_tree) if tree is None else tree_changes(cwd, parent_tree, tree)
    if changes is None:
        return None
    lock_name: str = found["lockfile"]
    apps = {app["path"]: app for app in before["apps"]}
    if len(apps) != len(before["apps"]) or any(not isinstance(path, str) or not path for path in apps):
        return None
    added: dict[str, dict[str, str]] = {}  # app label -> {migration name: blob id}
    locks: dict[str, str] = {}  # app label -> lock file blob id
    for old_mode, new_mode, oid, status, path in changes:
        if not may_change_findings(old_mode, new_mode, path, found["packages"], lock_name, found["app_paths"]):
            continue
        directory, _, name = path.rpartition("/")
        app = apps.get(directory)
        if app is None or new_mode not in REGULAR_MODES:
            return None
        if lock_name and name == lock_name and status in ("A", "M"):
            locks[app["app"]] = oid
            continue
        migration = migration_name(name)
        if status != "A" or old_mode != "000000" or migration is None or name == lock_name:
            return None
        added.setdefault(app["app"], {})[migration] = oid
    if not locks_in_step and locks:
        return None
    if locks_in_step and (set(locks) - set(added) or (lock_name and set(added) - set(locks))):
        return None
    pinned = set(found["pinned"])
    if pinned & set(added):
        return None
    absent = set(found["absent"])
    if any(f"{label}\0{name}" in absent for label, names in added.items() for name in names):
        return None
    by_label = {app["app"]: app for app in before["apps"]}
    wanted = [oid for names in added.values() for oid in names.values()] + list(locks.values())
    missing = [oid for oid in wanted if oid not in known]
    read: dict[str, bytes] | None = {}
    if missing:  # the hooks pass what they have read: `blobs` is imported only when git must read more
        from migguard.blobs import read_small

        read = read_small(cwd, missing, files.MAX_BYTES, str(common))
    if read is None or any(len(known[oid]) > files.MAX_BYTES for oid in wanted if oid in known):
        return None
    blobs = {**known, **read}
    elsewhere: set[tuple[str, str]] = set()  # (app, name) of other apps the new files depend on
    shadowed: set[tuple[str, str]] = set()  # (app, name): must not be a file of the depending app's own package
    new_leaves: dict[str, str] = {}
    for label, names in added.items():
        parents: dict[str, set[str]] = {}
        old_leaf = by_label[label]["leaves"][0]
        for name, oid in names.items():
            pairs = _plain_pairs(blobs[oid])
            if pairs is None:
                return None
            own: set[str] = set()
            for app, dependency in pairs:
                if not app or dependency in SPECIAL_NAMES or migration_name(dependency + ".py") is None:
                    return None
                if app == label:
                    if dependency != old_leaf and dependency not in names or dependency == name:
                        return None
                    own.add(dependency)
                else:
                    other = by_label.get(app)
                    if other is None or app in added and dependency in added[app]:
                        return None
                    if dependency in names:  # a label found from the package's own references could change
                        return None
                    elsewhere.add((app, dependency))
                    shadowed.add((label, dependency))
            if not own:
                return None  # a new first migration of the app would change its `__first__`
            parents[name] = own
        leaf = _one_leaf(old_leaf, parents)
        if leaf is None:
            return None
        new_leaves[label] = leaf
        if locks_in_step and lock_name and blobs[locks[label]] != content(leaf).encode():
            return None
        if by_label[label].get("lock") != ("ok" if lock_name else "off"):
            return None
    if elsewhere and not _all_exist(cwd, tree, elsewhere, shadowed, by_label):
        return None
    return before, found, new_leaves


def _plain_pairs(data: bytes) -> list[tuple[str, str]] | None:
    """The `(app, name)` dependencies of a migration file read in full with no problem, no `replaces` or
    `run_before` and only literal pairs; None otherwise. The plain shape is read without `reader`'s imports."""
    pairs = plain_dependencies(data)
    if pairs is not None:
        return pairs
    from migguard import reader

    source = reader.read_graph_fields(data)
    if source.problems or reader.lacks_class(source) or source.replaces or source.run_before \
            or any(dependency.swappable or dependency.setting for dependency in source.dependencies):
        return None
    return [(dependency.app, dependency.name) for dependency in source.dependencies]


def _one_leaf(old_leaf: str, parents: dict[str, set[str]]) -> str | None:
    """The app's one leaf once these new migrations (each with its parents in the app) are added; None when
    it has several or the new ones form a cycle."""
    state: dict[str, int] = {}

    def acyclic(name: str) -> bool:
        stack = [(name, iter(sorted(parents.get(name, ()))))]
        state[name] = 1
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif step in parents:
                if state.get(step) == 1:
                    return False
                if step not in state:
                    state[step] = 1
                    stack.append((step, iter(sorted(parents[step]))))
        return True

    if not all(name in state or acyclic(name) for name in sorted(parents)):
        return None
    named = {parent for names in parents.values() for parent in names}
    leaves = [name for name in parents if name not in named] + ([] if old_leaf in named else [old_leaf])
    return leaves[0] if len(leaves) == 1 else None


def _all_exist(cwd: str | Path, tree: str | None, keys: set[tuple[str, str]], shadowed: set[tuple[str, str]],
               by_label: dict[str, dict[str, Any]]) -> bool:
    """Whether each of `keys` is a regular migration module file of that app's package in `tree` (None: the
    index), and none of `shadowed` is there at all (a dependency on another app naming a file of its own
    package could change the label Django's folder name gives way to)."""
    paths = {f"{by_label[app]['path']}/{name}.py" for app, name in keys}
    unwanted = {f"{by_label[app]['path']}/{name}.py" for app, name in shadowed}
    wanted = sorted(paths | unwanted)
    if tree is None:  # "mode oid stage\tpath"; only stage 0 is a file the commit would hold
        command = ["ls-files", "-s", "-z", "--full-name", "--", *(f":(top,literal){path}" for path in wanted)]
    else:  # "mode type oid\tpath"
        command = ["ls-tree", "-z", "--full-tree", tree, "--", *wanted]
    status, out, _ = run_git(command, cwd)
    if status != 0:
        return False
    listed = set()
    for record in out.decode("utf-8", "surrogateescape").split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            if path in unwanted:
                return False
            fields = meta.split(" ")
            regular = fields[2] == "0" if tree is None else fields[1] == "blob"
            if fields[0] in REGULAR_MODES and regular:
                listed.add(path)
    return paths <= listed
