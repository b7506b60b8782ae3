"""The git merge driver for lock files: a 3-way merge of migration-name sets.

Git calls it with three temporary files (%O ancestor, %A current, %B other) and the path (%P).
It writes the result to %A and nothing else. Anything unexpected falls back to `git merge-file`,
so the user gets git's own conflict, never less than git would give."""
from __future__ import annotations

import os
import re
import subprocess
import sys

NAME = re.compile(r"^\w+$")


def read_names(data: bytes) -> frozenset[str] | None:
    """The names a lock file holds, or None when it is not a plain list of migration names."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not all(NAME.match(name) for name in names):
        return None
    return frozenset(names)


def merge_names(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """(O - removed by A - removed by B) | added by A | added by B, sorted, one per line; None when unsure."""
    o, a, b = (read_names(data) for data in (base, ours, theirs))
    if o is None or a is None or b is None:
        return None
    merged = (o & a & b) | (a - o) | (b - o)
    return "".join(f"{name}\n" for name in sorted(merged)).encode()


def fall_back(base: str, ours: str, theirs: str) -> int:
    """git's own text merge, conflict markers included; non-zero when it conflicts."""
    try:
        done = subprocess.run(["git", "merge-file", "-L", "ours", "-L", "base", "-L", "theirs", ours, base, theirs])
    except OSError as error:
        print(f"migguard: git merge-file could not run ({error}); the file is left as it was", file=sys.stderr)
        return 1
    return 1 if done.returncode != 0 else 0


def write_result(target: str, data: bytes) -> str | None:
    """Replace `target` by `data` all at once (a new file renamed over it); the reason when it cannot.

    %A is git's own temporary file: it is replaced, never written through a link or left half written."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(target))
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".migguard-merge-")
    except OSError as error:
        return error.strerror or str(error)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        if os.path.exists(target):
            if not os.access(target, os.W_OK):
                raise PermissionError(13, "it is read-only")
            os.chmod(temporary, os.stat(target).st_mode & 0o7777)
        os.replace(temporary, target)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        return error.strerror or str(error)
    return None


def main(arguments: list[str]) -> int:
    if len(arguments) < 3:
        print("migguard merge-driver: usage: merge-driver O A B [P]", file=sys.stderr)
        return 2
    base, ours, theirs = arguments[:3]
    path = arguments[3] if len(arguments) > 3 else ours
    if os.environ.get("MIGGUARD") == "0":
        return fall_back(base, ours, theirs)
    try:
        with open(base, "rb") as b, open(ours, "rb") as a, open(theirs, "rb") as t:
            current = a.read()
            merged = merge_names(b.read(), current, t.read())
    except OSError:
        merged, current = None, b""
    if merged is None:
        return fall_back(base, ours, theirs)
    problem = write_result(ours, merged)
    if problem is not None:
        print(f"migguard: cannot write the merged {path} ({problem}); git's own text merge decides instead", file=sys.stderr)
        return fall_back(base, ours, theirs)
    names = merged.decode().split()
    quiet = os.environ.get("MIGGUARD_QUIET", "") not in ("", "0")
    if len(names) > 1 and len(read_names(current) or ()) <= 1 and not quiet:  # once per merge or rebase, not per replayed commit
        lead = "\n" if "rebase" in os.environ.get("GIT_REFLOG_ACTION", "") or "GIT_CHERRY_PICK_HELP" in os.environ else ""
        print(f"{lead}migguard: {path} now names {len(names)} leaves ({', '.join(names)}); a migguard hook resolves "
              f"them when the merge or rebase completes, else (cherry-pick, revert, hooks off) run `migguard fix`",
              file=sys.stderr)
    return 0
