"""Which changed paths can change what `check` and the push gate find (imports nothing: hooks use it)."""
from __future__ import annotations

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
