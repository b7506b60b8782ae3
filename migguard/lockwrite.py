"""Lock files written: each names its app's one leaf and a newline (`lockfile` reads them). Imports nothing
heavy: the pre-commit hook writes them."""
from __future__ import annotations

from migguard.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def content(leaf: str) -> str:
    return f"{leaf}\n"


def write_lock_files(root: str | Path, locks: list[tuple[str, str]]) -> None:
    """Write each `(path, leaf)` lock file below `root` atomically; nothing at all when any of them would be
    written through a symlink leaving the work tree (InputError naming it)."""
    from migguard import safewrite

    for path, _ in locks:
        try:
            safewrite.target(root, path)
        except safewrite.UnsafePath as error:
            raise InputError(f"{error} Nothing was written.") from None
    for path, leaf in locks:
        try:
            safewrite.write(root, path, content(leaf).encode(), durable=False)  # its app's graph writes it again
        except OSError as error:
            raise InputError(f"could not write {path}: {(error.strerror or str(error)).lower()}.") from None
