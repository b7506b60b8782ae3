"""`max_migration.txt`: the name of an app's one leaf and a newline."""
from __future__ import annotations

import re
from typing import NamedTuple

from migguard.lockwrite import content as content
from migguard.reader import CONFLICT_MARKER

NAME = re.compile(r"^\w+$")


class LockState(NamedTuple):
    """`state` is one of ok, missing, stale, pending, conflicted, unknown, invalid, off, unreadable,
    unchecked (a migration of the app could not be read: its error is reported, the lock file is left alone)."""

    state: str
    names: tuple[str, ...]
    detail: str
    line: int = 1

    @property
    def ok(self) -> bool:
        return self.state in ("ok", "off", "unchecked")


def parse(data: bytes) -> tuple[str, ...] | LockState:
    """The names a lock file holds, or the state saying why it cannot be read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return LockState("invalid", (), "is not UTF-8 text")
    marker = CONFLICT_MARKER.search(text)
    if marker:
        line = text.count("\n", 0, marker.start()) + 1
        return LockState("conflicted", (), "holds git conflict markers", line)
    names = []
    for number, line_text in enumerate(text.splitlines(), 1):
        name = line_text.strip()
        if not name:
            continue
        if not NAME.match(name):
            return LockState("invalid", (), f"line {number} is not a migration name: {name[:40]!r}", number)
        names.append(name)
    if not names:
        return LockState("invalid", (), "is empty")
    return tuple(names)


def state(data: bytes | None, leaves: list[str], existing: set[str], enabled: bool = True) -> LockState:
    """Compare a lock file's content with the app's leaves."""
    if not enabled:
        return LockState("off", (), "lock files are turned off")
    if data is None:
        return LockState("missing", (), "is missing; `migguard fix` (or `migguard lock`) writes it")
    names = parse(data)
    if isinstance(names, LockState):
        return names
    if len(names) > 1:
        return LockState("pending", names, f"names {len(names)} migrations ({', '.join(names)}); run `migguard fix`")
    (name,) = names
    if name not in existing:
        return LockState("unknown", names, f"names {name}, which does not exist")
    if leaves != [name]:
        return LockState("stale", names, f"names {name}, but the leaf is {', '.join(leaves)}")
    return LockState("ok", names, "ok")
