"""Commits made by hooks without firing hooks: a temporary index, `commit-tree`, `update-ref`."""
from __future__ import annotations

import os

from migguard import gitio


def tree_with(root: str, paths: list[str]) -> str:
    """The tree of HEAD with `paths` taken from the work tree (the user's index is not used)."""
    index = gitio.git_path(root, "migguard-index")
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    try:
        gitio.run(["read-tree", "HEAD"], root, env=env)
        gitio.run(["add", "-A", "--", *paths], root, env=env)
        return gitio.run(["write-tree"], root, env=env).decode().strip()
    finally:
        index.unlink(missing_ok=True)


def _commit(root: str, tree: str, parents: list[str], message: str, env: dict[str, str] | None = None) -> str:
    arguments = ["commit-tree", tree]
    for parent in parents:
        arguments += ["-p", parent]
    return gitio.run(arguments, root, input=message.encode(), env=env).decode().strip()


def amend_head(root: str, paths: list[str], reason: str) -> str:
    """Replace HEAD by a commit with `paths` added: same parents, message and author. Fires no hook."""
    old = gitio.text(["rev-parse", "HEAD"], root)
    fields = gitio.run(["log", "-1", "--format=%P%x00%an%x00%ae%x00%ad%x00%B", "--date=raw", "HEAD"], root).decode()
    parents, name, email, date, message = fields.split("\0", 4)
    env = dict(os.environ, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_AUTHOR_DATE=date)
    new = _commit(root, tree_with(root, paths), parents.split(), message.rstrip("\n") + "\n", env)
    gitio.run(["update-ref", "-m", f"migguard: {reason}", "HEAD", new, old], root)
    return new


def commit_on_top(root: str, paths: list[str], message: str) -> str:
    """A new commit on HEAD holding `paths` from the work tree. Fires no hook."""
    old = gitio.text(["rev-parse", "HEAD"], root)
    new = _commit(root, tree_with(root, paths), [old], message + "\n")
    gitio.run(["update-ref", "-m", f"migguard: {message}", "HEAD", new, old], root)
    return new
