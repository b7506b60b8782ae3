"""`fix`: resolve every conflicted app of a work tree. Plain values in and out, for the CLI and the hooks."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from migguard import overlap, resolve
from migguard.errors import InputError
from migguard.project import Project, load_revision, load_worktree


class FixResult(NamedTuple):
    status: int
    lines: list[str]
    plans: list[resolve.Plan]
    unresolved: list[str]
    paths: list[str] = []


class UpstreamLeaves(dict[str, str]):
    """Each app's single leaf in the upstream commit (label -> leaf), as a plain dict; `names`
    maps every app label to all the migration names that commit holds, which renumber never moves."""

    def __init__(self, leaves: dict[str, str], names: dict[str, frozenset[str]]) -> None:
        super().__init__(leaves)
        self.names = names


def upstream_leaves(root: str, ref: str, scope: str | None = None) -> UpstreamLeaves:
    """Each app's single leaf in commit `ref` (apps with several leaves there are left out);
    in a monorepo, those of project folder `scope`."""
    project = load_revision(root, ref, under="", scope=scope)
    found = {}
    for label in project.apps:
        leaves = project.leaves(label)
        if len(leaves) == 1:
            found[label] = leaves[0]
    names = {label: frozenset(app.files) for label, app in project.apps.items()}
    return UpstreamLeaves(found, names)


def default_upstream(root: str) -> str | None:
    """The branch's upstream, else the remote's default branch."""
    from migguard.repository import default_upstream as upstream_of, open_repository

    return upstream_of(open_repository(root))


Decide = Callable[[Project, list[resolve.Plan]], list[resolve.Plan]]


def fix_projects(root: str, strategy: str | None, apps: list[str], onto: str | None,
                 dry_run: bool = False, force: bool = False) -> FixResult:
    """`migguard fix`: `fix` for each project of the repository (one, unless `projects` is configured).

    `strategy` None is the configured merge strategy; renumber moves the branch after `onto`'s
    leaves (default: the branch's upstream, else the remote's default branch)."""
    from migguard.monorepo import qualified
    from migguard.project import load_projects

    projects = load_projects(root, full=True)
    known = {label for project in projects for label in project.apps}
    unknown = sorted(set(apps) - known)
    if unknown:
        raise InputError(f"no app {unknown[0]!r} with migrations here (apps: {', '.join(sorted(known)) or 'none'}).")
    strategy = strategy or projects[0].config.merge_strategy
    ref = None
    if strategy == "renumber":
        ref = onto or default_upstream(root)
        if ref is None:
            raise InputError("cannot tell which side is upstream: pass --onto REF (the branch you rebase onto).")
    results = []
    for project in projects:
        wanted = [label for label in apps if label in project.apps]
        if apps and not wanted:
            continue
        upstream = upstream_leaves(root, ref, project.scope) if ref else None
        result = fix(root, strategy, wanted, upstream, dry_run=dry_run, force=force, project=project)
        if len(projects) > 1:
            result = result._replace(lines=[f"{project.scope or '.'}: {line}" for line in result.lines])
        results.append((project, result))
    if len(results) == 1:
        return results[0][1]
    return FixResult(
        max((result.status for _, result in results), default=0),
        [line for _, result in results for line in result.lines],
        [plan for _, result in results for plan in result.plans],
        [qualified(project.scope, label) for project, result in results for label in result.unresolved],
        sorted(path for _, result in results for path in result.paths),
    )


def fix(root: str, strategy: str = "merge", apps: list[str] | None = None,
        upstream: dict[str, str] | None = None, dry_run: bool = False, force: bool = False,
        stage: bool = True, project: Project | None = None, decide: Decide | None = None) -> FixResult:
    """Resolve the conflicted apps (all, or `apps`) with `strategy`, and repair their lock files.

    `upstream` maps an app label to the other side's leaf; the renumber strategy moves every
    migration of the app that leaf does not stand on. Without it, renumber falls back to merge.
    `decide` may swap renumber plans for merge plans before anything is written (the hooks' say).
    The whole result is checked in memory first, so `--dry-run` fails exactly when the run would."""
    project = project or load_worktree(root, full=True)
    conflicts = project.conflicts()
    unknown = sorted(set(apps or ()) - set(project.apps))
    if unknown:
        raise InputError(f"no app {unknown[0]!r} with migrations here (apps: {', '.join(sorted(project.apps)) or 'none'}).")
    wanted = sorted(set(apps) & set(conflicts) if apps else conflicts)
    lines: list[str] = []
    plans: list[resolve.Plan] = []
    unresolved: list[str] = []
    forced: list[str] = []
    for label in wanted:
        broken = [issue for issue in project.issues
                  if issue.fatal and issue.path.startswith(f"{project.apps[label].path}/".lstrip("/"))]
        if broken:
            lines.append(f"{label}: not resolved: {broken[0].message} (line {broken[0].line}); fix that file first")
            unresolved.append(label)
            continue
        guard = overlap.check_app(project, label)
        lines += [f"{label}: {note}" for note in guard.notes]
        lines += [f"{label}: warning: {warning}" for warning in guard.warnings]
        if guard.collisions and not force:
            lines.append(f"{label}: not resolved: both sides change the same thing "
                         f"(`migguard fix --force` resolves it anyway, once you have checked it):")
            lines += [f"  {collision}" for collision in guard.collisions]
            unresolved.append(label)
            continue
        if guard.collisions:
            forced.append(label)
        try:
            upstream_names = getattr(upstream, "names", {}).get(label, frozenset())
            plans.append(_plan(project, label, strategy, (upstream or {}).get(label), lines, upstream_names))
        except resolve.Refusal as refusal:
            lines.append(f"{label}: not resolved: {refusal}")
            unresolved.append(label)
    plans = _composed(project, plans, lines)
    if decide is not None and plans:
        plans = _composed(project, decide(project, plans), lines)  # an app merged instead renames nothing
    if plans:
        problem = resolve.check_plans(project, plans)
        if problem:
            lines.append(f"not resolved ({', '.join(plan.app for plan in plans)}): {problem}; nothing was changed")
            return FixResult(1, lines, [], sorted({p.app for p in plans} | set(unresolved)))
    locks = _lock_repairs(project, apps, wanted, check_only=True)
    refused = _unsafe_locks(project, locks)
    locks = [lock for lock in locks if lock[0] not in refused]
    if not wanted and not unresolved and not locks and not refused:
        lines.append("nothing to fix: every app has one leaf.")
    lines += [f"not repaired: {message}" for message in refused.values()]
    lock_failed = bool(refused)
    after_force = [f"{label}: resolved although both sides change the same thing: run "
                   f"`python manage.py makemigrations --check` to confirm models and migrations agree"
                   for label in forced if any(plan.app == label for plan in plans)]
    if dry_run:
        lines += [f"would repair {path} ({before}): {leaf}" for path, before, leaf in locks]
        return FixResult(1 if unresolved or lock_failed else 0, lines, plans, unresolved)
    paths: list[str] = []
    if plans:
        applied = resolve.apply(project, plans, stage=stage)
        if not applied.ok:
            if applied.unrestored:
                lines.append(f"not resolved: {applied.message}; COULD NOT RESTORE {', '.join(applied.unrestored)}")
            else:
                lines.append(f"not resolved, every file restored: {applied.message}")
            return FixResult(1, lines, [], sorted({p.app for p in plans} | set(unresolved)))
        resolve.journal(root, plans)
        lines += [plan.summary for plan in plans] + after_force
        paths = list(applied.paths)
    if locks:
        from migguard.checking import write_locks

        repaired = []
        for path, _, _ in locks:
            label = next(label for label in project.apps if project.lock_path(label) == path)
            try:
                repaired += write_locks(project, labels={label})
            except InputError as error:
                lines.append(f"not repaired: {error}")
                lock_failed = True
        lines += [f"repaired {path} ({before}): {leaf}" for path, before, leaf in repaired]
        lock_paths = [path for path, _, _ in repaired]
        if stage and lock_paths:
            try:
                resolve.stage_paths(root, lock_paths)
            except Exception as error:  # noqa: BLE001 - the file is written; say it is not staged
                lines.append(f"not staged: {', '.join(lock_paths)} ({error}); run `git add` once git is free")
                lock_failed = True
        paths += lock_paths
    return FixResult(1 if unresolved or lock_failed else 0, lines, plans, unresolved, sorted(set(paths)))


def _unsafe_locks(project: Project, locks: list[tuple[str, str, str]]) -> dict[str, str]:
    """The lock files a repair would write through a symlink leaving the work tree: path -> refusal."""
    from migguard import safewrite

    refused = {}
    for path, _, _ in locks:
        try:
            real = safewrite.target(project.root, path)
        except safewrite.UnsafePath as error:
            refused[path] = str(error)
            continue
        if os.path.isdir(real):
            refused[path] = f"{path} is a directory; migguard writes the lock file only where a file can go."
    return refused


def _composed(project: Project, plans: list[resolve.Plan], lines: list[str]) -> list[resolve.Plan]:
    """Every renumber plan rewritten together; if a file cannot be rewritten, merge migrations instead."""
    try:
        return resolve.compose(project, plans)
    except resolve.Refusal as refusal:
        merged = []
        for plan in plans:
            if plan.move is None:
                merged.append(plan)
                continue
            lines.append(f"{plan.app}: not renumbered: {refusal}; writing a merge migration instead")
            merged.append(resolve.plan_merge(project, plan.app)._replace(not_renumbered=str(refusal)))
        return merged


def _lock_repairs(project: Project, apps: list[str] | None, wanted: list[str], check_only: bool) -> list[tuple[str, str, str]]:
    """Lock files of apps with one leaf that are missing, stale, pending or conflicted: rewritten to the leaf."""
    from migguard.checking import write_locks

    labels = (set(apps) if apps else set(project.apps)) - set(wanted)
    return write_locks(project, check_only=check_only, labels=labels)


def merge_instead(project: Project, plan: resolve.Plan, reason: str) -> resolve.Plan:
    """A merge migration for `plan.app` in place of its renumbering, remembering why."""
    return resolve.plan_merge(project, plan.app)._replace(not_renumbered=reason)


def _plan(project: Project, label: str, strategy: str, upstream_leaf: str | None, lines: list[str],
          upstream_names: frozenset[str] = frozenset()) -> resolve.Plan:
    if strategy == "renumber":
        if upstream_leaf is None:
            lines.append(f"{label}: no upstream leaf to renumber after; writing a merge migration instead")
        else:
            published = _published(project.root, project.apps[label].path)
            try:
                return resolve.plan_renumber(project, label, upstream_leaf, published, upstream_names)
            except resolve.Refusal as refusal:
                lines.append(f"{label}: not renumbered: {refusal}; writing a merge migration instead")
                return resolve.plan_merge(project, label)._replace(not_renumbered=str(refusal))
    return resolve.plan_merge(project, label)


def _published(root: str, package_path: str) -> set[str]:
    from migguard.repository import open_repository, published_names

    try:
        return published_names(open_repository(root), package_path)
    except InputError:
        return set()
