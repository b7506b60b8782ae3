"""System checks answered from the migration files and git, statically: no database, no migration imported."""
from __future__ import annotations

import os
from typing import Any

from django.core.checks import Error, Warning, register

from migguard import gitio


def _root() -> str | None:
    try:
        return str(gitio.top_level(os.getcwd()))
    except gitio.GitError:
        return None


@register()  # type: ignore[untyped-decorator]
def migration_graph(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Several leaves in an app; a lock file that is stale, missing its leaf or conflicted."""
    root = _root()
    if root is None:
        return []
    from migguard.errors import InputError
    from migguard.project import load_worktree

    try:
        project = load_worktree(root)
    except InputError as error:
        return [Error(str(error), id="migguard.E000")]
    problems: list[Any] = []
    for label, leaves in sorted(project.conflicts().items()):
        problems.append(Error(f"app {label!r} has {len(leaves)} leaf migrations: {', '.join(leaves)}",
                              hint="run `migguard fix` (a merge migration, or the branch renumbered)",
                              id="migguard.E001"))
    for label in sorted(project.apps):
        state = project.lock_state(label)
        if state.ok or state.state == "missing" or len(project.leaves(label)) != 1:
            continue
        message = f"{project.lock_path(label)} is {state.state}; the leaf is {project.leaves(label)[0]}"
        if state.state in ("conflicted", "pending"):
            problems.append(Error(message, hint="run `migguard fix`", id="migguard.E002"))
        else:  # stale between makemigrations and the commit (the pre-commit hook updates it): say, do not block
            problems.append(Warning(message, hint="run `migguard lock` (the pre-commit hook does it when you commit)",
                                    id="migguard.W002"))
    return problems


@register()  # type: ignore[untyped-decorator]
def installed_in_clone(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """This clone has not run `migguard install`: merges and rebases here go unguarded."""
    root = _root()
    if root is None:
        return []
    try:
        driver = gitio.run(["config", "--get", "merge.migguard.driver"], root, check=False)
    except gitio.GitError:
        return []
    if driver.strip():
        return []
    return [Warning("this clone never ran `migguard install`: git merges and rebases here do not keep "
                    "migrations at one leaf, nor bring your database along",
                    hint="run `migguard install` once in this clone", id="migguard.W001")]
