"""GitPython for the commands that are not hot paths (install, fix): the repository, config, refs.

Hooks and `check` use `migguard.gitio` instead: `import git` alone costs ~75 ms."""
from __future__ import annotations

from pathlib import Path

import git

from migguard.errors import InputError


def open_repository(path: str | Path) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(f"{Path(path).resolve()} is not inside a git repository.") from None


def config_value(repo: git.Repo, section: str, option: str) -> str | None:
    reader = repo.config_reader()
    if not reader.has_option(section, option):
        return None
    return str(reader.get_value(section, option))


def default_upstream(repo: git.Repo) -> str | None:
    """The current branch's upstream, else the remote's default branch (`origin/HEAD`)."""
    if not repo.head.is_detached:
        tracking = repo.active_branch.tracking_branch()
        if tracking is not None and tracking.is_valid():
            return tracking.path
    for remote in repo.remotes:
        for ref in remote.refs:
            if ref.remote_head == "HEAD":
                return ref.path
    return None


def published_names(repo: git.Repo, package_path: str) -> set[str]:
    """Migration names of this package present on any remote-tracking branch."""
    names: set[str] = set()
    for remote in repo.remotes:
        for ref in remote.refs:
            try:
                tree = ref.commit.tree / package_path if package_path else ref.commit.tree
            except (KeyError, ValueError):
                continue
            names.update(blob.name[:-3] for blob in tree.blobs if blob.name.endswith(".py"))
    return names
