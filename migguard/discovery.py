"""Find migration packages in a work tree or in a commit's tree, by the same rules."""
from __future__ import annotations

import fnmatch
import os
import re
from typing import Iterable, NamedTuple

from migguard.config import Config
from migguard.gitio import TreeEntry

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "node_modules", "site-packages",
     "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", ".eggs"}
)
NUMBERED_MODULE = re.compile(r"^\d{4}_\w*\.py$")


class Package(NamedTuple):
    """A candidate migration package: its path and where to read each module and the lock file."""

    path: str
    modules: dict[str, str]
    lock: str | None


def migration_name(filename: str) -> str | None:
    """The migration name of a file in a migration package, as Django's loader sees it."""
    if not filename.endswith(".py"):
        return None
    stem = filename[:-3]
    if not stem or stem[0] in "_~" or "." in stem:
        return None
    return stem


def _skipped(name: str) -> bool:
    return name in SKIPPED_DIRECTORIES or name.endswith(".egg-info")


def _excluded(path: str, config: Config) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path + "/", pattern) for pattern in config.exclude)


def _is_candidate(path: str, filenames: Iterable[str], config: Config) -> bool:
    name = path.rsplit("/", 1)[-1]
    if name == "migrations" or config.label_for(path) is not None:
        return True
    return any(NUMBERED_MODULE.match(filename) for filename in filenames)


def _package(path: str, filenames: dict[str, str], config: Config) -> Package | None:
    if "__init__.py" not in filenames or not _is_candidate(path, filenames, config):
        return None
    modules = {}
    for filename, key in filenames.items():
        name = migration_name(filename)
        if name is not None:
            modules[name] = key
    if not modules:
        return None
    return Package(path, modules, filenames.get(config.lockfile) if config.lockfile else None)


def in_worktree(root: str, config: Config) -> list[Package]:
    """Candidate packages below `root`; keys are absolute file paths."""
    packages = []
    for directory, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(directory, root).replace(os.sep, "/")
        relative = "" if relative == "." else relative
        if "pyvenv.cfg" in filenames:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(
            d for d in dirnames
            if not _skipped(d) and not _excluded(f"{relative}/{d}".lstrip("/"), config)
        )
        package = _package(relative, {f: os.path.join(directory, f) for f in filenames}, config)
        if package is not None:
            packages.append(package)
    return packages


def in_tree(entries: list[TreeEntry], config: Config, under: str = "", strict: bool = False) -> list[Package]:
    """Candidate packages of a commit's tree (from `git ls-tree -r`); keys are blob ids.

    `strict` (the push gates): no folder is skipped for its name or for holding a virtualenv;
    only the configuration's `exclude` applies."""
    directories: dict[str, dict[str, str]] = {}
    venvs = set()
    prefix = under.strip("/") + "/" if under.strip("/") else ""
    for entry in entries:
        if entry.kind != "blob" or not entry.path.startswith(prefix):
            continue
        directory, _, filename = entry.path.rpartition("/")
        if filename == "pyvenv.cfg":
            venvs.add(directory)
        directories.setdefault(directory, {})[filename] = entry.oid
    packages = []
    for directory in sorted(directories):
        if _excluded(directory, config):
            continue
        if not strict:
            parts = directory.split("/")
            if any(_skipped(part) for part in parts):
                continue
            if venvs and any("/".join(parts[:depth]) in venvs for depth in range(1, len(parts) + 1)):
                continue
        package = _package(directory, directories[directory], config)
        if package is not None:
            packages.append(package)
    return packages


def touches_migrations(paths: Iterable[str], config: Config) -> bool:
    """Whether any of these changed paths can change a migration graph or a lock file (cheap, no reading)."""
    for path in paths:
        directory, _, filename = path.rpartition("/")
        if filename == config.lockfile or directory.rsplit("/", 1)[-1] == "migrations":
            return True
        if NUMBERED_MODULE.match(filename) or (config.apps and config.label_for(directory) is not None):
            return True
    return False
