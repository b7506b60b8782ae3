"""A tree's id after changes to some of its paths, computed as git computes it from the tree objects on the way
to each changed path: what `git write-tree` prints for an index, without writing the index (which costs a
pre-commit hook more than everything else it does). With nothing but `os` and the interpreter's own hash."""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    Sorted = TypeVar("Sorted", bytes, int)

    from migguard.changes import Change

TREE_MODE = "40000"
ABSENT = "000000"


def folders(paths: list[str]) -> list[str]:
    """Every folder holding one of `paths` ("" is the top), each once, the top first."""
    found = {""}
    for path in paths:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return sorted(found, key=lambda folder: (folder.count("/") + bool(folder), folder))


def object_name(tree: str, folder: str) -> str:
    """The name `git cat-file` reads `folder` of `tree` by."""
    return f"{tree}:{folder}" if folder else tree


def read_folders(read: Callable[[str], tuple[str, bytes] | None], tree: str, wanted: list[str]) -> dict[str, bytes | None] | None:
    """Each of `wanted` (from `folders`) to its tree object's bytes in `tree` (None: no such folder), each object
    read by id with `read`; None when one cannot be read or a path holds something else than a folder."""
    size = len(tree) // 2
    found: dict[str, bytes | None] = {}
    for folder in wanted:  # the top first: each folder's parent is read before it
        if not folder:
            oid: str | None = tree
        else:
            parent, _, name = folder.rpartition("/")
            if parent not in found:
                return None
            data = found[parent]
            key = name.encode("utf-8", "surrogateescape")
            walked = _walk(data, size) if data is not None else ([], [])
            if walked is None:
                return None
            keys, starts = walked[0], walked[1] + [len(data or b"")]
            if key in keys:
                return None  # a file where the folder would be
            oid = None
            if key + b"/" in keys:
                end = starts[keys.index(key + b"/") + 1]
                oid = data[end - size:end].hex() if data is not None else None
        if oid is None:
            found[folder] = None
            continue
        read_one = read(oid)
        if read_one is None or read_one[0] != "tree":
            return None
        found[folder] = read_one[1]
    return found


def after(objects: dict[str, bytes | None], changes: list[Change], length: int) -> str | None:
    """The id of the top tree once `changes` are made to it; `objects`: each folder of `folders` to its tree
    object's bytes before the changes (None: no such folder then); `length`: the ids' length (40 or 64).
    A change's new mode "" keeps the entry's mode. None when a folder's tree cannot be read."""
    size = length // 2
    updates: dict[str, dict[bytes, tuple[str, str]]] = {folder: {} for folder in objects}  # folder -> name -> (mode, id)
    for _, new_mode, oid, _, path in changes:
        folder, _, name = path.rpartition("/")
        if folder not in updates:
            return None
        updates[folder][name.encode("utf-8", "surrogateescape")] = (new_mode, oid)
    digest = _digest(length)
    for folder in sorted(objects, key=lambda folder: -(folder.count("/") + bool(folder))):  # the deepest first
        data = _changed(objects[folder] or b"", size, updates[folder])
        if data is None:
            return None
        if not folder:
            return digest(data)
        parent, _, name = folder.rpartition("/")
        if parent not in updates:
            return None
        updates[parent][name.encode("utf-8", "surrogateescape")] = (TREE_MODE, digest(data)) if data else (ABSENT, "")
    return None


def _changed(data: bytes, size: int, updates: dict[bytes, tuple[str, str]]) -> bytes | None:
    """A tree object's bytes with `updates` made: each name to its new (mode, id); mode ABSENT removes the entry,
    "" keeps its mode (None when there is no such entry). What lies between the changes is copied as it is."""
    if not updates:
        return data
    walked = _walk(data, size)
    if walked is None:
        return None
    keys, starts = walked[0], walked[1] + [len(data)]  # entry i is data[starts[i]:starts[i + 1]]
    removed: set[int] = set()
    added: list[tuple[bytes, bytes]] = []
    for name, (mode, oid) in updates.items():
        index = next((index for index in (_position(keys, name), _position(keys, name + b"/"))
                      if index < len(keys) and keys[index] in (name, name + b"/")), -1)
        if index >= 0:
            removed.add(index)
        if mode == ABSENT:
            continue
        if not mode and index < 0:
            return None
        kept_mode = data[starts[index]:data.index(b" ", starts[index])] if not mode else mode.encode("ascii")
        added.append(_entry(kept_mode, name, oid))
    pieces: list[bytes] = []
    done = 0  # the old entries before this one are placed
    for key, entry in sorted(added):
        at = _position(keys, key)
        pieces += _kept(data, starts, removed, done, at)
        pieces.append(entry)
        done = at
    pieces += _kept(data, starts, removed, done, len(keys))
    return b"".join(pieces)


def _kept(data: bytes, starts: list[int], removed: set[int], first: int, end: int) -> list[bytes]:
    """The bytes of old entries `first` to `end` (excluded), but those removed."""
    pieces = []
    for index in sorted(index for index in removed if first <= index < end):
        pieces.append(data[starts[first]:starts[index]])
        first = index + 1
    pieces.append(data[starts[first]:starts[end]])
    return pieces


def _position(keys: list[Sorted], key: Sorted) -> int:
    """How many of the sorted `keys` come before `key`."""
    low, high = 0, len(keys)
    while low < high:
        middle = (low + high) // 2
        if keys[middle] < key:
            low = middle + 1
        else:
            high = middle
    return low


def _entries(data: bytes, size: int) -> tuple[list[bytes], list[int]] | None:
    """A tree object's entries in order: their sort keys and their starts; None when the tree cannot be read."""
    keys: list[bytes] = []
    starts: list[int] = []
    position = 0
    while position < len(data):
        entry = _entry_at(data, position, size)
        if entry is None:
            return None
        keys.append(entry[0])
        starts.append(position)
        position = entry[2]
    return keys, starts


FILE_MODES = {b"100644": "regular", b"100755": "regular", b"120000": "link", b"160000": "submodule"}
MAX_DIFF_OBJECTS = 256  # a larger diff is git's to make: reading tree objects one by one costs more then


def changes_between(read: Callable[[str], tuple[str, bytes] | None], old: str, new: str) -> list[Change] | None:
    """What `git diff-tree -r --raw --no-renames` prints from tree `old` to tree `new`, each tree object read by id
    with `read`; None when one cannot be read, there are too many, or a path changes kind (a file to a folder, a
    file to a link: git's type changes are left to git)."""
    size = len(old) // 2
    zero = "0" * len(old)
    found: list[Change] = []
    budget = [MAX_DIFF_OBJECTS]

    def data(oid: str | None) -> bytes | None:
        if oid is None:
            return b""
        budget[0] -= 1
        read_one = read(oid) if budget[0] >= 0 else None
        return read_one[1] if read_one is not None and read_one[0] == "tree" else None

    def walk(before_id: str | None, after_id: str | None, prefix: bytes) -> bool:
        before, after = data(before_id), data(after_id)
        differing = _differing(before, after, size) if before is not None and after is not None else None
        if differing is None:
            return False
        for name, old_entry, new_entry in differing:
            old_mode = old_entry.partition(b" ")[0] if old_entry else None
            new_mode = new_entry.partition(b" ")[0] if new_entry else None
            old_id = old_entry[-size:].hex() if old_entry else None
            new_id = new_entry[-size:].hex() if new_entry else None
            if old_mode == b"40000" or new_mode == b"40000":
                if old_mode not in (b"40000", None) or new_mode not in (b"40000", None):
                    return False
                if not walk(old_id, new_id, prefix + name + b"/"):
                    return False
                continue
            if (old_mode is not None and old_mode not in FILE_MODES) or (new_mode is not None and new_mode not in FILE_MODES):
                return False
            if old_mode is not None and new_mode is not None and FILE_MODES[old_mode] != FILE_MODES[new_mode]:
                return False
            path = (prefix + name).decode("utf-8", "surrogateescape")
            status = "M" if old_mode and new_mode else "D" if old_mode else "A"
            found.append(((old_mode or b"000000").decode(), (new_mode or b"000000").decode(), new_id or zero, status, path))
        return True

    return found if old == new or walk(old, new, b"") else None


def _differing(before: bytes, after: bytes, size: int) -> list[tuple[bytes, bytes | None, bytes | None]] | None:
    """Each name whose entry differs between two tree objects, with its old and new entry's bytes (None where it
    is absent), in git's order: read only from the entry holding the first byte that differs to where the rest is
    the same. None when a tree cannot be read or a name is a file on one side and a folder on the other."""
    position = _boundary_before(before, _common_prefix(before, after), size)
    if position is None:
        return None
    found: list[tuple[bytes, bytes | None, bytes | None]] = []
    sides: dict[bytes, int] = {}  # name -> 1 (before), 2 (after), 3 (both)
    old, new = position, position
    while old < len(before) or new < len(after):
        old_entry = _entry_at(before, old, size) if old < len(before) else None
        new_entry = _entry_at(after, new, size) if new < len(after) else None
        if old_entry is None and old < len(before) or new_entry is None and new < len(after):
            return None
        if old_entry is not None and new_entry is not None and old_entry[0] == new_entry[0]:
            old_bytes, new_bytes = before[old:old_entry[2]], after[new:new_entry[2]]
            old, new = old_entry[2], new_entry[2]
            if old_bytes != new_bytes:
                found.append((old_entry[1], old_bytes, new_bytes))
            elif len(before) - old == len(after) - new and before.endswith(after[new:]):
                break  # the rest is the same
        elif old_entry is not None and (new_entry is None or old_entry[0] < new_entry[0]):
            found.append((old_entry[1], before[old:old_entry[2]], None))
            sides[old_entry[1]] = sides.get(old_entry[1], 0) | 1
            old = old_entry[2]
        elif new_entry is not None:
            found.append((new_entry[1], None, after[new:new_entry[2]]))
            sides[new_entry[1]] = sides.get(new_entry[1], 0) | 2
            new = new_entry[2]
    return None if 3 in sides.values() else found


def _common_prefix(first: bytes, second: bytes) -> int:
    """How many leading bytes two byte strings share."""
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first.startswith(second[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


def _boundary_before(data: bytes, offset: int, size: int) -> int | None:
    """The start of the tree entry holding byte `offset` (the end of the object when `offset` is past it)."""
    walked = _walk(data, size)
    if walked is None:
        return None
    starts = walked[1]
    return len(data) if offset >= len(data) else starts[_position(starts, offset + 1) - 1]


WALKED: dict[tuple[bytes, int], tuple[list[bytes], list[int]] | None] = {}
MAX_WALKED = 64


def _walk(data: bytes, size: int) -> tuple[list[bytes], list[int]] | None:
    """Every entry of a tree object: its sort key and start; kept for the process (a hook walks the same trees
    for the staged changes and for the commit's tree)."""
    if (data, size) not in WALKED:
        if len(WALKED) >= MAX_WALKED:
            WALKED.clear()
        WALKED[(data, size)] = _entries(data, size)
    return WALKED[(data, size)]


def _entry_at(data: bytes, position: int, size: int) -> tuple[bytes, bytes, int] | None:
    """The sort key, name and end of the tree entry starting at `position`; None when it cannot be read."""
    nul = data.find(b"\0", position)
    space = data.find(b" ", position, nul)
    if nul < 0 or space < 0 or nul + 1 + size > len(data):
        return None
    name = data[space + 1:nul]
    return (name + b"/" if data[position:space] == b"40000" else name), name, nul + 1 + size


def blob_id(data: bytes, length: int) -> str:
    """The id git gives a blob of these bytes (as `git hash-object` does, no filter applied)."""
    return _digest(length, b"blob")(data)


def _entry(mode: bytes, name: bytes, oid: str) -> tuple[bytes, bytes]:
    """A tree entry's sort key (git orders a folder's name as if it ended with "/") and bytes."""
    mode = mode.lstrip(b"0")
    return (name + b"/" if mode == b"40000" else name), mode + b" " + name + b"\0" + bytes.fromhex(oid)


def _digest(length: int, kind: bytes = b"tree") -> Callable[[bytes], str]:
    """How git names an object of this kind with these bytes, in a repository whose ids have `length` hex digits."""
    name = object_digest(length)
    return lambda body: name(kind + b" %d\0" % len(body) + body)


def object_digest(length: int) -> Callable[[bytes], str]:
    """How git names an object from its header and bytes, in a repository whose ids have `length` hex digits (the
    interpreter's own SHA modules: `hashlib` loads OpenSSL, which costs a hook more than the hashing)."""
    module, name = ("_sha1", "sha1") if length == 40 else ("_sha2" if sys.version_info >= (3, 12) else "_sha256", "sha256")
    try:
        new: Callable[[bytes], Any] = getattr(__import__(module), name)
    except ImportError:  # an interpreter built without them
        import hashlib

        new = getattr(hashlib, name)
    return lambda raw: str(new(raw).hexdigest())
