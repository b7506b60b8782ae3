"""Stop `migrate` before any SQL when the database recorded a migration under a name that was renamed."""
from __future__ import annotations

from typing import Any

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder


def blocking_findings(connection: Any, root: str) -> list[Any]:
    """The renamed, both_names and superseded findings; one query and no git call when every recorded name exists."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return []
    recorded = recorder.applied_migrations()
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    replaced = {tuple(key) for migration in loader.disk_migrations.values() for key in (migration.replaces or [])}
    if all(key in known or key in replaced for key in recorded):
        return []
    from migguard.django import service
    from migguard.django.findings import STOPS_MIGRATE

    return [finding for finding in service.findings(connection, root) if finding.code in STOPS_MIGRATE]
