"""Whether a git hook certainly has nothing to do, found with `os` and a git call or two.

Hooks run on every merge, checkout, commit and rebase; importing the full hook (pathlib, typing,
the configuration's reader) costs more than its git calls. This answers only when it is sure, by
the full hook's own rules: the configuration is the default one (neither `pyproject.toml` nor
`setup.cfg` mentions migguard, as `config.load` decides) and no changed path can touch a migration
graph or a lock file. Two common cases with work to do are answered here too (`hooks.quick`): a merge that
brought migrations and left one leaf per app, and a commit whose new migrations move lock files. When unsure,
or when anything fails, the full hook decides and says why."""
from __future__ import annotations

import os
import sys

from migguard.changes import staged_changes, tree_changes
from migguard.processes import git_output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from migguard.changes import Change

STDIN_HOOKS = frozenset({"post-rewrite", "pre-push", "pre-receive"})
GATES = ("pre-push", "pre-receive")
ZERO = "0" * 40
DEFAULT_LOCKFILE = "max_migration.txt"  # config.Config's default
CONFIG_MENTIONS = (("pyproject.toml", b"migguard"), ("setup.cfg", b"[migguard"))  # what config.load looks for
MAX_CONFIG_SIZE = 1 << 20


def read_stdin(name: str) -> str:
    """What git writes to hook `name` ("" for the hooks it writes nothing to)."""
    return sys.stdin.read() if name in STDIN_HOOKS and sys.stdin is not None and not sys.stdin.isatty() else ""


def main() -> NoReturn:
    """The hook shims' entry point, `python -c BOOT hook NAME ARGS...`: `migguard hook` without importing
    `migguard.__main__` and its other commands."""
    sys.exit(run(sys.argv[2:], end_process=True))


def run(arguments: list[str], end_process: bool = False) -> int:
    """`migguard hook NAME ARGS...`: 0 at once when there is certainly nothing to do, else the full hook.
    With `end_process` (the hook's own process), a quick answer ends the process (`exit_now`)."""
    name = arguments[0] if arguments else ""
    stdin = None
    if name and not (os.environ.get("MIGGUARD") == "0" and name not in GATES):
        stdin = read_stdin(name)
        try:
            if nothing_to_do(name, arguments[1:], os.getcwd(), stdin):
                if end_process:
                    exit_now(0)
                return 0
        except Exception:  # noqa: BLE001 - unsure: the full hook decides, and reports what is wrong
            pass
    from migguard import sitepath

    sitepath.ensure()
    from migguard.hooks.runner import main

    return main(arguments, stdin)


def exit_now(status: int) -> NoReturn:
    """End this process with `status` once its output is flushed, skipping the interpreter's teardown of every
    loaded module (2 ms with the quick paths' modules: more than their work). Only for a quick answer, which
    has closed every file it wrote and registered nothing to run at exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except OSError:  # Python's own exit then reports it and exits with 120
            status = status or 120
    os._exit(status)


def nothing_to_do(name: str, arguments: list[str], root: str, stdin: str = "") -> bool:
    """True only when the full hook would do nothing and print nothing."""
    if name == "pre-push":
        from migguard.hooks.idle_push import passes

        return passes(arguments, root, stdin)
    if name == "post-merge":
        return _post_merge(arguments, root)
    if name == "post-checkout":
        return _post_checkout(arguments, root)
    if name == "pre-commit":
        return _pre_commit(root)
    if name == "post-rewrite":
        return _post_rewrite(arguments, root)
    return False


def _post_merge(arguments: list[str], root: str) -> bool:
    if arguments[:1] == ["1"]:
        return _quiet_changes(root, ["--cached", "HEAD"])
    merge_head = _state_paths(root, ["MERGE_HEAD"])
    if merge_head is None or not _default_config(root):
        return False
    merged = os.path.exists(merge_head[0])
    changes = _changes(root, ["HEAD^1" if merged else "ORIG_HEAD", "HEAD"])
    if changes is None:
        return False
    if _quiet(changes):
        return True
    from migguard.hooks.quick import merged_clean

    return merged_clean(root, changes if merged else None)


def _pre_commit(root: str) -> bool:
    if not _default_config(root):
        return False
    from migguard.indextree import staged_changes as recorded  # what `git commit` recorded: no git to start

    changes = recorded(root)
    if changes is None:
        changes = _changes(root, ["--cached", "HEAD"])  # an unborn HEAD fails: the full hook decides
    if changes is None:
        return False
    if _quiet(changes):
        return True
    merge_head = _state_paths(root, ["MERGE_HEAD"])
    if merge_head is None or os.path.exists(merge_head[0]):
        return False  # a merge is being concluded: the full hook resolves it
    from migguard.hooks.quick import locks_followed

    return locks_followed(root, changes)


def _post_checkout(arguments: list[str], root: str) -> bool:
    if len(arguments) < 3 or arguments[2] != "1" or arguments[0] == arguments[1]:
        return True
    states = _state_paths(root, ["rebase-merge", "rebase-apply", "MERGE_HEAD", "BISECT_LOG"])
    if states is None:
        return False
    if any(os.path.exists(path) for path in states):
        return True
    return arguments[0] != ZERO and _quiet_changes(root, [arguments[0], arguments[1]])


def _post_rewrite(arguments: list[str], root: str) -> bool:
    if arguments[:1] != ["rebase"]:
        return True
    onto = _rebase_onto(root)
    return onto is not None and _quiet_changes(root, [onto, "HEAD"])


def _rebase_onto(root: str) -> str | None:
    """`hooks.rebasing.rebase_onto`, or None when unsure."""
    states = _state_paths(root, ["rebase-merge/onto", "rebase-apply/onto"])
    if states is None:
        return None
    for state in states:
        if os.path.exists(state):
            with open(state, encoding="utf-8") as stream:
                return stream.read().strip()
    out = git_output(["reflog", "-n", "200", "--format=%H %gs", "HEAD"], root)
    if out is None:
        return None
    for line in out.decode("utf-8", "surrogateescape").strip().splitlines():
        sha, _, subject = line.partition(" ")
        if subject.startswith(("rebase (start): checkout ", "rebase: checkout ")):
            return sha
    return None


def _state_paths(root: str, names: list[str]) -> list[str] | None:
    """Where git keeps these state files of this work tree (each a per-worktree name: MERGE_HEAD, rebase-merge,
    rebase-apply, BISECT_LOG), found on disk when git's directory is plainly `.git` here, else by git."""
    from migguard.loose import git_dirs

    dirs = git_dirs(root)
    if dirs is not None:
        return [os.path.join(dirs[0], name) for name in names]
    out = git_output(["rev-parse", *[part for name in names for part in ("--git-path", name)]], root)
    if out is None:
        return None
    lines = out.decode("utf-8", "surrogateescape").strip().splitlines()
    return [os.path.join(root, line) for line in lines] if len(lines) == len(names) else None


def _quiet_changes(root: str, diff: list[str]) -> bool:
    """The configuration is the default one and no path changed (`_changes`) can change a graph or a lock file."""
    if not _default_config(root):
        return False
    changes = _changes(root, diff)
    return changes is not None and _quiet(changes)


def _changes(root: str, diff: list[str]) -> list[Change] | None:
    """The changes from A to B, or from A to the index for ["--cached", A]."""
    return staged_changes(root, diff[1]) if diff[0] == "--cached" else tree_changes(root, diff[0], diff[1])


def _quiet(changes: list[Change]) -> bool:
    return not any(_may_touch(change[4]) for change in changes)


def _default_config(root: str) -> bool:
    for name, mention in CONFIG_MENTIONS:
        try:
            descriptor = os.open(os.path.join(root, name), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            continue
        try:
            status = os.fstat(descriptor)
            if (status.st_mode & 0o170000) != 0o100000 or status.st_size > MAX_CONFIG_SIZE:
                return False
            data = os.read(descriptor, MAX_CONFIG_SIZE + 1)
        finally:
            os.close(descriptor)
        if len(data) != status.st_size or mention in data:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:  # config.load_directory refuses it: the full hook says so
            return False
    return True


def _may_touch(path: str) -> bool:
    """`discovery.touches_migrations` under the default configuration, or more (never less)."""
    directory, _, filename = path.rpartition("/")
    if filename in (DEFAULT_LOCKFILE, "apps.py", "migrations") or directory.rsplit("/", 1)[-1] == "migrations":
        return True
    name = filename[:-1] if filename.endswith("\n") else filename  # `$` in NUMBERED_MODULE matches before a final newline
    return len(name) >= 8 and name[:4].isdigit() and name[4] == "_" and name.endswith((".py", ".pyc"))
