"""Every file migguard writes goes through here: atomically (a temporary file renamed into place),
never through a symlink that leaves the top directory, never into its `.git`, never over a read-only file."""
from __future__ import annotations

import errno
import os
import stat


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once, at import: os.umask can only be read by setting it, which races with threads


class UnsafePath(OSError):
    """Writing this path would leave the top directory; the message names the path in one sentence."""


def target(top: str | os.PathLike[str], relative: str) -> str:
    """The real file a write to `relative` (below `top`) reaches; UnsafePath when it is not inside `top`."""
    top_real = os.path.realpath(top)
    full = os.path.join(top, relative)
    real = os.path.realpath(full)
    shown = relative.replace(os.sep, "/")
    if os.path.islink(real):
        raise UnsafePath(f"refusing to write {shown}: it is a symlink loop.")
    inside = os.path.relpath(real, top_real)
    parts = inside.split(os.sep)
    if inside == os.pardir or parts[0] == os.pardir or os.path.isabs(inside):
        how = "is a symlink to" if os.path.islink(full) else "resolves to"
        raise UnsafePath(f"refusing to write {shown}: it {how} {real}, outside {top_real}.")
    if ".git" in parts:
        raise UnsafePath(f"refusing to write {shown}: it resolves to {real}, inside git's own directory.")
    return real


def write(top: str | os.PathLike[str], relative: str, data: bytes, create: bool = False, mode: int | None = None,
          durable: bool = True) -> None:
    """Replace the file `relative` below `top` with `data` atomically; `create` fails if anything is there.

    A symlink inside `top` is written through (the link stays a link); an existing file keeps its
    mode, and one without write permission is refused like a plain write would be. `durable`: the bytes reach
    the disk before the file is replaced (not for what can be written again from the rest, as git's own index)."""
    real = target(top, relative)
    full = os.path.join(top, relative)
    if create:
        if os.path.lexists(full):
            raise FileExistsError(errno.EEXIST, "it exists already", relative)
        destination, keep_mode = full, None
    else:
        destination = real
        keep_mode = _writable_mode(real)
    directory = os.path.dirname(destination) or "."
    descriptor, temporary = _temporary_file(directory, f".{os.path.basename(destination)}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None or keep_mode is not None:
            os.chmod(temporary, mode if mode is not None else keep_mode)  # type: ignore[arg-type]
        else:
            os.chmod(temporary, 0o666 & ~UMASK)
        if create:
            os.link(temporary, destination)
        else:
            os.replace(temporary, destination)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _temporary_file(directory: str, prefix: str) -> tuple[int, str]:
    """A new file only this user can read, opened for writing, as `tempfile.mkstemp` makes (whose import
    costs a hook that writes a lock file more than the write)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}.migguard")
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def _writable_mode(real: str) -> int | None:
    """The mode of the existing file at `real` (None when there is none); PermissionError when it is read-only."""
    try:
        status = os.stat(real)
    except FileNotFoundError:
        return None
    if not os.access(real, os.W_OK):
        raise PermissionError(errno.EACCES, "permission denied", real)
    if os.path.isdir(real):
        raise IsADirectoryError(errno.EISDIR, "is a directory", real)
    return status.st_mode & 0o7777


def remove(top: str | os.PathLike[str], relative: str) -> None:
    """Remove the file `relative` (a symlink itself, never its target), below `top` only."""
    parent = os.path.dirname(relative)
    if parent:
        target(top, parent)
    os.unlink(os.path.join(top, relative))


def append_line(top: str | os.PathLike[str], relative: str, line: bytes) -> bool:
    """Add `line` to a text file in its own line-ending style, unless it is there already; True when written."""
    full = os.path.join(top, relative)
    target(top, relative)
    data = read(full)
    lines = (data or b"").splitlines()
    if line in (entry.rstrip() for entry in lines):
        return False
    ending = line_ending(data or b"")
    prefix = data or b""
    if prefix and not prefix.endswith((b"\n", b"\r")):
        prefix += ending
    write(top, relative, prefix + line + ending, create=data is None)
    return True


def line_ending(data: bytes) -> bytes:
    """The line ending a text uses most: CRLF, CR or LF (LF when it has none)."""
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    cr = data.count(b"\r") - crlf
    best = max((crlf, b"\r\n"), (cr, b"\r"), (lf, b"\n"))
    return best[1] if best[0] else b"\n"


def read(full: str) -> bytes | None:
    """The bytes of a regular file, or None when nothing is there (a dangling symlink counts as nothing).

    A FIFO, device or directory raises OSError instead of blocking or reading without end."""
    try:
        descriptor = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", full)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(descriptor)
