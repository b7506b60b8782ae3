"""Recorded migrations applied before one of their dependencies (Django's InconsistentMigrationHistory):
named with the likely cause, and repaired only when the schema proves the dependency's effects are there."""
from __future__ import annotations

import os
import tempfile
from typing import Any, NamedTuple

from django.db import transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from migguard.django import cycles, schema, service
from migguard.django.findings import Finding

Key = tuple[str, str]
CODE = "out_of_order"


class Proof(NamedTuple):
    """What recording the missing dependencies would give: the differences from a fresh database, or an error."""

    differences: list[str]
    error: str
    migrations: int


def out_of_order(loader: MigrationLoader, connection: Any, others: list[Finding]) -> list[Finding]:
    """One finding per recorded migration and unrecorded dependency, as `check_consistent_history` sees them.

    A dependency that another finding already explains (a renamed migration's new name, and what it stands on) is left to it."""
    applied = _recorded(connection)
    graph = loader.graph
    covered = {(f.app, name) for f in others for name in f.migrations} & set(graph.nodes)
    explained = set(covered)
    for key in covered:
        explained.update(graph.forwards_plan(key))
    found = []
    for child in sorted(applied):
        if child not in graph.nodes:
            continue
        for parent in sorted(node.key for node in graph.node_map[child].parents):
            if parent in applied or parent in explained or _squash_applied(loader, parent, applied):
                continue
            found.append(Finding(CODE, child[0], [_name(child), _name(parent)],
                                 f"{_name(child)} is applied before its dependency {_name(parent)} "
                                 f"(InconsistentMigrationHistory); likely cause: {cause(loader, child, parent, applied)}; "
                                 f"`migguard db repair` records {_name(parent)} only if the schema proves it is "
                                 f"already there"))
    return found


def cause(loader: MigrationLoader, child: Key, parent: Key, applied: set[Key]) -> str:
    """One sentence: why a database recorded `child` without `parent`."""
    from django.conf import settings

    user_model = str(getattr(settings, "AUTH_USER_MODEL", "auth.User"))
    swappable = any(getattr(dependency, "setting", None) == user_model  # SwappableTuple keeps the setting's value
                    for dependency in loader.graph.nodes[child].dependencies)
    app_recorded = any(key[0] == parent[0] for key in applied)
    if swappable and user_model.split(".", 1)[0] == parent[0] and not app_recorded:
        return (f"a custom user model (AUTH_USER_MODEL = {user_model!r}) was added to a project whose database "
                f"was already migrated with auth.User, and {_name(child)} depends on the user model")
    if not app_recorded:
        return f"app {parent[0]} (or its migrations) came after {_name(child)} was applied, and {_name(child)} now depends on it"
    return (f"{_name(parent)} was put before migrations this database had already applied (a rebase, a merge "
            f"or an edited `dependencies`)")


def repair(connection: Any, found: list[Finding], apply: bool, root: str) -> tuple[int, str]:
    """Record the missing dependencies when the schema proves them; otherwise refuse with the differences and the steps."""
    head = f"database {connection.alias!r} ({service.describe(connection)})"
    gaps = [finding for finding in found if finding.code == CODE]
    lines = [f"{head}:"]
    lines += [f"  left alone ({finding.code}): {finding.message}" for finding in found if finding.code != CODE]
    loader = cycles.load(connection)
    applied = _recorded(connection)
    missing = _missing(loader, applied)
    target = (applied & set(loader.graph.nodes)) | set(missing)
    if not missing:
        return 1, "\n".join(lines + ["not repaired: no unrecorded migration found behind the recorded ones; "
                                      "`migguard db status` says what is recorded out of order"])
    lines += [f"  record {_name(key)} as applied (no SQL: its effects must already be in the schema)" for key in missing]
    backup = service.save_rows(connection, root) if apply else None
    proof = prove(connection, missing, target, keep=apply)
    names = ", ".join(_name(key) for key in missing)
    if proof.error:
        lines.append(f"refused, nothing changed: {proof.error}")
        return 1, "\n".join(lines)
    if proof.differences:
        lines.append(f"refused, nothing changed: with {names} recorded, the schema would differ from a fresh database "
                     f"migrated to the same {proof.migrations} migrations:")
        lines += [f"  {line}" for line in proof.differences]
        lines.append("what to do (never delete the database or the migrations; `migrate --fake` stops at the same "
                     "error, and would only record tables that are not there):")
        lines += [f"  {index}. {step}" for index, step in enumerate(steps(loader, gaps, applied), 1)]
        return 1, "\n".join(lines)
    said = f"the schema equals a fresh database migrated to the same {proof.migrations} migrations"
    if apply:
        lines.append(f"repaired: recorded {names}; {said}. Rows before the repair, and the SQL restoring them: {backup}")
    else:
        lines.append(f"proof: {said}. Run `migguard db repair --apply` to record {names}.")
    return 0, "\n".join(lines)


def steps(loader: MigrationLoader, gaps: list[Finding], applied: set[Key]) -> list[str]:
    """What a person must do when the schema does not prove the missing migrations."""
    from django.conf import settings

    user_model = str(getattr(settings, "AUTH_USER_MODEL", "auth.User"))
    user_app = user_model.split(".", 1)[0]
    parents = sorted({finding.migrations[1] for finding in gaps})
    if any(parent.split(".", 1)[0] == user_app for parent in parents) and not any(key[0] == user_app for key in applied):
        return [
            f"to keep the users this database holds, declare {user_model} on their table: `db_table = \"auth_user\"` "
            f"in its Meta, with the key types of that table (`default_auto_field = \"django.db.models.AutoField\"` in "
            f"the app's AppConfig, or `id = models.AutoField(primary_key=True)`, when auth_user.id is an integer); "
            f"change {', '.join(parents)} to match (or make it again, if no database applied it) and run "
            f"`migguard db repair` again",
            f"or keep AUTH_USER_MODEL = 'auth.User' for this database and move to {user_model} as Django's "
            f"documentation describes (\"Changing to a custom user model mid-project\"): a data migration copying "
            f"the users, then the switch",
        ]
    return [
        f"if {', '.join(parents)} was renamed or replaced, `migguard db status` names it; otherwise apply its "
        f"SQL where its effects are missing (`manage.py sqlmigrate APP NAME` prints it) and run `migguard db repair` "
        f"again",
        "or reverse the migrations that depend on it (`manage.py migrate APP PREVIOUS`, on a copy first) so that "
        "`migrate` can apply them in order",
    ]


def prove(connection: Any, missing: list[Key], target: set[Key], keep: bool) -> Proof:
    """Record `missing` and compare the schema with a fresh database migrated to `target`; keep it only if `keep` and equal."""
    if connection.vendor == "sqlite":
        return _prove_on_a_copy(connection, missing, target, keep)
    outcome: list[Proof] = []
    try:
        with transaction.atomic(using=connection.alias):
            outcome.append(_record_and_compare(connection, missing, target))
            if not (keep and not outcome[0].differences):
                raise service.Rollback
    except service.Rollback:
        pass
    except Exception as error:
        return Proof([], service._first_line(error), 0)
    return outcome[0]


def _prove_on_a_copy(connection: Any, missing: list[Key], target: set[Key], keep: bool) -> Proof:
    """SQLite: work on a copy; only a proven copy replaces the original (which is saved first)."""
    original = connection.settings_dict["NAME"]
    connection.close()
    with tempfile.TemporaryDirectory(prefix="migguard-db-") as folder:
        work_path = os.path.join(folder, "work.sqlite3")
        service.copy_sqlite(original, work_path)
        try:
            with service._swapped(connection, work_path) as work:
                proof = _record_and_compare(work, missing, target)
        except Exception as error:
            return Proof([], service._first_line(error), 0)
        if keep and not proof.differences:
            saved = os.path.join(folder, "before.sqlite3")
            service.copy_sqlite(original, saved)
            try:
                service.copy_sqlite(work_path, original)
            except Exception as error:
                service.copy_sqlite(saved, original)
                return Proof([], f"could not write the repaired database back ({service._first_line(error)}); "
                                 f"the original is restored", 0)
        return proof


def _record_and_compare(connection: Any, missing: list[Key], target: set[Key]) -> Proof:
    recorder = MigrationRecorder(connection)
    for app, name in missing:
        recorder.record_applied(app, name)
    actual = schema.snapshot(connection)
    fresh = service._fresh_schema(connection, target)
    return Proof(schema.differences(actual, fresh), "", len(target))


def _missing(loader: MigrationLoader, applied: set[Key]) -> list[Key]:
    """Every unrecorded migration a recorded one stands on, parents first."""
    graph = loader.graph
    done = set(loader.applied_migrations) | applied
    needed: set[Key] = set()
    for key in applied & set(graph.nodes):
        needed.update(graph.forwards_plan(key))
    order = {key: index for index, key in enumerate(_plan(loader))}
    return sorted((key for key in needed if key not in done), key=lambda key: order.get(key, len(order)))


def _plan(loader: MigrationLoader) -> list[Key]:
    graph = loader.graph
    seen: set[Key] = set()
    plan: list[Key] = []
    for leaf in sorted(graph.leaf_nodes()):
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(key)
    return plan


def _recorded(connection: Any) -> set[Key]:
    recorder = MigrationRecorder(connection)
    return {(app, name) for app, name in recorder.applied_migrations()} if recorder.has_table() else set()


def _squash_applied(loader: MigrationLoader, key: Key, applied: set[Key]) -> bool:
    """Django accepts an unrecorded squash whose replaced migrations are all recorded."""
    squash = loader.replacements.get(key)
    return squash is not None and all(tuple(replaced) in applied for replaced in squash.replaces)


def _name(key: Key) -> str:
    return f"{key[0]}.{key[1]}"
