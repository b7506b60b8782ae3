"""What a commit's check depends on, found with one `git ls-tree` (imports nothing heavy)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from migguard import config as config_module, discovery, gitio
from migguard.collector import paused
from migguard.config import Config
from migguard.discovery import Package
from migguard.gitio import TreeEntry
from migguard.errors import InputError


def config_from(read_text: Callable[[str], str | None]) -> Config:
    try:
        return config_module.load(read_text)
    except config_module.ConfigError as error:
        raise InputError(str(error)) from None


class RevisionInputs(NamedTuple):
    """What a commit's check depends on: its configuration and its migration packages (blob ids)."""

    common_dir: Path
    config: Config
    packages: list[Package]
    problems: tuple[tuple[str, str], ...] = ()

    def content_key(self) -> str:
        """Equal for two commits whose migrations, lock files and configuration are the same."""
        import hashlib

        digest = hashlib.sha1(repr((self.config, self.problems)).encode())
        for package in self.packages:
            digest.update(f"\0{package.path}\0{package.lock}\0{package.app_config}\0{package.notes}".encode())
            for name in sorted(package.modules):
                digest.update(f"\0{name}={package.modules[name]}".encode())
        return digest.hexdigest()


CONFIG_FILES = ("pyproject.toml", "setup.cfg")
MAX_CONFIG_SIZE = 1 << 20
REGULAR_MODES = ("100644", "100755")


def config_in(cwd: str | Path, entries: list[TreeEntry]) -> Config:
    """The configuration held by a tree's `pyproject.toml` / `setup.cfg` (regular files only, bounded)."""
    found = {entry.path: entry for entry in entries if entry.path in CONFIG_FILES}
    for name, entry in found.items():
        if entry.mode not in REGULAR_MODES:
            what = "a symbolic link" if entry.mode == "120000" else "not a regular file"
            raise InputError(f"{name} is {what} in this commit; migguard reads its configuration only from a regular file.")
    sizes = gitio.blob_sizes(cwd, [entry.oid for entry in found.values()])
    for name, entry in found.items():
        if sizes.get(entry.oid, 0) > MAX_CONFIG_SIZE:
            raise InputError(f"{name} is larger than {MAX_CONFIG_SIZE >> 20} MiB; migguard does not read it.")
    blobs = gitio.cat_blobs(cwd, [entry.oid for entry in found.values()])

    def read_root_text(path: str) -> str | None:
        entry = found.get(path)
        if entry is None:
            return None
        return blobs.get(entry.oid, b"").decode("utf-8", "replace")

    return config_from(read_root_text)


def config_at(cwd: str | Path, rev: str) -> Config:
    """The configuration of commit `rev` (its top-level files only: one `git ls-tree`)."""
    try:
        entries = gitio.ls_tree(cwd, f"{rev}^{{tree}}", recursive=False)
    except gitio.GitError as error:
        raise InputError(str(error)) from None
    return config_in(cwd, entries)


def revision_inputs(cwd: str | Path, rev: str, under: str | None = None) -> RevisionInputs:
    """List commit `rev`'s tree once and find its configuration and migration packages."""
    with paused():
        return _revision_inputs(cwd, rev, under)


def _revision_inputs(cwd: str | Path, rev: str, under: str | None) -> RevisionInputs:
    try:
        common, prefix, tree = gitio.resolve_tree(cwd, rev)
        entries = gitio.ls_tree(cwd, tree)
    except gitio.GitError as error:
        raise InputError(str(error)) from None
    config = config_in(cwd, entries)
    problems: list[tuple[str, str]] = []
    packages = discovery.in_tree(entries, config, prefix if under is None else under, problems)
    return RevisionInputs(common, config, packages, tuple(problems))
