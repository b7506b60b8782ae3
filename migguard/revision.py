"""What a commit's check depends on, found with one `git ls-tree` (imports nothing heavy)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

from migguard import config as config_module, discovery, gitio
from migguard.config import Config
from migguard.discovery import Package
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


def revision_inputs(cwd: str | Path, rev: str, under: str | None = None) -> RevisionInputs:
    """List commit `rev`'s tree once and find its configuration and migration packages."""
    try:
        common, prefix, tree = gitio.resolve_tree(cwd, rev)
        entries = gitio.ls_tree(cwd, tree)
    except gitio.GitError as error:
        raise InputError(str(error)) from None
    by_path = {entry.path: entry.oid for entry in entries if entry.kind == "blob"}

    def read_root_text(path: str) -> str | None:
        oid = by_path.get(path)
        if oid is None:
            return None
        return gitio.cat_blobs(cwd, [oid]).get(oid, b"").decode("utf-8", "replace")

    config = config_from(read_root_text)
    problems: list[tuple[str, str]] = []
    packages = discovery.in_tree(entries, config, prefix if under is None else under, problems)
    return RevisionInputs(common, config, packages, tuple(problems))
