"""The tree `git commit` is about to commit, as the index records it for itself (its cache tree, which `git
commit` brings up to date and writes just before the pre-commit hook runs), read from the end of the index file
without starting git; and the changes from HEAD to it, read from loose objects. Anything unusual (no valid
record for every entry, a split index, a record that cannot be framed exactly) gives None, and the caller asks
git (`git diff-index --cached`)."""
from __future__ import annotations

import os

from migguard import loose

TYPE_CHECKING = False
if TYPE_CHECKING:
    from migguard.changes import Change

TAILS = (64 << 10, 4 << 20)  # how much of the index's end is read for its extensions: this first, then at most that
VERSIONS = (2, 3, 4)


def staged_changes(root: str) -> list[Change] | None:
    """What `git diff-index --cached -r --raw --no-renames HEAD` prints, from the index's record of its tree; None
    when the record is not plainly there and valid, or the objects are not loose."""
    dirs = loose.git_dirs(root)
    head = loose.tree_of(*dirs, "HEAD") if dirs is not None else None  # read once: `loose` keeps what it read
    if dirs is None or head is None or _split(dirs):
        return None
    index = os.path.join(root, os.environ["GIT_INDEX_FILE"]) if os.environ.get("GIT_INDEX_FILE") else \
        os.path.join(dirs[0], "index")
    tree = recorded_tree(index, len(head) // 2)
    return loose.tree_changes(root, "HEAD", tree) if tree is not None else None


def recorded_tree(index: str, size: int) -> str | None:
    """The tree id an index file records for all its entries (its TREE extension's top entry), ids being `size`
    bytes long; None when it records none, an invalid one, or one for fewer entries than it holds."""
    try:
        descriptor = os.open(index, os.O_RDONLY)
    except OSError:
        return None
    try:
        length = os.fstat(descriptor).st_size
        header = os.pread(descriptor, 12, 0)
        for tail_length in TAILS:
            start = max(12, length - tail_length)
            tail = os.pread(descriptor, length - start, start)
            found = _in_tail(header, tail, length - start, size)
            if found is not None or start == 12:
                return found
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return None


def _in_tail(header: bytes, tail: bytes, expected: int, size: int) -> str | None:
    """`recorded_tree` from the index's header and the last `expected` bytes of it."""
    if len(header) != 12 or header[:4] != b"DIRC" or int.from_bytes(header[4:8], "big") not in VERSIONS \
            or len(tail) != expected or len(tail) < size:
        return None
    entries = int.from_bytes(header[8:12], "big")
    end = len(tail) - size  # the index's own checksum follows its extensions
    position = tail.rfind(b"TREE", 0, end)
    while position >= 0:  # the last extension framed exactly up to the checksum, its top entry valid for all
        found = _top_tree(tail, position, end, size, entries)
        if found is not None:
            return found
        position = tail.rfind(b"TREE", 0, position)
    return None


def _top_tree(tail: bytes, position: int, end: int, size: int, entries: int) -> str | None:
    """The top tree of a TREE extension starting at `position`, when the extensions from there are framed exactly
    up to `end` and its top entry (an empty path) is valid for `entries` entries."""
    if position + 8 > end:
        return None
    data_end = position + 8 + int.from_bytes(tail[position + 4:position + 8], "big")
    following = data_end
    while following < end:  # each further extension: a four-letter signature, a size, its data
        if following + 8 > end or not tail[following:following + 4].isalpha():
            return None
        following += 8 + int.from_bytes(tail[following + 4:following + 8], "big")
    if following != end or data_end > end or tail[position + 8:position + 9] != b"\0":
        return None
    line_end = tail.find(b"\n", position + 9, data_end)
    counts = tail[position + 9:line_end].split(b" ") if line_end >= 0 else []
    if len(counts) != 2 or not all(count.isdigit() for count in counts) or int(counts[0]) != entries \
            or line_end + 1 + size > data_end:
        return None
    return tail[line_end + 1:line_end + 1 + size].hex()


def _split(dirs: tuple[str, str]) -> bool:
    """Whether this work tree's index may be split (`core.splitIndex`): its entries then lie in two files."""
    try:
        return any(name.startswith("sharedindex.") for folder in set(dirs) for name in os.listdir(folder))
    except OSError:
        return True
