"""Plain git plumbing: cheap enough for hooks (no `import git`, and no `import subprocess` where
`os.posix_spawnp` exists: importing it costs a hook more than running git does)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from migguard import blobs, processes
from migguard.errors import InputError


class GitError(InputError):
    """A git command failed; the message is one sentence for the user (exit status 2: cannot read)."""


class TreeEntry(NamedTuple):
    mode: str
    kind: str
    oid: str
    path: str


def git_env() -> dict[str, str]:
    """The environment for git, without what a calling hook set for another repository."""
    env = dict(os.environ)
    for name in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_PREFIX"):
        env.pop(name, None)
    return env


class Done(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def spawn(args: list[str], cwd: str | Path, input: bytes | None = None, env: dict[str, str] | None = None) -> Done:
    """Run git in `cwd` and collect its output, like `subprocess.run(..., capture_output=True)`.

    Without `input`, git's stdin is this process's. Raises OSError when git cannot be started."""
    return Done(*processes.run_git(args, cwd, input, env))


def run(args: list[str], cwd: str | Path, input: bytes | None = None, check: bool = True, env: dict[str, str] | None = None) -> bytes:
    try:
        done = spawn(args, cwd, input, env)
    except FileNotFoundError as error:
        raise GitError("git is not installed or not on PATH.") from error
    except OSError as error:
        raise GitError(f"git could not run ({error.strerror or error}).") from error
    if check and done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else "exit " + str(done.returncode)
        if "promisor remote" in detail:
            detail += "; a partial clone needs its remote to fetch them"
        raise GitError(f"git {args[0]} failed: {detail}")
    return done.stdout


def text(args: list[str], cwd: str | Path, **kwargs: object) -> str:
    return run(args, cwd, **kwargs).decode("utf-8", "surrogateescape").strip()  # type: ignore[arg-type]


def top_level(cwd: str | Path) -> Path:
    try:
        return Path(text(["rev-parse", "--show-toplevel"], cwd))
    except GitError:
        raise GitError(f"{Path(cwd).resolve()} is not inside a git repository.") from None


def common_dir(cwd: str | Path) -> Path:
    try:
        value = text(["rev-parse", "--git-common-dir"], cwd)
    except GitError:
        raise GitError(f"{Path(cwd).resolve()} is not inside a git repository.") from None
    return (Path(cwd) / value).resolve()


def git_path(cwd: str | Path, name: str) -> Path:
    """Where git keeps `name` (MERGE_HEAD, rebase-merge, hooks...) for this worktree."""
    return (Path(cwd) / text(["rev-parse", "--git-path", name], cwd)).resolve()


def resolve_tree(cwd: str | Path, rev: str) -> tuple[Path, str, str]:
    """The git common directory, the path prefix of `cwd` and the root tree id of `rev`: one git call."""
    if not Path(cwd).is_dir():
        raise GitError(f"{cwd} is not a directory.")
    try:
        done = spawn(["rev-parse", "--git-common-dir", "--show-prefix", "--verify", "--end-of-options", f"{rev}^{{tree}}"], cwd)
    except FileNotFoundError as error:
        raise GitError("git is not installed or not on PATH.") from error
    except OSError as error:
        raise GitError(f"git could not run ({error.strerror or error}).") from error
    lines = done.stdout.decode("utf-8", "surrogateescape").split("\n")
    if done.returncode != 0:
        if len(lines) < 2:
            raise GitError(f"{Path(cwd).resolve()} is not inside a git repository.")
        raise GitError(f"{rev!r} is not a commit in this repository.")
    return (Path(cwd) / lines[0]).resolve(), lines[1], lines[2]


def ls_tree(cwd: str | Path, treeish: str, recursive: bool = True) -> list[TreeEntry]:
    """Every blob and submodule below `treeish`, recursively (or only its top level)."""
    out = run(["ls-tree", *(["-r"] if recursive else []), "-z", "--full-tree", treeish], cwd).decode("utf-8", "surrogateescape")
    entries = []
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            mode, kind, oid = meta.split(" ")
            entries.append(TreeEntry(mode, kind, oid, path))
    return entries


def blob_sizes(cwd: str | Path, oids: list[str]) -> dict[str, int]:
    """The size of each blob, without reading it (`git cat-file --batch-check`); missing ones left out."""
    if not oids:
        return {}
    return blobs.parse_sizes(run(["cat-file", "--batch-check"], cwd, input="".join(f"{oid}\n" for oid in oids).encode()))


def cat_blobs(cwd: str | Path, oids: list[str]) -> dict[str, bytes]:
    """Read many blobs with one `git cat-file --batch --buffer`; missing ones left out."""
    if not oids:
        return {}
    return blobs.parse_contents(run(["cat-file", "--batch", "--buffer"], cwd,
                                    input="".join(f"{oid}\n" for oid in oids).encode()), oids)
