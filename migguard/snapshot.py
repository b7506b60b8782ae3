"""The last work-tree `check`, answered again when nothing it read has changed, with `os` and `marshal` only.

A full `check` of the work tree records what it depended on: the signature (size, times, inode, device)
of every folder it listed, of the configuration files, and of every file it read (each known by its blob
id through the work-tree index, whose racy-clean rule it passed). When every one of these signatures is
the same again, so are the listings and the contents, and so is the answer. A folder or configuration
file changed within RACY_NS of that check is not trusted: then no snapshot is written at all."""
from __future__ import annotations

import marshal
import os
import struct

from migguard import __version__, results
from migguard.processes import run_git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RACY_NS = 2_000_000_000
CONFIG_FILES = ("pyproject.toml", "setup.cfg")
FORMAT = 3
_ASKED: set[str] = set()  # work trees whose snapshot this process looked at
PACKED = struct.Struct("<qqqQQ")  # a file's signature: size, mtime_ns, ctime_ns, inode, device


def signature(path: str, follow: bool = False) -> tuple[int, int, int, int, int] | None:
    """`files.signature` of `path` (of what a link points to when `follow`: the configuration is read through
    one), or None when it does not exist."""
    try:
        status = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)


def path_for(common_dir: str, root_real: str) -> str:
    import zlib

    name = f"worktree-{__version__}-{zlib.crc32(root_real.encode('utf-8', 'surrogateescape')):08x}.snapshot"
    return os.path.join(common_dir, "migguard", name)


def record(root: str, started_ns: int, folders: list[str], files: dict[str, tuple[int, int, int, int, int]],
           result: dict[str, Any]) -> None:
    """Keep `result` with what it was computed from: `folders` (absolute paths) as listed, and `files`
    (absolute path -> the signature under which its blob id was known). Nothing is kept when a folder or
    configuration file changed too recently to trust its signature, or when anything cannot be read."""
    if not os.path.isabs(root):  # the paths kept must not depend on the folder a later run starts in
        return
    root_real = os.path.realpath(root)
    common = results.find_common_dir(root_real)
    if common is None:
        return
    watched = [*folders, *[os.path.join(root, name) for name in CONFIG_FILES]]
    signatures = _signatures(watched, len(folders))
    if any(found is not None and max(found[1], found[2]) >= started_ns - RACY_NS for found in signatures):
        return
    if any(found is None for found in signatures[:len(folders)]):
        return
    grouped: dict[str, tuple[list[str], list[bytes]]] = {}
    try:
        for path, found in files.items():
            folder, _, name = path.rpartition(os.sep)
            names, packed = grouped.setdefault(folder, ([], []))
            names.append(name)
            packed.append(PACKED.pack(*found))
    except struct.error:
        return
    data = marshal.dumps((FORMAT, root_real, watched, signatures,
                          [(folder, names, b"".join(packed)) for folder, (names, packed) in grouped.items()], result))
    path = path_for(common, root_real)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass


def _signatures(watched: list[str], folders: int) -> list[tuple[int, int, int, int, int] | None]:
    """The signatures of the first `folders` paths (folders), then of the configuration files (followed)."""
    return [signature(path, follow=index >= folders) for index, path in enumerate(watched)]


def cached_worktree(cwd: str) -> dict[str, Any] | None:
    """`check`'s result for the whole work tree holding `cwd` when nothing it depends on changed since it was
    recorded (one git call and a stat of each file); None when anything differs or fails."""
    try:
        status, out, _ = run_git(["rev-parse", "--show-toplevel"], cwd)
    except OSError:
        return None
    root = out.decode("utf-8", "surrogateescape").rstrip("\n")
    if status != 0 or not root or "\n" in root:
        return None
    return answer(root)


def answer(root: str) -> dict[str, Any] | None:
    """The snapshot's result for the whole work tree at `root` (its top) when nothing it depends on changed
    (asked once per process: after a miss, the full check reads everything anyway)."""
    root_real = os.path.realpath(root)
    if root_real in _ASKED:
        return None
    _ASKED.add(root_real)
    common = results.find_common_dir(root_real)
    if common is None:
        return None
    try:
        with open(path_for(common, root_real), "rb") as stream:
            loaded = marshal.loads(stream.read())
        version, recorded_root, watched, signatures, grouped, result = loaded
    except Exception:  # noqa: BLE001 - absent, truncated, from another version: a miss
        return None
    if version != FORMAT or recorded_root != root_real or not isinstance(result, dict):
        return None
    if _signatures(watched, len(watched) - len(CONFIG_FILES)) != signatures:
        return None
    for folder, names, expected in grouped:
        if not _same_files(folder, names, expected):
            return None
    return result if results.usable(result) else None


def _same_files(folder: str, names: list[str], expected: bytes) -> bool:
    """Whether the files `names` of `folder` have the signatures `expected` (packed one after the other), each
    looked up from the open folder (a shorter path for the kernel to resolve than the file's own)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    pack = PACKED.pack
    found = []
    try:
        for name in names:
            status = os.lstat(name, dir_fd=descriptor)
            found.append(pack(status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev))
    except (OSError, struct.error):
        return False
    finally:
        os.close(descriptor)
    return b"".join(found) == expected
