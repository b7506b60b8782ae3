"""Find migration packages in a work tree or in a commit's tree, by the same rules."""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from typing import NamedTuple

from migguard.changes import migration_name
from migguard.config import Config
from migguard.gitio import TreeEntry

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "node_modules", "site-packages",
     "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".eggs"}
)
NUMBERED_MODULE = re.compile(r"^\d{4}_\w*\.pyc?$")
SYMLINK_MODE = "120000"


class Package(NamedTuple):
    """A candidate migration package: its path and where to read each module, the lock file and the
    app's `apps.py`; `notes` are (file name, problem) pairs found by listing alone."""

    path: str
    modules: dict[str, str]
    lock: str | None
    app_config: str | None = None
    notes: tuple[tuple[str, str], ...] = ()


def _skipped(name: str) -> bool:
    return name in SKIPPED_DIRECTORIES or name.endswith(".egg-info")


def _excluded(path: str, config: Config) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path + "/", pattern) for pattern in config.exclude)


def _is_candidate(path: str, filenames: Iterable[str], config: Config) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name == "migrations" or config.label_for(path) is not None:
        return True
    return any(NUMBERED_MODULE.match(filename) for filename in filenames)


def app_directory(package_path: str) -> str | None:
    """The app package a `migrations` package belongs to (where Django's `apps.py` is)."""
    parent, _, name = package_path.rpartition("/")
    return parent if name == "migrations" else None


def _package(path: str, filenames: dict[str, str], config: Config, app_config: str | None = None,
             links: frozenset[str] = frozenset()) -> Package | None:
    if "__init__.py" not in filenames or not _is_candidate(path, filenames, config):
        return None
    modules = {}
    notes = []
    for filename, key in filenames.items():
        name = migration_name(filename)
        if name is not None:
            if filename in links:
                notes.append((filename, "is a symlink in the commit; Django would read its target, migguard does not"))
            else:
                modules[name] = key
        elif filename.endswith(".pyc") and filename[:-1] not in filenames and migration_name(filename[:-1]):
            notes.append((filename, "is compiled code without its .py source: Django loads it, migguard cannot "
                                    "read it; delete it or commit its source"))
    if not modules and not notes:
        return None
    return Package(path, modules, filenames.get(config.lockfile) if config.lockfile else None, app_config,
                   tuple(sorted(notes)))


def in_worktree(root: str, config: Config, problems: list[tuple[str, str]] | None = None,
                listed: list[str] | None = None) -> list[Package]:
    """Candidate packages below `root`; keys are absolute file paths.

    What cannot be listed, and a `migrations` that is a symlink, goes to `problems` as (path, problem);
    every folder listed goes to `listed`."""
    packages = []
    app_configs: dict[str, str] = {}

    def unlisted(error: OSError) -> None:
        if problems is not None:
            path = os.path.relpath(error.filename or root, root).replace(os.sep, "/")
            problems.append((path, f"cannot be listed ({error.strerror}); exclude it in [tool.migguard] "
                                   f"if it holds no migrations"))

    for directory, dirnames, filenames in os.walk(root, onerror=unlisted):
        relative = os.path.relpath(directory, root).replace(os.sep, "/")
        relative = "" if relative == "." else relative
        if listed is not None:
            listed.append(directory)
        if "pyvenv.cfg" in filenames:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(
            d for d in dirnames
            if not _skipped(d) and not _excluded(f"{relative}/{d}".lstrip("/"), config)
        )
        if problems is not None and ("migrations" in dirnames or "migrations" in filenames):
            link = os.path.join(directory, "migrations")
            if os.path.islink(link):
                problems.append((f"{relative}/migrations".lstrip("/"), f"is a symlink (to {os.readlink(link)}): "
                                 f"Django follows it, migguard does not; make it a real directory"))
                if "migrations" in dirnames:
                    dirnames.remove("migrations")
        if "apps.py" in filenames:
            app_configs[relative] = os.path.join(directory, "apps.py")
        app = app_directory(relative)
        package = _package(relative, {f: os.path.join(directory, f) for f in filenames}, config,
                           app_configs.get(app) if app is not None else None)
        if package is not None:
            packages.append(package)
    return packages


def in_tree(entries: list[TreeEntry], config: Config, under: str = "",
            problems: list[tuple[str, str]] | None = None, strict: bool = False) -> list[Package]:
    """Candidate packages of a commit's tree (from `git ls-tree -r`); keys are blob ids.

    A `migrations` that is a symlink in the commit goes to `problems` as (path, problem).
    `strict` (the push gates): no folder is skipped for its name or for holding a virtualenv;
    only the configuration's `exclude` applies."""
    directories: dict[str, dict[str, str]] = {}
    links: dict[str, set[str]] = {}
    venvs = set()
    prefix = under.strip("/") + "/" if under.strip("/") else ""
    for entry in entries:
        if entry.kind != "blob" or not entry.path.startswith(prefix):
            continue
        directory, _, filename = entry.path.rpartition("/")
        if filename == "pyvenv.cfg":
            venvs.add(directory)
        directories.setdefault(directory, {})[filename] = entry.oid
        if entry.mode == SYMLINK_MODE:
            links.setdefault(directory, set()).add(filename)
            if filename == "migrations" and problems is not None:
                problems.append((entry.path, "is a symlink in the commit: Django follows it, migguard does not; "
                                             "make it a real directory"))
    packages = []
    for directory in sorted(directories):
        if _excluded(directory, config):
            continue
        parts = directory.split("/")
        if not strict:
            if any(_skipped(part) for part in parts):
                continue
            if venvs and any("/".join(parts[:depth]) in venvs for depth in range(1, len(parts) + 1)):
                continue
        app = app_directory(directory)
        app_config = None
        if app is not None and "apps.py" not in links.get(app, ()):
            app_config = directories.get(app, {}).get("apps.py")
        package = _package(directory, directories[directory], config, app_config, frozenset(links.get(directory, ())))
        if package is not None:
            packages.append(package)
    return packages


def touches_migrations(paths: Iterable[str], config: Config) -> bool:
    """Whether any of these changed paths can change a migration graph or a lock file (cheap, no reading)."""
    for path in paths:
        directory, _, filename = path.rpartition("/")
        if filename in (config.lockfile, "apps.py", "migrations") or directory.rsplit("/", 1)[-1] == "migrations":
            return True
        if NUMBERED_MODULE.match(filename) or (config.apps and config.label_for(directory) is not None):
            return True
    return False
