"""Commits made by hooks without firing hooks: a temporary index, `commit-tree`, `update-ref`.

Each commit is signed when the user's own would be (`commit.gpgsign`, or the commit it replaces
was signed); when signing fails, nothing is committed and `SigningError` says why."""
from __future__ import annotations

import os
from typing import NamedTuple

from migguard import gitio


class SigningError(Exception):
    """git could not sign a commit (a key with a passphrase and no agent, no key...)."""


class CommitInfo(NamedTuple):
    """What a commit-tree copy of a commit keeps: parents, identities with dates, raw message, signature."""

    tree: str
    parents: list[str]
    author: tuple[str, str, str]
    committer: tuple[str, str, str]
    encoding: str | None
    message: bytes
    signed: bool


def read_commit(root: str, rev: str) -> CommitInfo:
    raw = gitio.run(["cat-file", "commit", rev], root)
    head, _, message = raw.partition(b"\n\n")
    tree, parents, author, committer, encoding, signed = "", [], ("", "", ""), ("", "", ""), None, False
    for line in head.decode("utf-8", "surrogateescape").split("\n"):
        field, _, value = line.partition(" ")
        if field == "tree":
            tree = value
        elif field == "parent":
            parents.append(value)
        elif field in ("author", "committer"):
            name, _, rest = value.partition(" <")
            email, _, date = rest.partition("> ")
            if field == "author":
                author = (name, email, date)
            else:
                committer = (name, email, date)
        elif field == "encoding":
            encoding = value
        elif field == "gpgsig":
            signed = True
    return CommitInfo(tree, parents, author, committer, encoding, message, signed)


def signing_wanted(root: str) -> bool:
    done = gitio.run(["config", "--type=bool", "--get", "commit.gpgsign"], root, check=False)
    return done.decode().strip() == "true"


def commit_tree(root: str, tree: str, parents: list[str], message: bytes, sign: bool,
                env: dict[str, str] | None = None, encoding: str | None = None) -> str:
    """A commit object; signed with the user's key when `sign`."""
    arguments = (["-c", f"i18n.commitEncoding={encoding}"] if encoding else []) + ["commit-tree", tree]
    for parent in parents:
        arguments += ["-p", parent]
    if sign:
        arguments.append("-S")
    try:
        return gitio.run(arguments, root, input=message, env=env).decode().strip()
    except gitio.GitError as error:
        if sign:
            raise SigningError(str(error).replace("git -c failed: ", "").replace("git commit-tree failed: ", "")) from None
        raise


def copy_commit(root: str, info: CommitInfo, tree: str, parents: list[str], sign: bool) -> str:
    """`info` with another tree and parents: same author, committer, dates and message bytes."""
    env = dict(os.environ)
    env.update(GIT_AUTHOR_NAME=info.author[0], GIT_AUTHOR_EMAIL=info.author[1], GIT_AUTHOR_DATE=info.author[2],
               GIT_COMMITTER_NAME=info.committer[0], GIT_COMMITTER_EMAIL=info.committer[1],
               GIT_COMMITTER_DATE=info.committer[2])
    return commit_tree(root, tree, parents, info.message, sign or info.signed, env, info.encoding)


def tree_with(root: str, paths: list[str], base: str = "HEAD") -> str:
    """The tree of `base` with `paths` taken from the work tree (the user's index is not used)."""
    index = gitio.git_path(root, "migguard-index")
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    try:
        gitio.run(["read-tree", base], root, env=env)
        gitio.run(["add", "-A", "--", *paths], root, env=env)
        return gitio.run(["write-tree"], root, env=env).decode().strip()
    finally:
        index.unlink(missing_ok=True)


def amend_head(root: str, paths: list[str], reason: str) -> str:
    """Replace HEAD by a commit with `paths` added: same parents, message, author and committer. Fires no hook."""
    old = gitio.text(["rev-parse", "HEAD"], root)
    info = read_commit(root, old)
    new = copy_commit(root, info, tree_with(root, paths), info.parents, signing_wanted(root))
    gitio.run(["update-ref", "-m", f"migguard: {reason}", "HEAD", new, old], root)
    return new


def commit_on_top(root: str, paths: list[str], message: str) -> str:
    """A new commit on HEAD holding `paths` from the work tree. Fires no hook."""
    old = gitio.text(["rev-parse", "HEAD"], root)
    title = message.split("\n", 1)[0]
    new = commit_tree(root, tree_with(root, paths), [old], (message.rstrip("\n") + "\n").encode(), signing_wanted(root))
    gitio.run(["update-ref", "-m", f"migguard: {title}", "HEAD", new, old], root)
    return new
