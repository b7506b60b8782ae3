"""What each git hook does. The shims call `python -m migguard hook NAME ARGS...`.

A hook with nothing to do makes one or two git calls and imports nothing heavy; post-merge and
post-rewrite cannot stop git, so what they cannot resolve they say loudly, and pre-push refuses."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from migguard import gitio
from migguard.config import ConfigError, load_directory
from migguard.discovery import touches_migrations
from migguard.errors import InputError
from migguard.hooks.idle import read_stdin

if TYPE_CHECKING:
    from migguard import fixing

ZERO = "0" * 40
GATES = ("pre-push", "pre-receive")


_OWN_LINE = {"pending": False}


def say(line: str) -> None:
    """One line on stderr. Inside a rebase git leaves its `Rebasing (n/m)` progress without a newline,
    so the first line starts with one there."""
    lead = "\n" if _OWN_LINE["pending"] else ""
    _OWN_LINE["pending"] = False
    print(f"{lead}migguard: {line}", file=sys.stderr)


def own_line() -> None:
    """Start a new line now if the next line needs one (for output migguard does not print with `say`)."""
    if _OWN_LINE["pending"]:
        _OWN_LINE["pending"] = False
        print(file=sys.stderr)


def under_rebase() -> bool:
    """Whether a rebase runs this process (git sets these for what it starts while replaying commits)."""
    return "rebase" in os.environ.get("GIT_REFLOG_ACTION", "") or "GIT_CHERRY_PICK_HELP" in os.environ


def note(line: str) -> None:
    """A line saying what went well: silent under MIGGUARD_QUIET=1 (`migguard --quiet hook ...`)."""
    if os.environ.get("MIGGUARD_QUIET", "") in ("", "0"):
        say(line)


def changed_paths(root: str, *arguments: str) -> list[str]:
    return gitio.run(["diff", "--name-only", "-z", "--no-renames", *arguments], root).decode().split("\0")


def state_paths(root: str, *names: str) -> list[Path]:
    """Where git keeps these state files for this worktree, in one git call."""
    arguments = [part for name in names for part in ("--git-path", name)]
    out = gitio.text(["rev-parse", *arguments], root).splitlines()
    return [(Path(root) / line).resolve() for line in out]


def resolve(root: str, strategy: str, upstream_rev: str | None, committed: bool,
            decide: fixing.Decide | None = None) -> fixing.FixResult | None:
    """`resolve_project` for each project of the repository (several when `projects` is configured),
    as one result."""
    from migguard.monorepo import scopes

    results = [found for scope in scopes(load_directory(root).projects)
               if (found := resolve_project(root, strategy, upstream_rev, committed, scope, decide)) is not None]
    if len(results) <= 1:
        return results[0] if results else None
    from migguard import fixing

    return fixing.FixResult(max(found.status for found in results), [line for found in results for line in found.lines],
                            [plan for found in results for plan in found.plans],
                            [label for found in results for label in found.unresolved],
                            [path for found in results for path in found.paths])


def resolve_project(root: str, strategy: str, upstream_rev: str | None, committed: bool, scope: str = "",
                    decide: fixing.Decide | None = None) -> fixing.FixResult | None:
    """Run `fix` on the work tree and say everything but the summaries (the caller says where those went).

    Nothing is parsed in full unless an app has several leaves: `committed` work is asked of the
    cached `check --rev HEAD` first, work in progress of a quick read of the work tree. Nothing that
    writes (libcst, GitPython) is imported before an app is known to have several leaves."""
    from migguard.project import load_worktree

    committed_leaves: dict[str, list[str]] = {}
    if committed:
        from migguard.checking import check_revision

        checked = check_revision(root, "HEAD")
        if not checked["conflicts"]:
            return None
        committed_leaves = {app["app"]: app["leaves"] for app in checked["apps"] if app.get("project", "") == scope}
    elif not load_worktree(root, scope=scope).conflicts():
        return None
    project = load_worktree(root, full=True, scope=scope)
    apps = sorted(project.conflicts())
    if committed:
        for label in [label for label in apps if project.leaves(label) != committed_leaves.get(label)]:
            say(f"{label}: not resolved: the work tree holds migrations that are not committed "
                f"({', '.join(sorted(set(project.leaves(label)) - set(committed_leaves.get(label, []))))}); "
                f"commit or remove them, then run `migguard fix`")
            apps.remove(label)
    if not apps:
        return None
    from migguard import fixing

    upstream = _leaves_at(root, upstream_rev, scope) if upstream_rev and strategy == "renumber" else None
    result = fixing.fix(root, strategy, apps=apps, upstream=upstream, project=project, stage=True, decide=decide)
    summaries = {plan.summary for plan in result.plans}
    for line in result.lines:
        if line not in summaries:
            say(line)
    if result.unresolved:
        say(f"NOT RESOLVED: {', '.join(result.unresolved)} (the reason is above); "
            f"git push refuses until each app has one leaf.")
    return result


def post_merge(arguments: list[str], root: str) -> int:
    squash = arguments[:1] == ["1"]
    merge_head, = state_paths(root, "MERGE_HEAD")
    if squash:
        changed = changed_paths(root, "--cached")
    elif merge_head.exists():
        changed = changed_paths(root, "HEAD^1", "HEAD")
    else:
        return fast_forwarded(root)
    config = load_directory(root)
    if not touches_migrations(changed, config):
        return 0
    if squash:
        result = resolve(root, config.merge_strategy, None, committed=False)
        for plan in result.plans if result else []:
            note(f"{plan.summary}; staged for the squash commit")
        return 0
    result = resolve(root, config.merge_strategy, "HEAD^1", committed=True)
    if result and result.paths:
        from migguard.hooks.commits import SigningError, amend_head

        try:
            new = amend_head(root, result.paths, "resolve migrations in the merge commit")
        except SigningError as error:
            say(f"could not sign the merge commit ({error}); the resolution is staged: "
                f"add it with `git commit --amend --no-edit`")
            return 0
        for plan in result.plans:
            note(f"{plan.summary}; in merge commit {new[:10]}")
    return 0


def fast_forwarded(root: str) -> int:
    """A fast-forward (`git pull` included) brought commits: say at once if the new HEAD has an app with
    several leaves (someone merged without migguard). Answered from the cached `check --rev`."""
    config = load_directory(root)
    if not touches_migrations(changed_paths(root, "ORIG_HEAD", "HEAD"), config):
        return 0
    return warn_if_several_leaves(root, "HEAD", "after this fast-forward")


def warn_if_several_leaves(root: str, rev: str, what: str) -> int:
    from migguard.checking import check_revision

    result = check_revision(root, rev)
    for app in result["apps"]:
        if len(app["leaves"]) > 1:
            say(f"{what}, app {app['app']!r} has {len(app['leaves'])} leaf migrations "
                f"({', '.join(app['leaves'])}), merged without migguard; run `migguard fix` and commit the result")
    return 0


def post_checkout(arguments: list[str], root: str) -> int:
    """`git checkout`/`switch` of a branch: say if it has an app with several leaves. Quiet while a
    rebase, merge or bisect is in progress (a rebase runs post-checkout at its start)."""
    if len(arguments) < 3 or arguments[2] != "1" or arguments[0] == arguments[1]:
        return 0
    if any(path.exists() for path in state_paths(root, "rebase-merge", "rebase-apply", "MERGE_HEAD", "BISECT_LOG")):
        return 0
    if arguments[0] != ZERO:
        config = load_directory(root)
        if not touches_migrations(changed_paths(root, arguments[0], arguments[1]), config):
            return 0
    return warn_if_several_leaves(root, arguments[1], "on the commit checked out")


def pre_commit(arguments: list[str], root: str) -> int:
    merge_head, = state_paths(root, "MERGE_HEAD")
    staged = changed_paths(root, "--cached")
    config = load_directory(root)
    if not touches_migrations(staged, config):
        return 0
    if merge_head.exists():
        result = resolve(root, config.merge_strategy, "HEAD", committed=False)
        for plan in result.plans if result else []:
            note(f"{plan.summary}; staged into this merge commit")
        return 0
    return _keep_locks_in_step(root, staged)


def _keep_locks_in_step(root: str, staged: list[str]) -> int:
    """Update and stage the lock file of every app whose staged migrations moved its leaf."""
    from migguard.changes import staged_changes
    from migguard.checking import check_revision, write_locks
    from migguard.hooks.quick import locks_followed
    from migguard.project import load_revision_projects

    from_head = staged_changes(root, "HEAD")
    if from_head is not None and locks_followed(root, from_head):
        return 0
    tree = gitio.text(["write-tree"], root)
    for project in load_revision_projects(root, tree, under=""):
        touched = {label for label, app in project.apps.items() if any(p.startswith(f"{app.path}/") for p in staged)}
        for lock_path, _, leaf in write_locks(project, labels=touched):
            gitio.run(["add", "--", lock_path], root)
            note(f"{lock_path} -> {leaf}")
    try:  # what is committed, checked and cached by its tree: the next commit's lock files follow from it
        check_revision(root, gitio.text(["write-tree"], root), under="")
    except InputError:
        pass
    return 0


def post_rewrite(arguments: list[str], root: str, stdin: str) -> int:
    from migguard.hooks.rebasing import post_rewrite as after_rebase

    if arguments[:1] == ["rebase"]:
        _OWN_LINE["pending"] = True
    return after_rebase(arguments, root, stdin)


def rebase_onto(root: str) -> str | None:
    from migguard.hooks.rebasing import rebase_onto as onto

    return onto(root)


def _leaves_at(root: str, rev: str, scope: str = "") -> dict[str, str]:
    from migguard import fixing

    try:
        return fixing.upstream_leaves(root, rev, scope)
    except InputError:
        return {}


def pre_push(arguments: list[str], root: str, stdin: str) -> int:
    """The client gate: see `migguard.hooks.gate`."""
    from migguard.hooks import gate

    return gate.pre_push(arguments, root, stdin)


def pre_receive(arguments: list[str], root: str, stdin: str) -> int:
    """The server gate: see `migguard.hooks.gate`."""
    from migguard.hooks import gate

    return gate.pre_receive(arguments, root, stdin)




def main(arguments: list[str], stdin: str | None = None) -> int:
    """`migguard hook NAME ARGS...`; `stdin` is what git wrote to the hook when the caller read it already."""
    if not arguments:
        print("migguard hook: usage: hook NAME [ARGS]", file=sys.stderr)
        return 2
    name, rest = arguments[0], arguments[1:]
    if os.environ.get("MIGGUARD") == "0" and name not in GATES:
        return 0  # the gates ignore it: `git push --no-verify` skips pre-push, nothing skips pre-receive
    if stdin is None:
        stdin = read_stdin(name)
    root = os.getcwd()
    try:
        if name == "post-merge":
            return post_merge(rest, root)
        if name == "pre-commit":
            return pre_commit(rest, root)
        if name == "post-checkout":
            return post_checkout(rest, root)
        if name == "post-rewrite":
            return post_rewrite(rest, root, stdin)
        if name == "pre-push":
            return pre_push(rest, root, stdin)
        if name == "pre-receive":
            return pre_receive(rest, root, stdin)
    except (gitio.GitError, InputError, ConfigError, OSError) as error:
        say(f"{name}: {'refusing: ' if name in GATES else ''}{error}")
        return 1 if name in GATES else 0
    except Exception as error:  # a hook must never leave a traceback inside a git command
        say(f"{name}: {'refusing: ' if name in GATES else ''}internal error ({type(error).__name__}: {error}); please report it"
            + ("; `git push --no-verify` skips this check" if name == "pre-push" else ""))
        return 1 if name in GATES else 0
    print(f"migguard hook: unknown hook {name!r}", file=sys.stderr)
    return 2
