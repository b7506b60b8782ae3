"""`check` and `lock`: plain functions the CLI and the hooks call."""
from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from migguard import cache, gitio
from migguard.errors import InputError

if TYPE_CHECKING:
    from migguard.project import Project


def repository_root(path: str | Path) -> Path:
    """The top of the work tree containing `path`, or `path` itself outside git."""
    try:
        return gitio.top_level(path)
    except gitio.GitError:
        return Path(path)


def check_worktree(path: str | Path | None = None) -> dict:
    """Check the migrations below `path` (default: the repository's top) as they are on disk."""
    from migguard.project import load_worktree
    from migguard.report import check_result

    root = Path(path) if path is not None else repository_root(".")
    return check_result(load_worktree(root))


def check_revision(path: str | Path, rev: str, under: str | None = None) -> dict:
    """Check commit `rev` from git objects: the folder `path` is in (`under=""`: the whole repository).

    Answered from the cache when the commit's tree was checked before, or when another commit
    had the same migrations, lock files and configuration (the common case for a new commit)."""
    try:
        common, prefix, tree = gitio.resolve_tree(path, rev)
    except gitio.GitError as error:
        raise InputError(str(error)) from None
    prefix = prefix if under is None else under
    cached = cache.load_result(common, tree, prefix)
    if cached is not None:
        return cached
    from migguard.revision import revision_inputs

    inputs = revision_inputs(path, tree, under=prefix)
    content = "content:" + inputs.content_key()
    result = cache.load_result(common, content, prefix)
    if result is None:
        from migguard.project import load_revision
        from migguard.report import check_result

        result = check_result(load_revision(path, tree, under=prefix, inputs=inputs))
        cache.store_result(common, content, prefix, result)
    cache.store_result(common, tree, prefix, result)
    return result


def write_locks(project: Project, check_only: bool = False, labels: set[str] | None = None) -> list[tuple[str, str, str]]:
    """Bring each app's lock file (or those of `labels`) in step with its one leaf:
    `(path, before, after)` for each change. Apps with several leaves are left alone (`fix`'s work).

    Each file is replaced atomically; nothing is written when any lock file would be written through
    a symlink leaving the work tree (InputError naming it), or cannot be written."""
    from migguard import lockfile, safewrite

    changes: list[tuple[str, str, str]] = []
    if not project.config.lockfile:
        return changes
    for label in sorted(project.apps if labels is None else labels & set(project.apps)):
        leaves = project.leaves(label)
        state = project.lock_state(label)
        if state.ok or len(leaves) != 1:
            continue
        changes.append((project.lock_path(label), state.state, leaves[0]))
    if check_only:
        return changes
    for path, _, _ in changes:
        try:
            safewrite.target(project.root, path)
        except safewrite.UnsafePath as error:
            raise InputError(f"{error} Nothing was written.") from None
    for path, _, leaf in changes:
        try:
            safewrite.write(project.root, path, lockfile.content(leaf).encode())
        except OSError as error:
            raise InputError(f"could not write {path}: {(error.strerror or str(error)).lower()}.") from None
    return changes
