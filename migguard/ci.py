"""`migguard ci resolve`: what a hosting site's merge button cannot do — merge a pull request's base
into its branch with migguard's lock-file driver and merge migrations, commit, and push.

The branch and its base are both published, so nothing is renamed: conflicted apps get a merge
migration (the `fix` of the merge strategy). Anything else that conflicts is named, and the merge
is abandoned, leaving the repository as it was."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from typing import NamedTuple

from migguard import gitio
from migguard.errors import InputError

DRIVER_NAME = "migguard: merge max_migration.txt as sets of migration names"


class Outcome(NamedTuple):
    status: int  # 0 resolved or nothing to do, 1 cannot resolve (or not pushed)
    lines: list[str]


def _git(root: str, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    try:
        return gitio.run(list(args), root, env=env, check=check).decode(errors="replace").strip()
    except gitio.GitError as error:
        raise InputError(str(error)) from None


def _commit_of(root: str, ref: str) -> str:
    sha = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if not sha:
        raise InputError(f"{ref!r} is not a commit in this repository (fetch it first, e.g. `git fetch origin main`).")
    return sha


def _current_branch(root: str) -> str | None:
    name = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return name or None


def _identity_env(root: str) -> dict[str, str]:
    """git's environment; a bot identity when this machine has none (a fresh CI runner)."""
    env = gitio.git_env()
    if not _git(root, "var", "GIT_COMMITTER_IDENT", check=False):
        for role in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{role}_NAME", "migguard")
            env.setdefault(f"GIT_{role}_EMAIL", "migguard@localhost")
    env["GIT_MERGE_AUTOEDIT"] = "no"
    return env


def _merge_options(lockfile: str, attributes: str) -> list[str]:
    """`git -c` options that route lock files to migguard's driver for one command, installed or not."""
    driver = f"{shlex.quote(sys.executable)} -m migguard merge-driver %O %A %B %P"
    with open(attributes, "w", encoding="utf-8") as handle:
        handle.write(f"**/{lockfile} merge=migguard\n" if lockfile else "")
    return ["-c", f"merge.migguard.name={DRIVER_NAME}", "-c", f"merge.migguard.driver={driver}",
            "-c", f"core.attributesFile={attributes}", "-c", "core.hooksPath=" + os.devnull]


def resolve_base(root: str, base: str, push: bool = False, remote: str = "origin", branch: str | None = None) -> Outcome:
    """Merge `base` into the checked-out branch the way migguard's hooks would, commit, and push."""
    from migguard import fixing
    from migguard.config import ConfigError, load_directory

    base_sha = _commit_of(root, base)
    head = _commit_of(root, "HEAD")
    branch = branch or _current_branch(root)
    if push and branch is None:
        raise InputError("HEAD is detached: check out the pull request's branch, or pass --branch NAME.")
    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        raise InputError("the work tree has uncommitted changes; `ci resolve` needs a clean checkout.")
    if _is_ancestor(root, base_sha, head):
        return Outcome(0, [f"nothing to do: {branch or 'HEAD'} already contains {base}."])
    try:
        config = load_directory(root)
    except ConfigError as error:
        raise InputError(str(error)) from None
    env = _identity_env(root)
    with tempfile.TemporaryDirectory(prefix="migguard-ci-") as scratch:
        options = _merge_options(config.lockfile, os.path.join(scratch, "attributes"))
        done = _run(root, [*options, "merge", "--no-ff", "--no-commit", "--no-edit", base_sha], env)
        unmerged = [path for path in _git(root, "diff", "--name-only", "--diff-filter=U").splitlines() if path]
        if unmerged or not _merging(root):
            _abort(root)
            if unmerged:
                return Outcome(1, [f"cannot resolve: merging {base} into {branch or 'HEAD'} conflicts in files "
                                   f"migguard does not resolve:", *[f"  {path}" for path in unmerged],
                                   "merge the base by hand (or rebase) and push again."])
            if done.returncode == 0:
                return Outcome(0, ["nothing to do."])
            reason = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
            if _git(root, "rev-parse", "--is-shallow-repository") == "true":
                reason.append("the clone is shallow: fetch the whole history (actions/checkout: fetch-depth: 0)")
            raise InputError(f"git merge failed: {'; '.join(reason)}.")
        result = fixing.fix_projects(root, "merge", [], None)
        if result.status != 0:
            _abort(root)
            return Outcome(1, [f"cannot resolve: merging {base} into {branch or 'HEAD'} leaves apps migguard "
                               f"will not merge on its own:", *[f"  {line}" for line in result.lines],
                               "resolve them by hand (`migguard fix --force` once checked) and push again."])
        if not result.plans and not _text_conflict_without_driver(root, head, base_sha):
            _abort(root)
            return Outcome(0, [f"nothing to do: {branch or 'HEAD'} merges {base} without a migration conflict."])
        from migguard.checking import check_worktree

        checked = check_worktree(root)
        if not checked["ok"]:
            _abort(root)
            return Outcome(1, [f"cannot resolve: after merging {base}, check still finds problems:",
                               *[f"  {error['message']}" for error in checked["errors"]]])
        message = f"Merge {base} into {branch or 'HEAD'}\n\nMigration conflicts resolved by `migguard ci resolve`:\n"
        message += "".join(f"- {plan.summary}\n" for plan in result.plans) or "- lock files merged\n"
        committed = _run(root, [*options, "commit", "-q", "--no-verify", "-F", "-"], env, message)
        if committed.returncode != 0:
            _abort(root)
            raise InputError(f"git commit failed: {committed.stderr.strip()}")
    new = _commit_of(root, "HEAD")
    lines = [f"merged {base} into {branch or 'HEAD'}: commit {new[:10]}", *[plan.summary for plan in result.plans]]
    if not push:
        return Outcome(0, lines + ["not pushed (pass --push to update the branch)."])
    pushed = _run(root, ["push", "--no-verify", remote, f"HEAD:refs/heads/{branch}"], env)
    if pushed.returncode != 0:
        why = (pushed.stderr.strip().splitlines() or [f"exit {pushed.returncode}"])[-1]
        return Outcome(1, lines + [f"not pushed: {remote} refused {branch} ({why}); "
                                   f"if the branch moved, run again on its new head."])
    return Outcome(0, lines + [f"pushed to {remote} {branch}."])


def _run(root: str, args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, input=stdin)


def _is_ancestor(root: str, ancestor: str, descendant: str) -> bool:
    return _run(root, ["merge-base", "--is-ancestor", ancestor, descendant], gitio.git_env()).returncode == 0


def _merging(root: str) -> bool:
    return gitio.git_path(root, "MERGE_HEAD").exists()


def _abort(root: str) -> None:
    if _merging(root):
        _run(root, ["merge", "--abort"], gitio.git_env())


def _text_conflict_without_driver(root: str, head: str, base: str) -> bool:
    """Whether plain git (a hosting site's merge button) would stop on a conflict merging these two."""
    done = _run(root, ["merge-tree", "--write-tree", "--no-messages", head, base], gitio.git_env())
    if done.returncode in (0, 1):
        return done.returncode == 1
    return True  # git older than 2.38: no merge-tree --write-tree; merge anyway
