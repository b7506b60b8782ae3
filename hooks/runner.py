"""What each git hook does. The shims call `python -m migguard hook NAME ARGS...`.

A hook with nothing to do makes one or two git calls and imports nothing heavy; post-merge and
post-rewrite cannot stop git, so what they cannot resolve they say loudly, and pre-push refuses."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from migguard import gitio
from migguard.config import ConfigError, load_directory
from migguard.discovery import touches_migrations
from migguard.errors import InputError

GATES = ("pre-push", "pre-receive")


def say(line: str) -> None:
    print(f"migguard: {line}", file=sys.stderr)


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


def resolve(root: str, strategy: str, upstream_rev: str | None, committed: bool) -> tuple[list[str], list[str]]:
    """`resolve_project` for each project of the repository (several when `projects` is configured)."""
    from migguard.monorepo import scopes

    paths: list[str] = []
    summaries: list[str] = []
    for scope in scopes(load_directory(root).projects):
        found = resolve_project(root, strategy, upstream_rev, committed, scope)
        paths += found[0]
        summaries += found[1]
    return paths, summaries


def resolve_project(root: str, strategy: str, upstream_rev: str | None, committed: bool,
                    scope: str = "") -> tuple[list[str], list[str]]:
    """Run `fix` on the work tree, say what it could not do: (touched paths, one summary per app).

    Nothing is parsed in full unless an app has several leaves: `committed` work is asked of the
    cached `check --rev HEAD` first, work in progress of a quick read of the work tree."""
    from migguard import fixing
    from migguard.project import load_worktree

    committed_leaves: dict[str, list[str]] = {}
    if committed:
        from migguard.checking import check_revision

        result = check_revision(root, "HEAD")
        if not result["conflicts"]:
            return [], []
        committed_leaves = {app["app"]: app["leaves"] for app in result["apps"] if app.get("project", "") == scope}
    elif not load_worktree(root, scope=scope).conflicts():
        return [], []
    project = load_worktree(root, full=True, scope=scope)
    apps = sorted(project.conflicts())
    if committed:
        for label in [label for label in apps if project.leaves(label) != committed_leaves.get(label)]:
            say(f"{label}: not resolved: the work tree holds migrations that are not committed "
                f"({', '.join(sorted(set(project.leaves(label)) - set(committed_leaves.get(label, []))))}); "
                f"commit or remove them, then run `migguard fix`")
            apps.remove(label)
    if not apps:
        return [], []
    upstream = _leaves_at(root, upstream_rev, scope) if upstream_rev and strategy == "renumber" else None
    result = fixing.fix(root, strategy, apps=apps, upstream=upstream, project=project, stage=True)
    if result.unresolved:
        for line in result.lines:
            if line.startswith(tuple(f"{label}:" for label in result.unresolved)) or line.startswith("  "):
                say(line)
        say(f"NOT RESOLVED: {', '.join(result.unresolved)}. Run `migguard fix` (git push refuses until then).")
    return result.paths, [plan.summary for plan in result.plans]


def post_merge(arguments: list[str], root: str) -> int:
    squash = arguments[:1] == ["1"]
    merge_head, = state_paths(root, "MERGE_HEAD")
    if squash:
        changed = changed_paths(root, "--cached")
    elif merge_head.exists():
        changed = changed_paths(root, "HEAD^1", "HEAD")
    else:
        return 0
    config = load_directory(root)
    if not touches_migrations(changed, config):
        return 0
    if squash:
        for summary in resolve(root, config.merge_strategy, None, committed=False)[1]:
            note(f"{summary}; staged for the squash commit")
        return 0
    paths, summaries = resolve(root, config.merge_strategy, "HEAD^1", committed=True)
    if paths:
        from migguard.hooks.commits import amend_head

        new = amend_head(root, paths, "resolve migrations in the merge commit")
        for summary in summaries:
            note(f"{summary}; in merge commit {new[:10]}")
    return 0


def pre_commit(arguments: list[str], root: str) -> int:
    merge_head, = state_paths(root, "MERGE_HEAD")
    staged = changed_paths(root, "--cached")
    config = load_directory(root)
    if not touches_migrations(staged, config):
        return 0
    if merge_head.exists():
        for summary in resolve(root, config.merge_strategy, "HEAD", committed=False)[1]:
            note(f"{summary}; staged into this merge commit")
        return 0
    return _keep_locks_in_step(root, staged)


def _keep_locks_in_step(root: str, staged: list[str]) -> int:
    """Update and stage the lock file of every app whose staged migrations moved its leaf."""
    from migguard.checking import write_locks
    from migguard.project import load_revision_projects

    for project in load_revision_projects(root, gitio.text(["write-tree"], root), under=""):
        touched = {label for label, app in project.apps.items() if any(p.startswith(f"{app.path}/") for p in staged)}
        for lock_path, _, leaf in write_locks(project, labels=touched):
            gitio.run(["add", "--", lock_path], root)
            note(f"{lock_path} -> {leaf}")
    return 0


def post_rewrite(arguments: list[str], root: str, stdin: str) -> int:
    if arguments[:1] != ["rebase"]:
        return 0
    onto = rebase_onto(root)
    if onto is None:
        say("could not tell what the rebase was onto; run `migguard check` and `migguard fix --onto REF`.")
        return 0
    config = load_directory(root)
    if not touches_migrations(changed_paths(root, onto, "HEAD"), config):
        return 0
    short = gitio.text(["rev-parse", "--short", onto], root)
    paths, summaries = resolve(root, config.rebase_strategy, onto, committed=True)
    if paths:
        from migguard.hooks.commits import commit_on_top

        verb = "Renumber" if config.rebase_strategy == "renumber" else "Merge"
        new = commit_on_top(root, paths, f"{verb} migrations after rebase onto {short}")
        for summary in summaries:
            note(f"{summary}; in commit {new[:10]}")
    return 0


def rebase_onto(root: str) -> str | None:
    """The commit a rebase replayed onto: git's state file, else the reflog.

    Needs no stdin: behind the pre-commit framework, post-rewrite gets none."""
    for state in state_paths(root, "rebase-merge/onto", "rebase-apply/onto"):
        if state.exists():
            return state.read_text().strip()
    for line in gitio.text(["reflog", "-n", "200", "--format=%H %gs", "HEAD"], root).splitlines():
        sha, _, subject = line.partition(" ")
        if subject.startswith(("rebase (start): checkout ", "rebase: checkout ")):
            return sha
    return None


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


STDIN_HOOKS = {"post-rewrite", "pre-push", "pre-receive"}


def main(arguments: list[str]) -> int:
    if not arguments:
        print("migguard hook: usage: hook NAME [ARGS]", file=sys.stderr)
        return 2
    name, rest = arguments[0], arguments[1:]
    if os.environ.get("MIGGUARD") == "0" and name not in GATES:
        return 0  # the gates ignore it: `git push --no-verify` skips pre-push, nothing skips pre-receive
    stdin = sys.stdin.read() if name in STDIN_HOOKS and sys.stdin is not None and not sys.stdin.isatty() else ""
    root = os.getcwd()
    try:
        if name == "post-merge":
            return post_merge(rest, root)
        if name == "pre-commit":
            return pre_commit(rest, root)
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
