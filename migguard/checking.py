"""`check` and `lock`: plain functions the CLI and the hooks call."""
from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING, Any

from migguard import cache, gitio
from migguard.errors import InputError
from migguard.results import SCHEMA_VERSION

if TYPE_CHECKING:
    from migguard.project import Project


def repository_root(path: str | Path = ".") -> Path:
    """The top of the work tree containing `path`; InputError outside git (nothing is read then)."""
    try:
        return gitio.top_level(path)
    except gitio.GitError:
        where = Path(path).resolve()
        raise InputError(f"{where} is not inside a git repository; run migguard inside one "
                         f"(`migguard check PATH` checks a folder outside git).") from None


def revision_root() -> str:
    """Where `check --rev` reads from with no PATH: the top of the work tree, or "." in a bare repository
    (outside git, `check_revision` then says so having read nothing)."""
    try:
        return str(gitio.top_level("."))
    except gitio.GitError:
        return "."


def locate(path: str | Path | None) -> tuple[Path, str]:
    """Where to read and which part: (repository top, folder below it) inside git, (PATH, "") outside.

    With no PATH, outside git is an InputError; an explicit folder outside git is read as it is."""
    if path is None:
        return repository_root("."), ""
    if not Path(path).is_dir():
        raise InputError(f"{path} is not a directory.")
    try:
        top = gitio.top_level(path)
    except gitio.GitError:
        return Path(path), ""
    under = os.path.relpath(Path(path).resolve(), top.resolve()).replace(os.sep, "/")
    return top, "" if under == "." else under


def check_worktree(path: str | Path | None = None) -> dict[str, Any]:
    """Check the migrations below `path` (default: the whole repository) as they are on disk.

    Paths in the result are relative to the repository's top (to PATH outside git)."""
    from migguard.project import checked_worktree

    root, under = locate(path)
    return checked_worktree(root, under)


def check(path: str | None, rev: str | None) -> dict[str, Any]:
    """`migguard check [--rev REV] [PATH]`: commit `rev` (below PATH, else the whole repository), else the work tree."""
    if rev:
        return check_revision(path or ".", rev, under=None if path else "")
    return check_worktree(path)


def check_revision(path: str | Path, rev: str, under: str | None = None) -> dict[str, Any]:
    """Check commit `rev` from git objects: the part below `path` (`under=""`: the whole repository).

    Answered from the cache when the commit's tree was checked before, or when another commit
    had the same migrations, lock files and configuration (the common case for a new commit)."""
    try:
        common, prefix, tree = gitio.resolve_tree(path, rev)
    except gitio.GitError as error:
        raise InputError(str(error)) from None
    prefix = prefix if under is None else under
    cached = cache.load_result(common, tree, prefix)
    if cached is not None and cached.get("version") == SCHEMA_VERSION:
        return cached
    if prefix == "":
        from migguard import incremental

        found = incremental.check(path, common, tree, rev)
        if found is not None:
            cache.store_result(common, tree, prefix, found)
            return found
    from migguard.revision import revision_inputs

    inputs = revision_inputs(path, tree, under=prefix)
    content = "content:" + inputs.content_key()
    result = cache.load_result(common, content, prefix)
    if result is None or result.get("version") != SCHEMA_VERSION:
        from migguard.project import load_revision_projects
        from migguard.report import check_results

        projects = load_revision_projects(path, tree, under=prefix, inputs=inputs)
        result = check_results(projects)
        cache.store_result(common, content, prefix, result)
        if prefix == "":
            from migguard import incremental

            incremental.remember(common, [content, tree], incremental.facts(projects, [p.path for p in inputs.packages]))
    elif prefix == "":
        from migguard import incremental

        incremental.remember(common, [tree], incremental.recalled(common, content))
    cache.store_result(common, tree, prefix, result)
    return result


def write_locks(project: Project, check_only: bool = False, labels: set[str] | None = None) -> list[tuple[str, str, str]]:
    """Bring each app's lock file (or those of `labels`) in step with its one leaf:
    `(path, before, after)` for each change. Apps with several leaves are left alone (`fix`'s work).

    Each file is replaced atomically; nothing is written when any lock file would be written through
    a symlink leaving the work tree (InputError naming it), or cannot be written."""
    changes: list[tuple[str, str, str]] = []
    if not project.config.lockfile:
        return changes
    for label in sorted(project.apps if labels is None else labels & set(project.apps)):
        leaves = project.leaves(label)
        state = project.lock_state(label)
        if state.ok or len(leaves) != 1:
            continue
        changes.append((project.lock_path(label), state.state, leaves[0]))
    if not check_only:
        from migguard.lockwrite import write_lock_files

        write_lock_files(project.root, [(path, leaf) for path, _, leaf in changes])
    return changes


