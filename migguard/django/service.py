"""`db status` and `db repair` inside a configured Django: the same code for the CLI's subprocess and manage.py."""
from __future__ import annotations

import contextlib
import copy
import json
import os
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from migguard.django import schema
from migguard.django.findings import REPAIRABLE, Facts, Finding, classify

Key = tuple[str, str]
Step = Callable[[Any], None]
LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


class CannotRun(Exception):
    """The database cannot be reached or named; the message is one sentence."""


class NoDatabaseYet(Exception):
    """An SQLite database whose file does not exist: nothing recorded, nothing to repair."""


class Rollback(Exception):
    """Leave the repair transaction without keeping anything."""


class Outcome(NamedTuple):
    ok: bool
    sql: list[str]
    applied: list[Key]
    differences: list[str]
    error: str
    migrations: int


def connection_for(alias: str | None) -> Any:
    alias = alias or DEFAULT_DB_ALIAS
    if alias not in connections:
        raise CannotRun(f"no database {alias!r} in settings.DATABASES (there: {', '.join(connections)}).")
    connection = connections[alias]
    if connection.vendor == "sqlite" and not _sqlite_file_exists(connection):
        raise NoDatabaseYet(f"database {alias!r} ({describe(connection)}): no database file yet, nothing recorded.")
    try:
        connection.ensure_connection()
    except Exception as error:  # every backend raises its own
        raise CannotRun(f"cannot connect to database {alias!r}: {_first_line(error)}") from None
    return connection


def describe(connection: Any) -> str:
    name = connection.settings_dict.get("NAME")
    host = connection.settings_dict.get("HOST") or "local"
    return f"{connection.vendor} {name}" + ("" if connection.vendor == "sqlite" else f" on {host}")


def is_local(connection: Any) -> bool:
    """On this machine: an SQLite file, or a server on localhost or a Unix socket."""
    if connection.vendor == "sqlite":
        return True
    host = str(connection.settings_dict.get("HOST") or "")
    return host in LOCAL_HOSTS or host.startswith("/")


def facts(connection: Any) -> Facts:
    """The recorded rows and what Django's loader finds on disk."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    recorder = MigrationRecorder(connection)
    recorded = sorted(recorder.applied_migrations()) if recorder.has_table() else []
    folders: dict[str, str] = {}
    on_disk: dict[str, list[str]] = {}
    from django.apps import apps

    for config in apps.get_app_configs():
        folder = _migrations_folder(config.label)
        if folder:
            folders[config.label] = folder
    for app, name in loader.disk_migrations:
        on_disk.setdefault(app, []).append(name)
    replaced = [key for migration in loader.disk_migrations.values() for key in (migration.replaces or [])]
    return Facts(recorded, folders, {app: sorted(names) for app, names in on_disk.items()}, [tuple(k) for k in replaced])


def _migrations_folder(label: str) -> str | None:
    import importlib.util

    module, _ = MigrationLoader.migrations_module(label)
    if module is None:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(list(spec.submodule_search_locations)[0])


def findings(connection: Any, root: str) -> list[Finding]:
    from migguard.django import cycles, ordering, superseded

    loader = cycles.load(connection)
    loop = cycles.finding(loader)
    if loop:  # Django's loader cannot build the graph: nothing else can be judged
        return [loop]
    known = facts(connection)
    found = superseded.refine(connection, classify(known, root), known, root)
    return found + ordering.out_of_order(loader, connection, found)


def status(alias: str | None, output: str, root: str) -> tuple[int, str]:
    try:
        connection = connection_for(alias)
    except NoDatabaseYet as empty:
        from migguard.django import cycles

        loop = cycles.finding(cycles.load(None))  # the files alone: `migrate` fails on a new database too
        if output == "json":
            return (1 if loop else 0), json.dumps({"ok": not loop, "database": alias or DEFAULT_DB_ALIAS,
                                                   "findings": [loop.as_json()] if loop else []})
        return (1 if loop else 0), str(empty) + (f"\n  {loop.code}: {loop.message}" if loop else "")
    found = findings(connection, root)
    if output == "json":
        text = json.dumps({"ok": not found, "database": connection.alias, "findings": [f.as_json() for f in found]})
        return (1 if found else 0), text
    if not found:
        return 0, f"database {connection.alias!r} ({describe(connection)}): clean."
    lines = [f"database {connection.alias!r} ({describe(connection)}): {len(found)} finding(s)"]
    lines += [f"  {finding.code}: {finding.message}" for finding in found]
    return 1, "\n".join(lines)


def repair(alias: str | None, apply: bool, root: str, brief: bool = False, allow_delta: bool = False) -> tuple[int, str]:
    """Plan (and with `apply`, do) the repair of renamed and doubly recorded migrations, proven or refused.

    `brief`: the last line alone says what happened (for the hooks)."""
    try:
        connection = connection_for(alias)
    except NoDatabaseYet as empty:
        return 0, f"{empty} Nothing to repair."
    found = findings(connection, root)
    if any(f.code == "superseded" for f in found) and not any(f.code in REPAIRABLE for f in found):
        from migguard.django import superseded  # renames first: a hook bringing a database along relies on it

        return superseded.repair(connection, found, apply, root, allow_delta, brief)
    head = f"database {connection.alias!r} ({describe(connection)})"
    repairable = [finding for finding in found if finding.code in REPAIRABLE]
    if not repairable and any(finding.code == "out_of_order" for finding in found):
        from migguard.django import ordering

        return ordering.repair(connection, found, apply, root)
    left = [finding for finding in found if finding.code not in REPAIRABLE]
    lines = [f"{head}:"]
    if not repairable:
        if not left:
            return 0, f"{head}: nothing to repair."
        lines += [f"  left alone ({finding.code}): {finding.message}" for finding in left]
        return 1, "\n".join(lines + ["not repaired: `migguard db repair` changes only renamed, doubly recorded, superseded and out-of-order "
                                     "migrations; a cycle is fixed in the migration files (see the finding)."])
    renames = [(f.app, f.migrations[0], f.migrations[-1]) for f in repairable if f.code == "renamed"]
    stale = [(f.app, f.migrations[0]) for f in repairable if f.code == "both_names"]
    lines += [f"  rename row {app}.{old} -> {new}" for app, old, new in renames]
    lines += [f"  delete stale row {app}.{old} ({app}.{f.migrations[-1]} is recorded)"
              for (app, old), f in zip(stale, [f for f in repairable if f.code == "both_names"], strict=True)]
    if stale and connection.vendor == "sqlite":
        lines.append("  warning: the new name was applied too; on SQLite that rebuilt the table and may have "
                     "replaced the column's values with its default: check the data")
    lines += [f"  left alone ({finding.code}): {finding.message}" for finding in left]
    backup = None
    if apply:
        backup = save_rows(connection, root)
    try:
        outcome = attempt(connection, renames, stale, keep=apply, backup=backup)
    except CannotRun:
        raise
    lines += [f"  apply {app}.{name}" for app, name in outcome.applied]
    if outcome.sql:
        lines.append("  SQL:")
        lines += [f"    {statement}" for statement in outcome.sql]
    if outcome.error:
        lines.append(f"refused, nothing changed: {outcome.error}")
        return 1, "\n".join(lines)
    if outcome.differences:
        lines.append("refused, nothing changed: the schema would differ from a fresh database migrated to the same "
                     f"{outcome.migrations} migrations:")
        lines += [f"  {line}" for line in outcome.differences]
        if brief:
            lines.append(f"refused: the schema would differ from a fresh database ({outcome.differences[0]})")
        return 1, "\n".join(lines)
    proof = f"the schema equals a fresh database migrated to the same {outcome.migrations} migrations"
    if brief and apply:
        moved = ", ".join(f"{app}.{old} -> {new}" for app, old, new in renames)
        dropped = ", ".join(f"{app}.{old}" for app, old in stale)
        applied = ", ".join(f"{app}.{name}" for app, name in outcome.applied) or "nothing"
        return 0, "\n".join(lines + [f"rows {'renamed ' + moved if moved else ''}{'; ' if moved and dropped else ''}"
                                     f"{'stale rows deleted ' + dropped if dropped else ''}; applied {applied}; "
                                     f"{proof} (rows before: {backup})"])
    if apply:
        lines.append(f"repaired: {proof}. Rows before the repair, and the SQL restoring them: {backup}")
    else:
        lines.append(f"proof: {proof}. Run `migguard db repair --apply` to do it.")
    return 0, "\n".join(lines)


def save_rows(connection: Any, root: str) -> str:
    """Write django_migrations as it is, with the SQL that puts it back, under the git directory."""
    from migguard import gitio

    try:
        folder = gitio.common_dir(root) / "migguard" / "db"
    except gitio.GitError:
        folder = Path(root) / ".migguard-db"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{uuid.uuid4().hex[:6]}"
    path = folder / f"{stamp}-{connection.alias}.sql"
    table = connection.ops.quote_name("django_migrations")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, app, name, applied FROM {table} ORDER BY id")
        rows = cursor.fetchall()
    lines = [f"-- django_migrations of database {connection.alias!r} ({describe(connection)}) before "
             f"`migguard db repair` at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.",
             "-- Running this file puts the rows back (the schema changes of migrations the repair applied stay).",
             "BEGIN;", f"DELETE FROM {table};"]
    for row_id, app, name, applied in rows:
        lines.append(f"INSERT INTO {table} (id, app, name, applied) VALUES "
                     f"({int(row_id)}, {_quote(app)}, {_quote(name)}, {_quote(str(applied))});")
    lines.append("COMMIT;")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if connection.vendor == "sqlite":
        copy_sqlite(connection.settings_dict["NAME"], str(path.with_suffix(".sqlite3")))
    return str(path)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_sqlite(source: str, target: str) -> None:
    """A consistent copy of an SQLite database through its backup API."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def attempt(connection: Any, renames: list[tuple[str, str, str]], stale: list[Key], keep: bool,
            backup: str | None = None, insert: list[Key] | None = None, step: Step | None = None) -> Outcome:
    """Change the rows, apply what they now stand on, compare with a fresh database; keep it only if `keep` and equal.

    `insert`: rows to add (migrations recorded as applied); `step`: more schema changes made with the rows'."""
    if connection.vendor == "sqlite":
        return _attempt_sqlite(connection, renames, stale, keep, insert, step)
    return _attempt_in_transaction(connection, renames, stale, keep, insert, step)


def _attempt_in_transaction(connection: Any, renames: list[tuple[str, str, str]], stale: list[Key],
                            keep: bool, insert: list[Key] | None = None, step: Step | None = None) -> Outcome:
    result: list[Outcome] = []
    try:
        with transaction.atomic(using=connection.alias):
            outcome = _change_and_prove(connection, renames, stale, insert, step)
            result.append(outcome)
            if not (keep and outcome.ok):
                raise Rollback
    except Rollback:
        pass
    except Exception as error:
        return Outcome(False, result[0].sql if result else [], [], [], _first_line(error), 0)
    return result[0]


def _attempt_sqlite(connection: Any, renames: list[tuple[str, str, str]], stale: list[Key], keep: bool,
                    insert: list[Key] | None = None, step: Step | None = None) -> Outcome:
    """Work on a copy of the file; only a proven copy replaces the original (the original is saved first)."""
    original = connection.settings_dict["NAME"]
    connection.close()
    with tempfile.TemporaryDirectory(prefix="migguard-db-") as folder:
        work_path = os.path.join(folder, "work.sqlite3")
        copy_sqlite(original, work_path)
        try:
            with _swapped(connection, work_path) as work:
                outcome = _change_and_prove(work, renames, stale, insert, step)
        except Exception as error:
            return Outcome(False, [], [], [], _first_line(error), 0)
        if keep and outcome.ok:
            saved = os.path.join(folder, "before.sqlite3")
            copy_sqlite(original, saved)
            try:
                copy_sqlite(work_path, original)
            except Exception as error:
                copy_sqlite(saved, original)
                return outcome._replace(ok=False, error=f"could not write the repaired database back "
                                        f"({_first_line(error)}); the original is restored")
        return outcome


@contextlib.contextmanager
def _swapped(connection: Any, name: str, options: str = "") -> Iterator[Any]:
    """A connection to database `name` with the settings (and the alias) of `connection`, standing in for it."""
    settings = copy.deepcopy(connection.settings_dict)
    settings["NAME"] = name
    if options:
        settings.setdefault("OPTIONS", {})["options"] = options
    stand_in = connection.__class__(settings, alias=connection.alias)
    connections[connection.alias] = stand_in
    try:
        yield stand_in
    finally:
        stand_in.close()
        connections[connection.alias] = connection


def _change_and_prove(connection: Any, renames: list[tuple[str, str, str]], stale: list[Key],
                      insert: list[Key] | None = None, step: Step | None = None) -> Outcome:
    statements: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(_render(sql, params, many))
        return execute(sql, params, many, context)

    recorder = MigrationRecorder(connection)
    table = connection.ops.quote_name(recorder.Migration._meta.db_table)
    with connection.execute_wrapper(record):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, app, name FROM {table}")
            ids = {(app, name): row_id for row_id, app, name in cursor.fetchall()}
            # by id, all chosen before any change: a new name may be another row's old name
            for app, old, new in renames:
                cursor.execute(f"UPDATE {table} SET name = %s WHERE id = %s", [new, ids[(app, old)]])
            for app, old in stale:
                cursor.execute(f"DELETE FROM {table} WHERE id = %s", [ids[(app, old)]])
        for app, name in insert or []:
            recorder.record_applied(app, name)
        if step is not None:
            step(connection)
        executor = MigrationExecutor(connection)
        graph = executor.loader.graph
        applied = set(executor.loader.applied_migrations) & set(graph.nodes)
        needed: set[Key] = set()
        for key in applied:
            needed.update(graph.forwards_plan(key))
        full_plan = executor.migration_plan(graph.leaf_nodes(), clean_start=True)
        missing = [(m.app_label, m.name) for m, _ in full_plan if (m.app_label, m.name) in needed - applied]
        plan = [(graph.nodes[key], False) for key in missing]
        if plan:
            executor.migrate(None, plan=plan)
    target = needed | applied
    repaired = schema.snapshot(connection)
    fresh = _fresh_schema(connection, target)
    differences = schema.differences(repaired, fresh)
    return Outcome(not differences, statements, missing, differences, "", len(target))


def _fresh_schema(connection: Any, target: set[Key]) -> schema.Schema:
    """The schema of a throwaway database migrated from scratch to exactly the migrations `target`."""
    if connection.vendor == "sqlite":
        with tempfile.TemporaryDirectory(prefix="migguard-shadow-") as folder:
            return _migrated_schema(connection, os.path.join(folder, "shadow.sqlite3"), target)
    if connection.vendor == "postgresql":
        name = f"migguard_shadow_{uuid.uuid4().hex[:12]}"
        try:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        except Exception:  # a role without CREATEDB: a temporary schema of the same database instead
            return _schema_shadow(connection, name, target)
        try:
            return _migrated_schema(connection, name, target)
        finally:
            with connection._nodb_cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    raise CannotRun(f"repair supports SQLite and PostgreSQL, not {connection.vendor}.")


def _schema_shadow(connection: Any, name: str, target: set[Key]) -> schema.Schema:
    """The shadow as schema `name` of the same database, seen alone through `search_path`."""
    import psycopg

    settings = connection.get_connection_params()
    settings.pop("cursor_factory", None)
    settings.pop("context", None)
    with psycopg.connect(**settings, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        return _migrated_schema(connection, connection.settings_dict["NAME"], target,
                                options=f"-c search_path={name}")
    finally:
        with psycopg.connect(**settings, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _migrated_schema(connection: Any, name: str, target: set[Key], options: str = "") -> schema.Schema:
    with _swapped(connection, name, options) as shadow:
        executor = MigrationExecutor(shadow)
        full_plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
        plan = [(migration, False) for migration, _ in full_plan if (migration.app_label, migration.name) in target]
        executor.migrate(None, plan=plan)
        return schema.snapshot(shadow)


def _render(sql: str, params: Any, many: bool) -> str:
    text = " ".join(sql.split())
    if params and not many:
        try:
            text = text % tuple(_quote(str(p)) if isinstance(p, str) else ("NULL" if p is None else str(p)) for p in params)
        except (TypeError, ValueError):
            text += f"  -- {params!r}"
    return text + ("" if text.endswith(";") else ";")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def prove(alias: str, renames: list[tuple[str, str, str]], packages: dict[str, dict[str, str]], root: str) -> str:
    """Before a hook renames anything: would the repair succeed with the migrations as they are about to be?

    `packages` holds each touched migrations folder (relative to `root`) as it will be; they stand in for the
    app's migrations through MIGRATION_MODULES. Nothing is kept. '' when proven, else the reason."""
    import importlib
    import sys

    from django.apps import apps
    from django.conf import settings

    folders = {os.path.realpath(folder): label for label in [c.label for c in apps.get_app_configs()]
               if (folder := _migrations_folder(label))}
    modules = dict(getattr(settings, "MIGRATION_MODULES", {}) or {})
    with tempfile.TemporaryDirectory(prefix="migguard-preview-") as preview:
        for index, (folder, files) in enumerate(sorted(packages.items())):
            label = folders.get(os.path.realpath(os.path.join(root, folder)))
            if label is None:
                return f"{folder} is not the migrations folder of an installed app"
            package = Path(preview) / f"migguard_preview_{index}"
            package.mkdir()
            for name, text in files.items():
                (package / name).write_text(text, encoding="utf-8")
            modules[label] = package.name
        sys.path.insert(0, preview)
        settings.MIGRATION_MODULES = modules
        importlib.invalidate_caches()
        try:
            outcome = attempt(connection_for(alias), renames, [], keep=False)
        finally:
            sys.path.remove(preview)
    if outcome.error:
        return outcome.error
    if outcome.differences:
        return f"the schema would differ from a fresh database ({outcome.differences[0]})"
    return ""


def _sqlite_file_exists(connection: Any) -> bool:
    name = str(connection.settings_dict.get("NAME") or "")
    return bool(name) and name != ":memory:" and not name.startswith("file:") and os.path.exists(name)


def applied_where(names: list[Key], root: str) -> list[dict[str, Any]]:
    """For each database of the settings: is it on this machine, and which of `names` has it recorded."""
    answers = []
    for alias in connections:
        connection = connections[alias]
        entry: dict[str, Any] = {"database": alias, "local": is_local(connection), "applied": [], "error": "",
                                 "findings": []}
        if connection.vendor == "sqlite" and not _sqlite_file_exists(connection):
            answers.append(entry)
            continue
        try:
            connection.ensure_connection()
            recorder = MigrationRecorder(connection)
            recorded = recorder.applied_migrations() if recorder.has_table() else {}
            entry["applied"] = [list(key) for key in names if tuple(key) in recorded]
            if entry["applied"] and entry["local"]:
                entry["findings"] = sorted({finding.code for finding in findings(connection, root)})
        except Exception as error:
            entry["error"] = _first_line(error)
        answers.append(entry)
    return answers
