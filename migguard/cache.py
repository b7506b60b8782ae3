"""Caches in `<git-common-dir>/migguard/`, keyed by git object ids: exact, safe to delete,
and safe with two processes at once (each write goes to a temporary file, then `os.replace`)."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard import __version__
from migguard.files import Signature

if TYPE_CHECKING:
    from typing_extensions import Self

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
    """What the reader found in each migration blob (and each `apps.py`), by git blob id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, object] = {}
        self.dirty = False
        self.entries = _load_dict(path)

    @classmethod
    def for_common_dir(cls, common_dir: Path) -> Self:
        return cls(directory(common_dir) / f"parsed-{__version__}.pickle")

    def get_many(self, oids: list[str]) -> dict[str, MigrationSource]:
        return {oid: self.entries[oid] for oid in oids if oid in self.entries}  # type: ignore[misc]

    def get(self, key: str, default: object = None) -> object:
        return self.entries.get(key, default)

    def put(self, oid: str, source: object) -> None:
        self.entries[oid] = source
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            _save_dict(self.path, self.entries)
            self.dirty = False


RACY_NS = 2_000_000_000
Entry = tuple[Signature, str, int]  # stat signature, blob id, when recorded (ns)


class WorktreeIndex:
    """Work-tree path -> (stat signature, blob id, when recorded), like git's index.

    A file whose signature is unchanged has that blob id without being read, provided it was last
    changed well before it was recorded (git's racy-clean rule: a change within the same
    timestamp tick could otherwise keep the signature)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, Entry] = _load_dict(path)
        self.seen: set[str] = set()
        self.dirty = False

    @classmethod
    def for_root(cls, common_dir: Path, root: str) -> WorktreeIndex:
        key = hashlib.sha1(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return cls(directory(common_dir) / f"worktree-{__version__}-{key}.pickle")

    def known(self, key: str, signature: Signature) -> str | None:
        self.seen.add(key)
        entry = self.entries.get(key)
        if entry is None or entry[0] != signature or max(signature[1], signature[2]) >= entry[2] - RACY_NS:
            return None
        return entry[1]

    def record(self, key: str, signature: Signature, oid: str, now_ns: int) -> None:
        self.seen.add(key)
        entry = self.entries.get(key)
        if entry is None or entry[0] != signature or entry[1] != oid:
            self.entries[key] = (signature, oid, now_ns)
            self.dirty = True

    def save(self) -> None:
        stale = [key for key in self.entries if key not in self.seen]
        if stale and len(stale) > len(self.seen):
            for key in stale:
                del self.entries[key]
            self.dirty = True
        if self.dirty:
            _save_dict(self.path, self.entries)
            self.dirty = False


def _load_dict(path: Path) -> dict[str, Any]:
    import pickle

    try:
        with open(path, "rb") as stream:
            loaded = pickle.load(stream)
        return loaded if isinstance(loaded, dict) else {}
    except Exception:
        return {}


def _save_dict(path: Path, entries: Mapping[str, object]) -> None:
    import pickle

    _atomic_write(path, pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))


def find_common_dir(root: str) -> Path | None:
    """The git common directory of the repository holding `root`, found on disk without running git."""
    current = os.path.realpath(root)
    while True:
        candidate = os.path.join(current, ".git")
        if os.path.isdir(candidate):
            git_dir = candidate
            break
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as stream:
                    line = stream.readline(4096).strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not line.startswith("gitdir:"):
                return None
            git_dir = os.path.join(current, line[len("gitdir:"):].strip())
            break
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as stream:
            git_dir = os.path.join(git_dir, stream.readline(4096).strip())
    except (OSError, UnicodeDecodeError):
        pass
    return Path(os.path.realpath(git_dir))


def _result_path(common_dir: Path, tree: str, under: str) -> Path:
    key = hashlib.sha1(f"{__version__}\0{tree}\0{under}".encode()).hexdigest()
    return directory(common_dir) / "results" / f"{key}.json"


def load_result(common_dir: Path, tree: str, under: str) -> dict[str, Any] | None:
    try:
        with open(_result_path(common_dir, tree, under), encoding="utf-8") as stream:
            result = json.load(stream)
        return result if isinstance(result, dict) else None
    except (OSError, ValueError):
        return None


def store_result(common_dir: Path, tree: str, under: str, result: dict[str, Any]) -> None:
    path = _result_path(common_dir, tree, under)
    _atomic_write(path, json.dumps(result).encode())
    try:
        kept = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in kept[RESULTS_KEPT:]:
            stale.unlink()
    except OSError:
        pass
