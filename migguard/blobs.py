"""Blobs read by id with `git cat-file`, with nothing but `os` (the hooks' quick paths use it)."""
from __future__ import annotations

from migguard.processes import run_git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def parse_sizes(out: bytes) -> dict[str, int]:
    """What `git cat-file --batch-check` printed: each blob's size; missing ones left out."""
    sizes = {}
    for line in out.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            sizes[parts[0]] = int(parts[2])
    return sizes


def parse_contents(out: bytes, oids: list[str]) -> dict[str, bytes]:
    """What `git cat-file --batch` printed for `oids`, in that order: each blob's bytes; missing ones left out."""
    return {name: data for name, (_, data) in parse_objects(out, oids).items()}


def parse_objects(out: bytes, names: list[str]) -> dict[str, tuple[str, bytes]]:
    """What `git cat-file --batch` printed for `names`, in that order: each object's kind and bytes; names git
    could not find (or answered oddly) left out."""
    found: dict[str, tuple[str, bytes]] = {}
    position = 0
    for name in names:
        header_end = out.find(b"\n", position)
        if header_end < 0:
            break
        header = out[position:header_end].split()
        if len(header) != 3 or not header[2].isdigit():
            position = header_end + 1
            continue
        size = int(header[2])
        found[name] = (header[1].decode("ascii", "replace"), out[header_end + 1 : header_end + 1 + size])
        position = header_end + 1 + size + 1
    return found


def read_objects(cwd: str | Path, names: list[str], limit: int) -> dict[str, tuple[str, bytes]] | None:
    """Each object's kind and bytes by the name asked (an id, or `<tree>:<path>`), with one git call; names git
    cannot find are left out. None when one is larger than `limit` (git is stopped once it has printed more than
    all of them could hold), a name holds a newline, or git fails."""
    if not names:
        return {}
    if any("\n" in name for name in names):
        return None
    status, out, _ = run_git(["cat-file", "--batch", "--buffer"], cwd, input="".join(f"{name}\n" for name in names).encode(),
                             limit=len(names) * (limit + 200))
    found = parse_objects(out, names) if status == 0 else None
    return None if found is None or any(len(data) > limit for _, data in found.values()) else found


def read_small(cwd: str | Path, oids: list[str], limit: int, common_dir: str | None = None) -> dict[str, bytes] | None:
    """The bytes of each blob when every one of them exists and is at most `limit` bytes: loose objects read from
    `common_dir` when given, the others with one git call; None otherwise, or when git fails."""
    known: dict[str, tuple[str, bytes]] = {}
    if common_dir is not None:
        from migguard.loose import read_object

        known = {oid: loose for oid in oids if (loose := read_object(common_dir, oid)) is not None}
    read = read_objects(cwd, [oid for oid in oids if oid not in known], limit)
    if read is None:
        return None
    read.update(known)
    if not all(oid in read and read[oid][0] == "blob" and len(read[oid][1]) <= limit for oid in oids):
        return None
    return {oid: read[oid][1] for oid in oids}
