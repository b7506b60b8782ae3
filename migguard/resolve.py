"""Resolve an app with several leaves: plan (plain values), write, verify, or restore everything."""
from __future__ import annotations

import difflib
import os
import time
from typing import NamedTuple

from migguard import gitio, lockfile, rewrite, safewrite
from migguard.graph import Key, topological
from migguard.project import Project, load_worktree


class Change(NamedTuple):
    """One file as it will be: `old_path` is set when the file moves, `before` is None when it is new."""

    path: str
    after: str
    before: str | None = None
    old_path: str | None = None


class Plan(NamedTuple):
    app: str
    strategy: str
    changes: list[Change]
    renames: list[tuple[str, str]]
    summary: str
    move: Move | None = None
    not_renumbered: str = ""


LOCK_WAIT = 30.0


class Refusal(Exception):
    """This app cannot be resolved this way; the message says why in one sentence."""


def _read(project: Project, path: str) -> str:
    """A file's text; undecodable bytes kept as surrogates so writing it back is byte for byte."""
    data = safewrite.read(os.path.join(project.root, path))
    if data is None:
        raise Refusal(f"{path} is gone")
    return data.decode("utf-8", "surrogateescape")


def _writable(project: Project, path: str) -> None:
    """Refuse, naming the path, a file migguard would write through a symlink leaving the work tree."""
    try:
        safewrite.target(project.root, path)
    except safewrite.UnsafePath as error:
        raise Refusal(str(error).rstrip(".")) from None


def _lock_change(project: Project, label: str, leaf: str) -> list[Change]:
    if not project.config.lockfile:
        return []
    path = project.lock_path(label)
    _writable(project, path)
    full = os.path.join(project.root, path)
    try:
        data = safewrite.read(full)
    except OSError as error:
        raise Refusal(f"{path} cannot be read ({_reason(error)})") from None
    before = None if data is None else data.decode("utf-8", "surrogateescape")
    if before is None and os.path.lexists(full):
        raise Refusal(f"{path} is a dangling symlink; remove it or point it at a file")
    after = lockfile.content(leaf)
    return [] if before == after else [Change(path, after, before)]


def plan_merge(project: Project, label: str) -> Plan:
    """A new `NNNN_merge_...` migration depending on every leaf of the app; nothing is renamed."""
    leaves = project.leaves(label)
    if len(leaves) < 2:
        raise Refusal(f"app {label!r} has one leaf; nothing to merge")
    name = rewrite.merge_name(leaves)
    path = f"{project.apps[label].path}/{name}.py".lstrip("/")
    if os.path.lexists(os.path.join(project.root, path)):
        raise Refusal(f"{path} exists already; migguard never overwrites a migration")
    _writable(project, path)
    changes = [Change(path, rewrite.merge_migration(label, leaves))]
    changes += _lock_change(project, label, name)
    return Plan(label, "merge", changes, [], f"{label}: wrote {path} (merges {', '.join(leaves)})")


def moving_migrations(project: Project, label: str, upstream_leaf: str,
                      upstream_names: set[str] | frozenset[str] = frozenset()) -> list[Key]:
    """The branch's migrations of the app, in graph order: every one that upstream's leaf does not
    stand on and that upstream's commit does not hold (`upstream_names`), whatever the work tree says."""
    graph = project.graph
    upstream = (label, upstream_leaf)
    if upstream not in graph.nodes:
        raise Refusal(f"upstream's leaf {label}.{upstream_leaf} is not in this work tree")
    behind = graph.ancestors(upstream, label) | {upstream} | {(label, name) for name in upstream_names}
    return topological(graph, set(graph.app_nodes(label)) - behind)


class Move(NamedTuple):
    """One app's renumbering as plain values: what it renames and which migrations get a new parent."""

    app: str
    package: str
    renames: dict[Key, str]
    roots: list[Key]
    outside_parents: frozenset[str]
    upstream_leaf: str
    new_leaf: str


class Renumbering:
    """Every app's move at once: one rewrite of each file with every rename and new parent applied."""

    def __init__(self, moves: list[Move]) -> None:
        self.moves = moves
        self.renames: dict[Key, str] = {key: new for move in moves for key, new in move.renames.items()}
        self.repoints = {key: (move.app, set(move.outside_parents), move.upstream_leaf) for move in moves for key in move.roots}
        self.packages = {move.app: move.package for move in moves}
        self.old_names = sorted({name for _, name in self.renames})

    def touches(self, key: Key, text: str) -> bool:
        return key in self.renames or key in self.repoints or any(name in text for name in self.old_names)

    def new_name(self, key: Key) -> str:
        return self.renames.get(key, key[1])

    def rewrite(self, key: Key, text: str) -> str:
        """`text` of migration `key` with every reference to a renamed migration followed (raises RewriteError)."""
        if not self.touches(key, text):
            return text
        return rewrite.rewrite_references(text, self.renames, self.repoints.get(key))


def plan_renumber(project: Project, label: str, upstream_leaf: str, published: set[str] | frozenset[str] = frozenset(),
                  upstream_names: set[str] | frozenset[str] = frozenset()) -> Plan:
    """Move the branch's chain after `upstream_leaf`: renamed, re-pointed, every reference followed.

    Migrations in `upstream_names` (every one upstream's commit holds) are never renamed."""
    move = renumber_move(project, label, upstream_leaf, published, upstream_names)
    moved = ", ".join(f"{old[1]} -> {new}" for old, new in move.renames.items())
    plan = Plan(label, "renumber", [], [(old[1], new) for old, new in move.renames.items()],
                f"{label}: renumbered after {upstream_leaf}: {moved}", move)
    return compose(project, [plan])[0]


def renumber_move(project: Project, label: str, upstream_leaf: str, published: set[str] | frozenset[str] = frozenset(),
                  upstream_names: set[str] | frozenset[str] = frozenset()) -> Move:
    """Which of the app's migrations move where, or a Refusal saying why they cannot."""
    graph = project.graph
    moving = moving_migrations(project, label, upstream_leaf, upstream_names)
    if not moving:
        raise Refusal(f"app {label!r} has no migrations of its own after {upstream_leaf}")
    moving_set = set(moving)
    branch_leaves = [key for key in moving if all(c not in moving_set for c in graph.children[key] if c[0] == label)]
    if len(branch_leaves) > 1:
        raise Refusal(f"the branch itself has {len(branch_leaves)} leaves in {label!r} "
                      f"({', '.join(k[1] for k in branch_leaves)}); a merge migration joins them")
    on_remote = sorted(key[1] for key in moving if key[1] in published)
    if on_remote:
        raise Refusal(f"{', '.join(on_remote)} {'is' if len(on_remote) == 1 else 'are'} already on a remote "
                      f"branch, so renaming could break a deployed database")
    start = rewrite.parse_number(upstream_leaf)
    if start is None:
        numbers = [rewrite.parse_number(name) for _, name in graph.app_nodes(label) if (label, name) not in moving_set]
        start = max([n for n in numbers if n is not None], default=0)
    digits = len(upstream_leaf) - len(upstream_leaf.lstrip("0123456789"))
    width = digits or next((len(k[1]) - len(k[1].lstrip("0123456789")) for k in moving if k[1][:1].isdigit()), 4)
    renames = {key: rewrite.renumbered(key[1], start + index, width) for index, key in enumerate(moving, 1)}
    renames = {key: new for key, new in renames.items() if new != key[1]}
    package = project.apps[label].path
    existing = set(project.apps[label].files)
    leaving = {key[1] for key in renames}
    for new in renames.values():
        new_path = f"{package}/{new}.py".lstrip("/")
        if new not in leaving and (new in existing or os.path.lexists(os.path.join(project.root, new_path))):
            raise Refusal(f"{new_path} exists already; migguard never overwrites a migration")
    roots = [key for key in moving if not any(p in moving_set for p in graph.parents[key] if p[0] == label)]
    outside = frozenset(name for key in roots for (app, name) in graph.parents[key]
                        if app == label and (app, name) not in moving_set)
    new_leaf = renames.get(branch_leaves[0], branch_leaves[0][1])
    return Move(label, package, renames, roots, outside, upstream_leaf, new_leaf)


def _renumber_source(project: Project, path: str, key: Key, renumbering: Renumbering) -> str | None:
    """The text of a file the renumbering may change, None when it does not touch it; a Refusal naming
    the file when it must change and cannot be read, is not UTF-8, or is a symlinked migration to rename."""
    relevant = key in renumbering.renames or key in renumbering.repoints
    try:
        data = safewrite.read(os.path.join(project.root, path))
    except OSError as error:
        raise Refusal(f"{path} cannot be read ({_reason(error)}), so migguard cannot follow the renames into it") from None
    if data is None:
        return None
    if not relevant and not any(name.encode() in data for name in renumbering.old_names):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(f"{path} is not UTF-8 text, so migguard cannot follow the renames into it") from None
    if key in renumbering.renames and os.path.islink(os.path.join(project.root, path)):
        raise Refusal(f"{path} is a symlink; migguard does not rename a symlinked migration")
    return text


def _refuse_unread_migrations(project: Project, renumbering: Renumbering) -> None:
    """Refuse when a migration the project could not read (a symlink leaving the work tree, an unreadable
    file, one of an app that was left out) may name a renamed migration: it could not be followed."""
    from migguard import files

    scanned = {project.file_of((label, name)) for label, app in project.apps.items() for name in app.files}
    root_real = os.path.realpath(project.root)
    for issue in project.issues:
        if not issue.fatal or not issue.path.endswith(".py") or issue.path in scanned:
            continue
        try:
            data, _, _ = files.read_bounded(os.path.join(project.root, issue.path), root_real)
        except files.Unreadable as error:
            raise Refusal(f"{issue.path} {error}, so migguard cannot follow the renames into it") from None
        if any(name.encode() in data for name in renumbering.old_names):
            raise Refusal(f"{issue.path} names a migration that would be renamed, but migguard cannot read it "
                          f"as a migration, so it cannot follow the rename into it")


def compose(project: Project, plans: list[Plan]) -> list[Plan]:
    """The renumber plans' file changes computed together: each file rewritten once with every app's
    renames applied (a branch migration of one app may depend on the branch migration of another).

    A file is listed in the plan of the app that holds it, else in the first plan whose renames it follows."""
    moves = [plan.move for plan in plans if plan.move is not None]
    if not moves:
        return plans
    renumbering = Renumbering(moves)
    _refuse_unread_migrations(project, renumbering)
    owned: dict[str, list[Change]] = {move.app: [] for move in moves}
    for app_label, app in sorted(project.apps.items()):
        for name in sorted(app.files):
            key = (app_label, name)
            path = project.file_of(key)
            text = _renumber_source(project, path, key, renumbering)
            if text is None:
                continue
            try:
                after = renumbering.rewrite(key, text)
            except rewrite.RewriteError as error:
                raise Refusal(f"{path} {error}") from None
            new_name = renumbering.new_name(key)
            if new_name != name:
                new_path = f"{app.path}/{new_name}.py".lstrip("/")
                _writable(project, new_path)
                change = Change(new_path, after, text, path)
            elif after != text:
                _writable(project, path)
                change = Change(path, after, text)
            else:
                continue
            holder = app_label if app_label in owned else next(
                (move.app for move in moves if any(old in text for (_, old) in move.renames)), moves[0].app)
            owned[holder].append(change)
    composed = []
    for plan in plans:
        if plan.move is None:
            composed.append(plan)
            continue
        changes = owned[plan.app] + _lock_change(project, plan.app, plan.move.new_leaf)
        composed.append(plan._replace(changes=changes))
    return composed


def check_plans(project: Project, plans: list[Plan]) -> str | None:
    """What `apply` would find, worked out in memory: None when every planned app ends with one leaf
    and no new problem appears; else why not. `fix --dry-run` answers with it."""
    from migguard import graph as graph_module, reader

    labels = {app.path: label for label, app in project.apps.items()}
    migrations = dict(project.migrations)
    for plan in plans:
        for change in plan.changes:
            for path in (change.old_path, change.path):
                if path and path.endswith(".py"):
                    folder, _, file = path.rpartition("/")
                    if folder in labels:
                        migrations.pop((labels[folder], file[:-3]), None)
        for change in plan.changes:
            folder, _, file = change.path.rpartition("/")
            if change.path.endswith(".py") and folder in labels:
                source = reader.read_full(change.after)
                fatal = [problem for problem in source.problems if problem.fatal]
                if fatal:
                    return f"the result would not load: {change.path} {fatal[0].message}"
                migrations[(labels[folder], file[:-3])] = source
    user_app = project.config.auth_user_model.split(".")[0]
    _, before_errors = graph_module.build(project.migrations, project.config.django_version, user_app)
    graph, errors = graph_module.build(migrations, project.config.django_version, user_app)
    known = {(error.key, error.message) for error in before_errors}
    new = [error for error in errors if (error.key, error.message) not in known]
    if new:
        error = new[0]
        return f"the result would not load: {project.file_of(error.key)} {error.message}"
    for plan in plans:
        leaves = [name for _, name in graph.leaf_nodes(plan.app)]
        if len(leaves) != 1:
            return f"app {plan.app!r} would still have {len(leaves)} leaves ({', '.join(leaves)})"
    return None


def diff(plans: list[Plan]) -> str:
    """The unified diff the plans would apply."""
    chunks = []
    for plan in plans:
        for change in plan.changes:
            before = (change.before or "").splitlines(keepends=True)
            old = change.old_path or change.path
            header = [f"rename from {old}\nrename to {change.path}\n"] if change.old_path else []
            body = difflib.unified_diff(before, change.after.splitlines(keepends=True),
                                        "/dev/null" if change.before is None else f"a/{old}", f"b/{change.path}")
            chunks.append("".join(header) + "".join(body))
    return "".join(chunks).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Applied(NamedTuple):
    ok: bool
    message: str
    paths: list[str]
    unrestored: list[str] = []


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def apply(project: Project, plans: list[Plan], stage: bool = True) -> Applied:
    """Write the plans, read the graph again, stage; keep the result only if every step worked.

    Order: new files first (created exclusively, never over anything), then the edited files
    (each replaced atomically), every write read back; only then are the old paths of renamed
    migrations removed, the graph verified and the paths staged. On any failure every file is
    put back byte for byte and nothing is staged; what cannot be put back is named."""
    root = project.root
    changes = [change for plan in plans for change in plan.changes]
    in_git = _in_git(root)
    problem = _precondition(root, changes, stage and in_git)
    if problem:
        return Applied(False, problem, [])
    try:
        lock = _lock(root) if in_git else None
    except OSError as error:
        return Applied(False, f"could not take migguard's lock in git's directory ({_reason(error)}); "
                              f"nothing was changed", [])
    try:
        problem = _precondition(root, changes, False)
        if problem:
            return Applied(False, problem, [])
        return _apply_locked(project, plans, changes, stage and in_git)
    finally:
        if lock is not None:
            os.close(lock)


def _apply_locked(project: Project, plans: list[Plan], changes: list[Change], stage: bool) -> Applied:
    root = project.root
    backup: dict[str, bytes | None] = {}
    for change in changes:
        for path in (change.path, change.old_path):
            if path is not None and path not in backup:
                backup[path] = safewrite.read(os.path.join(root, path))
    touched = list(backup)
    created: set[str] = set()
    current = ""
    with _interrupts_raise():
        try:
            for change in sorted(changes, key=lambda c: backup[c.path] is not None):
                current = change.path
                if backup[change.path] is None:
                    old = os.path.join(root, change.old_path) if change.old_path else None
                    mode = os.stat(old).st_mode & 0o7777 if old and os.path.exists(old) else None
                    safewrite.write(root, change.path, _bytes(change.after), create=True, mode=mode)
                    created.add(change.path)
                else:
                    safewrite.write(root, change.path, _bytes(change.after))
            for change in changes:
                current = change.path
                if safewrite.read(os.path.join(root, change.path)) != _bytes(change.after):
                    raise OSError(f"{change.path} does not hold what was written")
            written = {change.path for change in changes}
            for change in changes:
                if change.old_path and change.old_path not in written:
                    current = change.old_path
                    safewrite.remove(root, change.old_path)
            current = ""
            problem = verify(root, plans, project)
            if problem is None and stage:
                try:
                    stage_paths(root, touched)
                except gitio.GitError as error:
                    problem = f"could not stage the result ({error})"
        except safewrite.UnsafePath as error:
            problem = str(error).rstrip(".")
        except OSError as error:
            problem = f"could not write {current}: {_reason(error)}" if current else _reason(error)
        except BaseException:
            restore(root, backup, created)
            raise
    if problem:
        unrestored = restore(root, backup, created)
        return Applied(False, problem, [], unrestored)
    return Applied(True, "", touched)


def _reason(error: OSError) -> str:
    """An OSError as the end of a sentence: `permission denied`, or its own message."""
    return error.strerror.lower() if error.strerror and error.errno else (error.strerror or str(error))


def _in_git(root: str) -> bool:
    try:
        gitio.common_dir(root)
        return True
    except gitio.GitError:
        return False


def _precondition(root: str, changes: list[Change], stage: bool) -> str | None:
    """Why the plans cannot be written now (the files changed since planning, git's index is locked), or None."""
    for change in changes:
        full = os.path.join(root, change.path)
        try:
            safewrite.target(root, change.path)
            data = safewrite.read(full)
            old = safewrite.read(os.path.join(root, change.old_path)) if change.old_path else None
        except OSError as error:
            return str(error).rstrip(".") if isinstance(error, safewrite.UnsafePath) else \
                f"{change.path} cannot be read ({_reason(error)}); nothing was changed"
        if change.old_path:
            if old is None or old != _bytes(change.before or ""):
                return f"{change.old_path} changed while migguard was working; nothing was changed, run fix again"
            if data is not None and change.path not in {c.old_path for c in changes}:
                return f"{change.path} exists already; migguard never overwrites a migration"
        elif change.before is None:
            if os.path.lexists(full):
                return f"{change.path} exists already (another fix?); migguard never overwrites a migration"
        elif data != _bytes(change.before):
            return f"{change.path} changed while migguard was working; nothing was changed, run fix again"
    if stage:
        index = os.environ.get("GIT_INDEX_FILE")
        try:
            index_path = os.path.join(root, index) if index else str(gitio.git_path(root, "index"))
        except gitio.GitError as error:
            return str(error)
        if os.path.lexists(index_path + ".lock"):
            return (f"git's index is locked ({index_path}.lock exists: another git command is running, "
                    f"or one crashed and left it); nothing was changed")
    return None


def _lock(root: str) -> int:
    """Hold `<git-dir>/migguard/fix.lock` so two fixes never write at once; the lock ends with the process."""
    import fcntl

    directory = gitio.common_dir(root) / "migguard"
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / "fix.lock", os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + LOCK_WAIT
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise BlockingIOError(0, f"another migguard fix has held {directory / 'fix.lock'} "
                                             f"for {LOCK_WAIT:.0f} seconds") from None
                time.sleep(0.05)
    except BaseException:
        os.close(descriptor)
        raise


class _interrupts_raise:
    """While files are being written, SIGTERM raises (like Ctrl-C) so the files are put back first."""

    def __enter__(self) -> None:
        import signal
        import threading

        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def stop(number: int, frame: object) -> None:
                raise KeyboardInterrupt(f"signal {number}")

            self.previous = signal.signal(signal.SIGTERM, stop)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            import signal

            signal.signal(signal.SIGTERM, self.previous)


def verify(root: str, plans: list[Plan], before: Project) -> str | None:
    """None when every touched app now has one leaf and no new problem appeared; else why not."""
    after = load_worktree(root, before.config, scope=before.scope)
    old_problems = {issue.message for issue in before.issues if issue.fatal}
    new_problems = [issue.message for issue in after.issues if issue.fatal and issue.message not in old_problems]
    if new_problems:
        return f"the result would not load: {new_problems[0]}"
    for plan in plans:
        leaves = after.leaves(plan.app)
        if len(leaves) != 1:
            return f"app {plan.app!r} would still have {len(leaves)} leaves ({', '.join(leaves)})"
    return None


def restore(root: str, backup: dict[str, bytes | None], created: set[str] | None = None) -> list[str]:
    """Put every file back as `backup` holds it; carry on past a failure. What could not be put
    back is returned, a phrase each (its bytes saved to a rescue folder, which the phrase names).

    Only files in `created` are removed (default: every file the backup did not have)."""
    failed: list[str] = []
    rescue: str | None = None
    for path, data in backup.items():
        full = os.path.join(root, path)
        try:
            if data is None:
                if (created is None or path in created) and os.path.lexists(full):
                    safewrite.remove(root, path)
                continue
            try:
                now = safewrite.read(full)
            except OSError:
                now = None
            if now != data:
                if now is None and os.path.lexists(full):
                    os.unlink(full)
                safewrite.write(root, path, data, create=now is None)
        except OSError as error:
            reason = _reason(error)
            if data is not None:
                import tempfile

                try:
                    rescue = rescue or tempfile.mkdtemp(prefix="migguard-rescue-")
                    saved = os.path.join(rescue, path)
                    os.makedirs(os.path.dirname(saved), exist_ok=True)
                    with open(saved, "wb") as handle:
                        handle.write(data)
                    failed.append(f"{path} ({reason}; its bytes are saved in {saved})")
                    continue
                except OSError:
                    pass
            failed.append(f"{path} ({reason})")
    return failed


def stage_paths(root: str, paths: list[str]) -> None:
    """Stage the touched files, renames included (git records a move as delete plus add, like `git mv`).

    A path neither on disk nor in the index (an untracked migration that was renamed) has nothing to stage."""
    env = {**os.environ, "GIT_LITERAL_PATHSPECS": "1"}
    present = [path for path in paths if os.path.lexists(os.path.join(root, path))]
    gone = [path for path in paths if path not in present]
    if gone:
        tracked = gitio.run(["ls-files", "-z", "--", *gone], root, env=env).decode("utf-8", "surrogateescape")
        present += [path for path in gone if path in set(tracked.split("\0"))]
    if present:
        gitio.run(["add", "-A", "--", *present], root, env=env)


def journal(root: str, plans: list[Plan]) -> None:
    """Append each rename to `<git-dir>/migguard/renames.tsv`: time, app, old name, new name."""
    lines = [f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\t{plan.app}\t{old}\t{new}\n"
             for plan in plans for old, new in plan.renames]
    if not lines:
        return
    try:
        directory = gitio.common_dir(root) / "migguard"
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "renames.tsv", "a", encoding="utf-8") as handle:
            handle.writelines(lines)
    except (gitio.GitError, OSError):
        pass
