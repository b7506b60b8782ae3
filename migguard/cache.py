"""Caches in `<git-common-dir>/migguard/`, keyed by git object ids: exact, safe to delete,
and safe with two processes at once (each write goes to a temporary file, then `os.replace`).
Results of `check` live in `migguard.results`."""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migguard import __version__
from migguard.files import Signature

if TYPE_CHECKING:
    from typing_extensions import Self

    from migguard.reader import MigrationSource

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
    """What the reader found in each migration blob (and each `apps.py`), by git blob id.

    New entries go to a small file of their own (a run that parsed one new migration does not
    rewrite twenty thousand); past DELTAS_KEPT such files, one run folds them into the main file
    and deletes the ones it read. Two processes at once can at worst lose entries (read again
    later), never mix them: each file is written whole, then renamed into place."""

    DELTAS_KEPT = 16

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, object] = _load_dict(path)
        self.added: dict[str, object] = {}
        self.dirty = False
        self.deltas: list[Path] = []
        prefix = path.name.removesuffix(".pickle") + ".delta-"
        try:
            names = sorted(name for name in os.listdir(path.parent) if name.startswith(prefix))
        except OSError:
            names = []
        for name in names:
            self.deltas.append(path.parent / name)
            self.entries.update(_load_dict(path.parent / name))

    @classmethod
    def for_common_dir(cls, common_dir: Path) -> Self:
        return cls(directory(common_dir) / f"parsed-{__version__}.pickle")

    def get_many(self, oids: list[str]) -> dict[str, MigrationSource]:
        return {oid: self.entries[oid] for oid in oids if oid in self.entries}  # type: ignore[misc]

    def get(self, key: str, default: object = None) -> object:
        return self.entries.get(key, default)

    def put(self, oid: str, source: object) -> None:
        self.entries[oid] = source
        self.added[oid] = source
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        if len(self.deltas) < self.DELTAS_KEPT and len(self.added) * 4 < max(len(self.entries), 1):
            name = f"{self.path.name.removesuffix('.pickle')}.delta-{time.time_ns():020d}-{os.getpid()}.pickle"
            _save_dict(self.path.parent / name, self.added)
            self.deltas.append(self.path.parent / name)
        else:
            _save_dict(self.path, self.entries)
            for delta in self.deltas:  # only those folded in: a delta written since by another process stays
                try:
                    delta.unlink()
                except OSError:
                    pass
            self.deltas = []
        self.added = {}


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
        """`oid` was just read from the file (`now_ns`: before reading). A racily clean entry gets the new
        time too, as git re-stamps its index: else a file changed just before a run is read on every run."""
        self.seen.add(key)
        entry = self.entries.get(key)
        if (entry is None or entry[0] != signature or entry[1] != oid
                or (max(signature[1], signature[2]) >= entry[2] - RACY_NS and now_ns > entry[2])):
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

    from migguard.collector import paused

    try:
        with open(path, "rb") as stream, paused():
            loaded = pickle.load(stream)
        return loaded if isinstance(loaded, dict) else {}
    except Exception:
        return {}


def _save_dict(path: Path, entries: Mapping[str, object]) -> None:
    import pickle

    _atomic_write(path, pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))


def find_common_dir(root: str) -> Path | None:
    """The git common directory of the repository holding `root`, found on disk without running git."""
    from migguard import results

    found = results.find_common_dir(root)
    return Path(found) if found is not None else None


def load_result(common_dir: Path, tree: str, under: str) -> dict[str, Any] | None:
    """The result cached under `tree` (a tree id or another key) for folder `under`, or None."""
    from migguard import results

    return results.load(common_dir, tree, under)


def store_result(common_dir: Path, tree: str, under: str, result: dict[str, Any]) -> None:
    from migguard import results

    results.store(common_dir, tree, under, result)
