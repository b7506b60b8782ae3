"""Caches in `<git-common-dir>/migguard/`, keyed by git object ids: exact, safe to delete,
and safe with two processes at once (each write goes to a temporary file, then `os.replace`)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from migguard import __version__

if TYPE_CHECKING:
    from migguard.reader import MigrationSource

RESULTS_KEPT = 64


def _atomic_write(path: Path, data: bytes) -> None:
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        pass


def directory(common_dir: Path) -> Path:
    return common_dir / "migguard"


class ParseCache:
    """What the reader found in each migration blob, by blob id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, MigrationSource] = {}
        self.dirty = False
        import pickle

        try:
            with open(path, "rb") as stream:
                loaded = pickle.load(stream)
            if isinstance(loaded, dict):
                self.entries = loaded
        except Exception:
            self.entries = {}

    @classmethod
    def for_common_dir(cls, common_dir: Path) -> "ParseCache":
        return cls(directory(common_dir) / f"parsed-{__version__}.pickle")

    def get_many(self, oids: list[str]) -> dict[str, MigrationSource]:
        return {oid: self.entries[oid] for oid in oids if oid in self.entries}

    def put(self, oid: str, source: MigrationSource) -> None:
        self.entries[oid] = source
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            import pickle

            _atomic_write(self.path, pickle.dumps(self.entries, protocol=pickle.HIGHEST_PROTOCOL))
            self.dirty = False


def _result_path(common_dir: Path, tree: str, under: str) -> Path:
    key = hashlib.sha1(f"{__version__}\0{tree}\0{under}".encode()).hexdigest()
    return directory(common_dir) / "results" / f"{key}.json"


def load_result(common_dir: Path, tree: str, under: str) -> dict | None:
    try:
        with open(_result_path(common_dir, tree, under), encoding="utf-8") as stream:
            result = json.load(stream)
        return result if isinstance(result, dict) else None
    except (OSError, ValueError):
        return None


def store_result(common_dir: Path, tree: str, under: str, result: dict) -> None:
    path = _result_path(common_dir, tree, under)
    _atomic_write(path, json.dumps(result).encode())
    try:
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in kept[RESULTS_KEPT:]:
            stale.unlink()
    except OSError:
        pass
