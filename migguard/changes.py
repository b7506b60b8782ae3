"""Which changed paths can change what `check` and the push gate find, and what changed between two trees or a
tree and the index (imports nothing but `os`: hooks use it)."""
from __future__ import annotations

from migguard.processes import git_output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

LINK_MODES = ("160000", "120000")  # a submodule, a symbolic link
CONFIG_FILES = ("pyproject.toml", "setup.cfg")


def may_change_findings(old_mode: str, new_mode: str, path: str, packages: frozenset[str] | set[str] | list[str],
                        lockfile: str, app_paths: list[str]) -> bool:
    """Whether a changed path can change the findings (conservative: when unsure, yes).

    `packages`: the migration package folders before the change; `app_paths`: the configured apps' paths."""
    if old_mode in LINK_MODES or new_mode in LINK_MODES:
        return True
    directory, _, name = path.rpartition("/")
    folder = directory.rsplit("/", 1)[-1]
    if directory in packages or folder == "migrations" or name in CONFIG_FILES or name == lockfile:
        return True
    if name == "pyvenv.cfg":  # a virtualenv's marker: `check` skips the folders below it
        return True
    if any(directory == app or directory.rsplit("/", 1)[0] == app for app in app_paths):
        return True
    if not name.endswith((".py", ".pyc")):
        return False
    return (name in ("__init__.py", "apps.py") or name.endswith(".pyc") or folder == "apps"
            or (name[:4].isdigit() and name[4:5] == "_"))  # discovery.NUMBERED_MODULE, or more


def migration_name(filename: str) -> str | None:
    """The migration name of a file in a migration package, as Django's loader sees it."""
    if not filename.endswith(".py"):
        return None
    stem = filename[:-3]
    if not stem or stem[0] in "_~" or "." in stem:
        return None
    return stem


Change = tuple[str, str, str, str, str]  # (old mode, new mode, new blob id, status, path)


def parse_raw(out: bytes) -> list[Change] | None:
    """The changes `git diff-tree`/`diff-index` print with `-r -z --raw --no-renames --no-abbrev`; None when
    the output is not what those print."""
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    changes = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token:
            continue
        fields = token[1:].split(" ") if token.startswith(":") else []
        if len(fields) != 5 or index >= len(tokens):
            return None
        changes.append((fields[0], fields[1], fields[3], fields[4], tokens[index]))
        index += 1
    return changes


def tree_changes(cwd: str | Path, old: str, new: str) -> list[Change] | None:
    """Each change from one tree (or commit) to the other, from loose objects where they are (`loose.tree_changes`),
    else from git; None when git fails or says anything unexpected."""
    from migguard.loose import tree_changes as loose_changes

    found = loose_changes(str(cwd), old, new)
    return found if found is not None else _raw(cwd, ["diff-tree"], [old, new])


def staged_changes(cwd: str | Path, tree: str) -> list[Change] | None:
    """Each change from a tree (or commit) to the index; None when git fails (an unborn HEAD) or says anything
    unexpected."""
    return _raw(cwd, ["diff-index", "--cached"], [tree])


def _raw(cwd: str | Path, command: list[str], revisions: list[str]) -> list[Change] | None:
    out = git_output([*command, "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "--end-of-options", *revisions],
                     cwd)
    return None if out is None else parse_raw(out)
