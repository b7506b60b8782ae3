"""Run a program and collect its output with nothing but `os`: `import subprocess` alone costs a git
hook more than the git commands it runs (it is used only where `os.posix_spawnp` is missing)."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def run_git(args: list[str], cwd: str | Path, input: bytes | None = None,
            env: dict[str, str] | None = None, limit: int | None = None) -> tuple[int, bytes, bytes]:
    """`git ARGS` in `cwd`: (exit status, stdout, stderr), like `subprocess.run(..., capture_output=True)`.

    Without `input`, git's stdin is this process's. Raises OSError when git cannot be started
    (FileNotFoundError for a missing git or `cwd`, as subprocess does). With `limit`, git is killed once it
    has printed more than that many bytes (the status is then negative, as for any signal)."""
    if not hasattr(os, "posix_spawnp"):
        import subprocess

        done = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env)
        return done.returncode, done.stdout, done.stderr
    if not os.path.isdir(cwd):  # what subprocess raises for such a `cwd`
        raise (NotADirectoryError(20, "Not a directory", str(cwd)) if os.path.exists(cwd)
               else FileNotFoundError(2, "No such file or directory", str(cwd)))
    import select

    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    in_read, in_write = os.pipe() if input is not None else (-1, -1)
    actions: list[tuple[int, int, int]] = [(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_DUP2, err_write, 2)]
    if in_read >= 0:
        actions.append((os.POSIX_SPAWN_DUP2, in_read, 0))
    # subprocess restores these in the child; an ignored SIGPIPE would otherwise stay ignored in git
    default = _default_signals()
    opened = {out_read, out_write, err_read, err_write} | ({in_read, in_write} if in_read >= 0 else set())
    try:
        pid = os.posix_spawnp("git", ["git", "-C", os.fspath(cwd), *args], os.environ if env is None else env,
                              file_actions=actions, setsigdef=default)
    except BaseException:
        for descriptor in opened:
            os.close(descriptor)
        raise
    for descriptor in (out_write, err_write, in_read):
        if descriptor >= 0:
            os.close(descriptor)
            opened.discard(descriptor)
    chunks: dict[int, list[bytes]] = {out_read: [], err_read: []}
    pending = memoryview(input or b"")
    try:
        poller = select.poll()
        poller.register(out_read, select.POLLIN)
        poller.register(err_read, select.POLLIN)
        if in_write >= 0:
            if pending:
                os.set_blocking(in_write, False)
                poller.register(in_write, select.POLLOUT)
            else:
                os.close(in_write)
                opened.discard(in_write)
        while opened:
            for descriptor, _ in poller.poll():
                if descriptor == in_write:
                    try:
                        pending = pending[os.write(descriptor, pending[:1 << 16]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]
                    if pending:
                        continue
                else:
                    data = os.read(descriptor, 1 << 16)
                    if data:
                        if limit is not None and descriptor == out_read:
                            if limit < len(data):
                                os.kill(pid, __import__("_signal").SIGKILL)  # what is left is read and dropped
                                limit, data = -1, b""
                            limit -= len(data)
                        chunks[descriptor].append(data)
                        continue
                poller.unregister(descriptor)
                os.close(descriptor)
                opened.discard(descriptor)
    finally:
        for descriptor in opened:
            os.close(descriptor)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_read]), b"".join(chunks[err_read])


def _default_signals() -> list[int]:
    """SIGPIPE and the file-size signals, from `signal`'s C half where there is one (`import signal`
    imports `enum`: 4 ms of every git hook)."""
    numbers: object
    try:
        numbers = __import__("_signal")
    except ImportError:
        import signal

        numbers = signal
    return [getattr(numbers, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(numbers, name)]


def git_output(args: list[str], cwd: str | Path) -> bytes | None:
    """What `git ARGS` prints, or None when it fails or cannot run (the caller then takes its full path)."""
    try:
        status, out, _ = run_git(args, cwd)
    except OSError:
        return None
    return out if status == 0 else None
