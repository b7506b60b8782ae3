"""Resolve an app with several leaves: plan (plain values), write, verify, or restore everything."""
from __future__ import annotations

import difflib
import os
import time
from pathlib import Path
from typing import NamedTuple

from migguard import gitio, lockfile, rewrite
from migguard.graph import Key, topological
from migguard.project import Project, load_worktree


class Change(NamedTuple):
    """One file as it will be: `old_path` is set when the file moves, `before` is None when it is new."""

    path: str
    after: str
    before: str | None = None
    old_path: str | None = None


class Plan(NamedTuple):
    app: str
    strategy: str
    changes: list[Change]
    renames: list[tuple[str, str]]
    summary: str


class Refusal(Exception):
    """This app cannot be resolved this way; the message says why in one sentence."""


def _read(project: Project, path: str) -> str:
    with open(os.path.join(project.root, path), encoding="utf-8", newline="") as handle:
        return handle.read()


def _lock_change(project: Project, label: str, leaf: str) -> list[Change]:
    if not project.config.lockfile:
        return []
    path = project.lock_path(label)
    full = os.path.join(project.root, path)
    before = _read(project, path) if os.path.exists(full) else None
    after = lockfile.content(leaf)
    return [] if before == after else [Change(path, after, before)]


def plan_merge(project: Project, label: str) -> Plan:
    """A new `NNNN_merge_...` migration depending on every leaf of the app; nothing is renamed."""
    leaves = project.leaves(label)
    if len(leaves) < 2:
        raise Refusal(f"app {label!r} has one leaf; nothing to merge")
    name = rewrite.merge_name(leaves)
    path = f"{project.apps[label].path}/{name}.py".lstrip("/")
    if os.path.exists(os.path.join(project.root, path)):
        raise Refusal(f"{path} exists already; migguard never overwrites a migration")
    changes = [Change(path, rewrite.merge_migration(label, leaves))]
    changes += _lock_change(project, label, name)
    return Plan(label, "merge", changes, [], f"{label}: wrote {path} (merges {', '.join(leaves)})")


def moving_migrations(project: Project, label: str, upstream_leaf: str) -> list[Key]:
    """The branch's migrations of the app: every one that upstream's leaf does not stand on, in graph order."""
    graph = project.graph
    upstream = (label, upstream_leaf)
    if upstream not in graph.nodes:
        raise Refusal(f"upstream's leaf {label}.{upstream_leaf} is not in this work tree")
    behind = graph.ancestors(upstream, label) | {upstream}
    return topological(graph, set(graph.app_nodes(label)) - behind)


def plan_renumber(project: Project, label: str, upstream_leaf: str, published: set[str] = frozenset()) -> Plan:
    """Move the branch's chain after `upstream_leaf`: renamed, re-pointed, every reference followed."""
    graph = project.graph
    moving = moving_migrations(project, label, upstream_leaf)
    if not moving:
        raise Refusal(f"app {label!r} has no migrations of its own after {upstream_leaf}")
    moving_set = set(moving)
    branch_leaves = [key for key in moving if all(c not in moving_set for c in graph.children[key] if c[0] == label)]
    if len(branch_leaves) > 1:
        raise Refusal(f"the branch itself has {len(branch_leaves)} leaves in {label!r} "
                      f"({', '.join(k[1] for k in branch_leaves)}); a merge migration joins them")
    on_remote = sorted(key[1] for key in moving if key[1] in published)
    if on_remote:
        raise Refusal(f"{', '.join(on_remote)} {'is' if len(on_remote) == 1 else 'are'} already on a remote "
                      f"branch, so renaming could break a deployed database")
    start = rewrite.parse_number(upstream_leaf)
    if start is None:
        numbers = [rewrite.parse_number(name) for _, name in graph.app_nodes(label) if (label, name) not in moving_set]
        start = max([n for n in numbers if n is not None], default=0)
    digits = len(upstream_leaf) - len(upstream_leaf.lstrip("0123456789"))
    width = digits or next((len(k[1]) - len(k[1].lstrip("0123456789")) for k in moving if k[1][:1].isdigit()), 4)
    renames = {key: rewrite.renumbered(key[1], start + index, width) for index, key in enumerate(moving, 1)}
    renames = {key: new for key, new in renames.items() if new != key[1]}
    package = project.apps[label].path
    existing = set(project.apps[label].files)
    leaving = {key[1] for key in renames}
    for new in renames.values():
        if new in existing and new not in leaving:
            raise Refusal(f"{package}/{new}.py exists already; migguard never overwrites a migration")
    roots = [key for key in moving if not any(p in moving_set for p in graph.parents[key] if p[0] == label)]
    outside_parents = {name for key in roots for (app, name) in graph.parents[key] if app == label and (app, name) not in moving_set}
    changes = []
    rename_map = dict(renames)
    for app_label, app in sorted(project.apps.items()):
        for name in sorted(app.files):
            key = (app_label, name)
            path = project.file_of(key)
            text = _read(project, path)
            repoint = (label, outside_parents, upstream_leaf) if key in roots else None
            mentions_a_rename = any(old_name in text for _, old_name in rename_map)
            if repoint is None and key not in renames and not mentions_a_rename:
                continue
            try:
                after = rewrite.rewrite_references(text, rename_map, repoint)
            except rewrite.RewriteError as error:
                raise Refusal(f"{path} {error}") from None
            if key in renames:
                changes.append(Change(f"{package}/{renames[key]}.py".lstrip("/"), after, text, path))
            elif after != text:
                changes.append(Change(path, after, text))
    new_leaf = renames.get(branch_leaves[0], branch_leaves[0][1])
    changes += _lock_change(project, label, new_leaf)
    moved = ", ".join(f"{old[1]} -> {new}" for old, new in renames.items())
    return Plan(label, "renumber", changes, [(old[1], new) for old, new in renames.items()],
                f"{label}: renumbered after {upstream_leaf}: {moved}")


def diff(plans: list[Plan]) -> str:
    """The unified diff the plans would apply."""
    chunks = []
    for plan in plans:
        for change in plan.changes:
            before = (change.before or "").splitlines(keepends=True)
            old = change.old_path or change.path
            header = [f"rename from {old}\nrename to {change.path}\n"] if change.old_path else []
            body = difflib.unified_diff(before, change.after.splitlines(keepends=True),
                                        "/dev/null" if change.before is None else f"a/{old}", f"b/{change.path}")
            chunks.append("".join(header) + "".join(body))
    return "".join(chunks)


class Applied(NamedTuple):
    ok: bool
    message: str
    paths: list[str]


def apply(project: Project, plans: list[Plan], stage: bool = True) -> Applied:
    """Write the plans, read the graph again, and keep the result only if every touched app has one leaf.

    On any failure every file is put back byte for byte and nothing is staged."""
    root = project.root
    backup: dict[str, bytes | None] = {}
    touched: list[str] = []

    def remember(path: str) -> None:
        if path not in backup:
            full = os.path.join(root, path)
            backup[path] = Path(full).read_bytes() if os.path.exists(full) else None
            touched.append(path)

    try:
        for plan in plans:
            for change in plan.changes:
                remember(change.path)
                if change.old_path:
                    remember(change.old_path)
        for plan in plans:
            for change in plan.changes:
                if change.old_path:
                    os.remove(os.path.join(root, change.old_path))
            for change in plan.changes:
                with open(os.path.join(root, change.path), "w", encoding="utf-8", newline="") as handle:
                    handle.write(change.after)
        problem = verify(root, plans, project)
    except OSError as error:
        problem = f"could not write: {error}"
    if problem:
        restore(root, backup)
        return Applied(False, problem, [])
    if stage:
        try:
            stage_paths(root, touched)
        except gitio.GitError:
            pass
    return Applied(True, "", touched)


def verify(root: str, plans: list[Plan], before: Project) -> str | None:
    """None when every touched app now has one leaf and no new problem appeared; else why not."""
    after = load_worktree(root, before.config, scope=before.scope)
    old_problems = {issue.message for issue in before.issues if issue.fatal}
    new_problems = [issue.message for issue in after.issues if issue.fatal and issue.message not in old_problems]
    if new_problems:
        return f"the result would not load: {new_problems[0]}"
    for plan in plans:
        leaves = after.leaves(plan.app)
        if len(leaves) != 1:
            return f"app {plan.app!r} would still have {len(leaves)} leaves ({', '.join(leaves)})"
    return None


def restore(root: str, backup: dict[str, bytes | None]) -> None:
    for path, data in backup.items():
        full = os.path.join(root, path)
        if data is None:
            if os.path.exists(full):
                os.remove(full)
        else:
            Path(full).write_bytes(data)


def stage_paths(root: str, paths: list[str]) -> None:
    """Stage the touched files, renames included (git records a move as delete plus add, like `git mv`)."""
    gitio.run(["add", "-A", "--", *paths], root)


def journal(root: str, plans: list[Plan]) -> None:
    """Append each rename to `<git-dir>/migguard/renames.tsv`: time, app, old name, new name."""
    lines = [f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}\t{plan.app}\t{old}\t{new}\n"
             for plan in plans for old, new in plan.renames]
    if not lines:
        return
    try:
        directory = gitio.common_dir(root) / "migguard"
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "renames.tsv", "a", encoding="utf-8") as handle:
            handle.writelines(lines)
    except (gitio.GitError, OSError):
        pass
