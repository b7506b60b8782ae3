"""A hook's two common cases with work to do, answered from cached results with `os`, `marshal` and a few git
calls, by the full hook's own rules: a merge or fast-forward that brought migrations and left one leaf per app
(`merged_clean`), and a commit adding migrations whose lock files must follow (`locks_followed`).

Each answers True only when the full hook would do no more (and print no more); False, having changed
nothing in the repository, when that is not certain: the full hook then decides. The result of `check --rev
HEAD` comes from the cache, or follows from a first-parent ancestor's (`incremental`) and is cached then."""
from __future__ import annotations

import os
import sys

from migguard import incremental, results

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from migguard.changes import Change


def head_result(root: str, common: str, from_first_parent: list[Change] | None = None,
                ) -> tuple[str, dict[str, Any]] | None:
    """HEAD's tree and its `check --rev` result: cached, else following from a first-parent ancestor's (then
    cached); None when neither. `from_first_parent`: the changes from HEAD's first parent to HEAD, if known.
    HEAD and its parent are read from loose objects where they are, else git lists the first parents."""
    from migguard import loose

    loaded: dict[str, dict[str, Any] | None] = {}

    def cached(tree: str) -> dict[str, Any] | None:
        if tree not in loaded:
            loaded[tree] = results.load(common, tree, "")
        return loaded[tree]

    trees = loose.first_parent_trees(root, 1)  # HEAD alone first: it is most often cached already
    if not (trees and cached(trees[0]) is not None):
        trees = loose.first_parent_trees(root, 2)
        if not (len(trees) == 2 and cached(trees[1]) is not None):
            trees = incremental.first_parent_trees(root, "HEAD", incremental.ANCESTORS + 1) or []
    if not trees:
        return None
    head = trees[0]
    result = cached(head)
    if result is not None:
        return (head, result) if result.get("version") == results.SCHEMA_VERSION else None
    base = incremental.cached_tree(common, trees[1:], len(head))
    if base is None:
        return None
    found = incremental.from_parent(root, common, base, head, from_first_parent if base == trees[1] else None)
    if found is None:
        return None
    results.store(common, head, "", found)
    return head, found


def merged_clean(root: str, from_first_parent: list[Change] | None = None) -> bool:
    """After a merge or a fast-forward: HEAD has one leaf per app, so post-merge has nothing to resolve or say."""
    common = results.find_common_dir(root)
    found = head_result(root, common, from_first_parent) if common else None
    return found is not None and found[1].get("conflicts") == [] and all(
        len(app["leaves"]) <= 1 for app in found[1]["apps"])


MAX_FOLDERS = 64  # a commit changing more folders leaves its result to the next hook; more added files are read later


def locks_followed(root: str, staged: list[Change]) -> bool:
    """Before a commit that only adds migrations to a clean, checked HEAD: each changed app's lock file written
    with its new leaf and staged, found from HEAD's result and the staged files alone (`staged`: the changes
    from HEAD to the index), and the result cached by the tree the
    commit will have. False when that is not certain: nothing was written then, or (when git could not
    stage them) only the lock files the full hook writes again."""
    from migguard import files, loose, trees

    common = results.find_common_dir(root)
    found = head_result(root, common) if common else None
    if common is None or found is None:
        return False
    head = found[0]
    added = [oid for _, _, oid, status, path in staged if status == "A" and path.endswith(".py")][:MAX_FOLDERS]
    folders = trees.folders([change[4] for change in staged])
    folders = folders if len(folders) <= MAX_FOLDERS else []
    objects = {oid: read for oid in added if (read := loose.read_object(common, oid)) is not None}
    before = trees.read_folders(lambda oid: loose.read_object(common, oid), head, folders) if folders else {}
    names = [oid for oid in added if oid not in objects] + ([trees.object_name(head, f) for f in folders] if before is None else [])
    if names:  # what `git add` and `git commit` just wrote is loose: git is seldom needed
        from migguard.blobs import read_objects

        from_git = read_objects(root, names, files.MAX_BYTES)
        if from_git is None:
            return False
        objects.update(from_git)
    if before is None:
        if any(objects.get(trees.object_name(head, f), ("tree",))[0] != "tree" for f in folders):
            folders = []
        before = {f: objects[trees.object_name(head, f)][1] if trees.object_name(head, f) in objects else None
                  for f in folders}
    followed = incremental.stale_locks(root, common, head, staged,
                                       {oid: objects[oid][1] for oid in added if objects.get(oid, ("",))[0] == "blob"})
    if followed is None:
        return False
    locks, result, facts = followed
    changed = [locks[label] for label in sorted(locks)]
    from migguard.lockwrite import content

    staged = staged + [("", "", trees.blob_id(content(leaf).encode(), len(head)), "M", path) for path, leaf in changed]
    tree = trees.after(before, staged, len(head)) if folders else None
    if tree is not None and tree != head:  # the next hook finds the index's result by the tree `git commit` writes
        results.store(common, incremental.facts_key(tree), "", facts)  # stored before git runs (its work leaves
        results.store(common, tree, "", result)  # the processor's caches cold); true of that tree whatever follows
    if changed:
        from migguard.errors import InputError
        from migguard.lockwrite import write_lock_files
        from migguard.processes import run_git

        try:
            write_lock_files(root, changed)
        except InputError:
            return False  # the full hook says why
        if run_git(["update-index", "--", *(path for path, _ in changed)], root)[0] != 0:  # tracked: `stale_locks`
            return False  # the full hook writes the same again, and says what git said
    if os.environ.get("MIGGUARD_QUIET", "") in ("", "0"):
        for lock_path, leaf in changed:
            print(f"migguard: {lock_path} -> {leaf}", file=sys.stderr)
    return True

