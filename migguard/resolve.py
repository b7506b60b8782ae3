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
    move: "Move | None" = None
    not_renumbered: str = ""


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


class Move(NamedTuple):
    """One app's renumbering as plain values: what it renames and which migrations get a new parent."""

    app: str
    package: str
    renames: dict[Key, str]
    roots: list[Key]
    outside_parents: frozenset[str]
    upstream_leaf: str
    new_leaf: str


class Renumbering:
    """Every app's move at once: one rewrite of each file with every rename and new parent applied."""

    def __init__(self, moves: list[Move]) -> None:
        self.moves = moves
        self.renames: dict[Key, str] = {key: new for move in moves for key, new in move.renames.items()}
        self.repoints = {key: (move.app, set(move.outside_parents), move.upstream_leaf) for move in moves for key in move.roots}
        self.packages = {move.app: move.package for move in moves}
        self.old_names = sorted({name for _, name in self.renames})

    def touches(self, key: Key, text: str) -> bool:
        return key in self.renames or key in self.repoints or any(name in text for name in self.old_names)

    def new_name(self, key: Key) -> str:
        return self.renames.get(key, key[1])

    def rewrite(self, key: Key, text: str) -> str:
        """`text` of migration `key` with every reference to a renamed migration followed (raises RewriteError)."""
        if not self.touches(key, text):
            return text
        return rewrite.rewrite_references(text, self.renames, self.repoints.get(key))


def plan_renumber(project: Project, label: str, upstream_leaf: str, published: set[str] = frozenset()) -> Plan:
    """Move the branch's chain after `upstream_leaf`: renamed, re-pointed, every reference followed."""
    move = renumber_move(project, label, upstream_leaf, published)
    moved = ", ".join(f"{old[1]} -> {new}" for old, new in move.renames.items())
    plan = Plan(label, "renumber", [], [(old[1], new) for old, new in move.renames.items()],
                f"{label}: renumbered after {upstream_leaf}: {moved}", move)
    return compose(project, [plan])[0]


def renumber_move(project: Project, label: str, upstream_leaf: str, published: set[str] = frozenset()) -> Move:
    """Which of the app's migrations move where, or a Refusal saying why they cannot."""
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
    outside = frozenset(name for key in roots for (app, name) in graph.parents[key]
                        if app == label and (app, name) not in moving_set)
    new_leaf = renames.get(branch_leaves[0], branch_leaves[0][1])
    return Move(label, package, renames, roots, outside, upstream_leaf, new_leaf)


def compose(project: Project, plans: list[Plan]) -> list[Plan]:
    """The renumber plans' file changes computed together: each file rewritten once with every app's
    renames applied (a branch migration of one app may depend on the branch migration of another).

    A file is listed in the plan of the app that holds it, else in the first plan whose renames it follows."""
    moves = [plan.move for plan in plans if plan.move is not None]
    if not moves:
        return plans
    renumbering = Renumbering(moves)
    owned: dict[str, list[Change]] = {plan.app: [] for plan in plans}
    for app_label, app in sorted(project.apps.items()):
        for name in sorted(app.files):
            key = (app_label, name)
            path = project.file_of(key)
            text = _read(project, path)
            if not renumbering.touches(key, text):
                continue
            try:
                after = renumbering.rewrite(key, text)
            except rewrite.RewriteError as error:
                raise Refusal(f"{path} {error}") from None
            new_name = renumbering.new_name(key)
            if new_name != name:
                change = Change(f"{app.path}/{new_name}.py".lstrip("/"), after, text, path)
            elif after != text:
                change = Change(path, after, text)
            else:
                continue
            holder = app_label if app_label in owned else next(
                (move.app for move in moves if any(old in text for (_, old) in move.renames)), moves[0].app)
            owned[holder].append(change)
    composed = []
    for plan in plans:
        if plan.move is None:
            composed.append(plan)
            continue
        changes = owned[plan.app] + _lock_change(project, plan.app, plan.move.new_leaf)
        composed.append(plan._replace(changes=changes))
    return composed


def check_plans(project: Project, plans: list[Plan]) -> str | None:
    """What `apply` would find, worked out in memory: None when every planned app ends with one leaf
    and no new problem appears; else why not. `fix --dry-run` answers with it."""
    from migguard import graph as graph_module, reader

    labels = {app.path: label for label, app in project.apps.items()}
    migrations = dict(project.migrations)
    for plan in plans:
        for change in plan.changes:
            for path in (change.old_path, change.path):
                if path and path.endswith(".py"):
                    folder, _, file = path.rpartition("/")
                    if folder in labels:
                        migrations.pop((labels[folder], file[:-3]), None)
        for change in plan.changes:
            folder, _, file = change.path.rpartition("/")
            if change.path.endswith(".py") and folder in labels:
                source = reader.read_full(change.after)
                fatal = [problem for problem in source.problems if problem.fatal]
                if fatal:
                    return f"the result would not load: {change.path} {fatal[0].message}"
                migrations[(labels[folder], file[:-3])] = source
    _, before_errors = graph_module.build(project.migrations)
    graph, errors = graph_module.build(migrations)
    known = {(error.key, error.message) for error in before_errors}
    new = [error for error in errors if (error.key, error.message) not in known]
    if new:
        error = new[0]
        return f"the result would not load: {project.file_of(error.key)} {error.message}"
    for plan in plans:
        leaves = [name for _, name in graph.leaf_nodes(plan.app)]
        if len(leaves) != 1:
            return f"app {plan.app!r} would still have {len(leaves)} leaves ({', '.join(leaves)})"
    return None


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
    after = load_worktree(root, before.config)
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
