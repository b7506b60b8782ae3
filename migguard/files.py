"""Read work-tree files safely: regular files inside the repository only, never more than a bound."""
from __future__ import annotations

import errno
import os
import stat

MAX_BYTES = 1_000_000
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class Unreadable(Exception):
    """The file cannot or must not be read; the message completes a sentence starting with its path."""


Signature = tuple[int, int, int, int, int]


def signature(status: os.stat_result) -> Signature:
    """What changes whenever the file's content can have changed (size, times, inode)."""
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev)


def inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def _check(status: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise Unreadable(f"is {_kind(status.st_mode)}, not a regular file; not read")
    if status.st_size > limit:
        raise Unreadable(f"is {status.st_size:,} bytes, over migguard's limit of {limit:,}; not read")


def follow(path: str, root_real: str, limit: int = MAX_BYTES) -> tuple[os.stat_result, str | None]:
    """The status of the file `path` names, and what to report though it can be read: a symlink to a
    regular file outside the repository (Django reads it; migguard reads it within the bound and
    reports it). Anything else leaving the repository is not read."""
    try:
        status = os.lstat(path)
    except OSError as error:
        raise Unreadable(f"cannot be read ({error.strerror})") from None
    if not stat.S_ISLNK(status.st_mode):
        return status, None
    try:
        status = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Unreadable("is a symlink loop") from None
        if error.errno == errno.ENOENT:
            raise Unreadable(f"is a dangling symlink (to {os.readlink(path)})") from None
        raise Unreadable(f"cannot be read ({error.strerror})") from None
    target = os.path.realpath(path)
    if inside(target, root_real):
        return status, None
    if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
        raise Unreadable(f"is a symlink to {target}, outside the repository; not read")
    return status, f"is a symlink to {target}, outside the repository; keep migrations inside it"


def read_bounded(path: str, root_real: str, limit: int = MAX_BYTES) -> tuple[bytes, os.stat_result, str | None]:
    """The whole file, if it is a regular file of at most `limit` bytes; and what to report about it."""
    status, note = follow(path, root_real, limit)
    _check(status, limit)
    try:
        descriptor = os.open(path, OPEN_FLAGS)
    except OSError as error:
        raise Unreadable(f"cannot be read ({error.strerror})") from None
    try:
        status = os.fstat(descriptor)
        _check(status, limit)
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, max(status.st_size, 65536)))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise Unreadable(f"cannot be read ({error.strerror})") from None
    finally:
        os.close(descriptor)
    if len(data) > limit:
        raise Unreadable(f"is over migguard's limit of {limit:,} bytes; not read")
    return data, status, note
