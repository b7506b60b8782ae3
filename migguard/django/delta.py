"""`--allow-delta`: prove the database equals the old history (read from git), then the autodetector's old-to-new steps.

The old migrations stand in for their apps through MIGRATION_MODULES, in a temporary package, while the old
history is built; nothing of them stays."""
from __future__ import annotations

import contextlib
import importlib
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.state import ProjectState

from migguard import gitio
from migguard.django import schema

Key = tuple[str, str]


class OldHistory(NamedTuple):
    """Where each app's old migrations are in git: app -> (commit holding them, folder from the root)."""

    folders: dict[str, tuple[str, str]]


class Delta(NamedTuple):
    """The database compared with the old history, and the migrations leading from the old state to the new."""

    differences: list[str]
    migrations: list[Migration]
    old_count: int
    old_state: ProjectState


class CannotDelta(Exception):
    """The old history cannot be built (unreadable, or another app now depends on the new migration)."""


@contextlib.contextmanager
def old_migrations(root: str, history: OldHistory) -> Iterator[None]:
    """While inside, each app of `history` loads its migrations as git held them (MIGRATION_MODULES)."""
    from django.conf import settings

    saved = getattr(settings, "MIGRATION_MODULES", {}) or {}
    modules = dict(saved)
    with tempfile.TemporaryDirectory(prefix="migguard-old-") as folder:
        for app, (commit, path) in sorted(history.folders.items()):
            package = Path(folder) / f"migguard_old_{app}_{uuid.uuid4().hex[:8]}"
            package.mkdir()
            try:
                entries = gitio.text(["ls-tree", "--name-only", f"{commit}:{path}"], root).split()
                for name in entries:
                    if name.endswith(".py"):
                        (package / name).write_bytes(gitio.run(["show", f"{commit}:{path}/{name}"], root))
            except gitio.GitError as error:
                raise CannotDelta(f"cannot read the old migrations of {app} from git ({error})") from None
            (package / "__init__.py").touch()
            modules[app] = package.name
        sys.path.insert(0, folder)
        settings.MIGRATION_MODULES = modules
        importlib.invalidate_caches()
        try:
            yield
        finally:
            settings.MIGRATION_MODULES = saved
            sys.path.remove(folder)


def measure(connection: Any, root: str, history: OldHistory, stale: list[Key], record: list[Key]) -> Delta:
    """Compare the database with a fresh one built along the old history; the autodetector's steps old -> new."""
    from migguard.django import service

    recorded = set(service.facts(connection).recorded)
    with old_migrations(root, history):
        try:
            old = MigrationLoader(None, ignore_no_migrations=True)
        except Exception as error:  # NodeNotFoundError and the like: the old graph does not hold together
            raise CannotDelta(f"the old history does not load ({service._first_line(error)})") from None
        target = recorded & set(old.graph.nodes)
        missing = [key for key in stale if key not in target]
        if missing:
            raise CannotDelta(f"{missing[0][0]}.{missing[0][1]} is not in the old history read from git")
        old_state = old.project_state(sorted(target), at_end=True)
        differences = schema.differences(schema.snapshot(connection), service._fresh_schema(connection, target))
    new = MigrationLoader(None, ignore_no_migrations=True)
    new_target = ((recorded - set(stale)) | set(record)) & set(new.graph.nodes)
    new_state = new.project_state(sorted(new_target), at_end=True)
    changes = MigrationAutodetector(old_state, new_state, MigrationQuestioner()).changes(graph=new.graph)
    return Delta(differences, _ordered(changes), len(target), old_state)


def _ordered(changes: dict[str, list[Migration]]) -> list[Migration]:
    """The autodetector's migrations, each after the ones of this set it depends on."""
    pending = [migration for app in sorted(changes) for migration in changes[app]]
    names = {(migration.app_label, migration.name) for migration in pending}
    done: set[Key] = set()
    ordered: list[Migration] = []
    while pending:
        ready = [m for m in pending if all(tuple(d) not in names or tuple(d) in done for d in m.dependencies)]
        ready = ready or pending[:1]
        for migration in ready:
            ordered.append(migration)
            done.add((migration.app_label, migration.name))
            pending.remove(migration)
    return ordered


def apply_step(delta: Delta) -> Callable[[Any], None]:
    """A repair step applying the delta's migrations, from the old state, through the connection's schema editor."""

    def step(connection: Any) -> None:
        state = delta.old_state.clone()
        with connection.schema_editor(atomic=True) as editor:
            for migration in delta.migrations:
                state = migration.apply(state, editor)

    return step


def describe(migrations: list[Migration]) -> list[str]:
    return [f"{migration.app_label}: {operation.describe()}" for migration in migrations
            for operation in migration.operations]
