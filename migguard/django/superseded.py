"""A recorded migration whose file left this branch while a different one took its place ("already exists").

Found from the rows, git and Django's loader; repaired only when the database's schema proves it."""
from __future__ import annotations

import os
from typing import Any, NamedTuple

from django.db.migrations.loader import MigrationLoader

from migguard import gitio, reader
from migguard.django.findings import Facts, Finding

Key = tuple[str, str]
CAN_BECOME = ("unknown", "other_branch")


class Left(NamedTuple):
    """Where a recorded migration's file left this branch: the commit deleting it, the folder (from the root)."""

    commit: str
    folder: str


def refine(connection: Any, found: list[Finding], facts: Facts, root: str) -> list[Finding]:
    """`unknown` and `other_branch` findings become `superseded` when git and the schema say so."""
    candidates = [finding for finding in found if finding.code in CAN_BECOME]
    if not candidates:
        return found
    try:
        loader = MigrationLoader(None, ignore_no_migrations=True)
    except Exception:  # a graph Django cannot load is reported by what reads it first, not guessed at here
        return found
    recorded = set(facts.recorded)
    existing = Existing(connection)
    refined = []
    for finding in found:
        better = None
        if finding.code in CAN_BECOME and finding.app in facts.folders:
            better = _superseded(loader, finding, facts.folders[finding.app], recorded, existing, root)
        refined.append(better or finding)
    return refined


def left_branch(root: str, folder: str, name: str) -> Left | None:
    """The commit of this branch (HEAD's history) that deleted `name` from `folder`, or None."""
    relative = os.path.relpath(folder, root)
    if relative.startswith(".."):
        return None
    relative = relative.replace(os.sep, "/")
    try:
        commit = gitio.text(["log", "HEAD", "--no-renames", "--diff-filter=D", "-n", "1", "--format=%H", "--",
                             f"{relative}/{name}.py"], root).strip()
    except gitio.GitError:
        return None
    return Left(commit, relative) if commit else None


def _superseded(loader: MigrationLoader, finding: Finding, folder: str, recorded: set[Key],
                existing: Existing, root: str) -> Finding | None:
    app, old = finding.app, finding.migrations[0]
    left = left_branch(root, folder, old)
    if left is None:
        return None
    old_parents = _old_parents(root, left, app, old)
    graph = loader.graph
    matches = []
    for key in sorted(graph.nodes):
        if key[0] != app or key in recorded or key in loader.replacements:
            continue
        parents = {parent.key for parent in graph.node_map[key].parents}
        if not parents <= recorded:
            continue
        if old_parents is not None and sorted(name for a, name in parents if a == app) != list(old_parents):
            continue
        clash = _clashes(loader, key, existing)
        if clash:
            matches.append((key[1], clash))
    if len(matches) != 1:
        return None
    new, clash = matches[0]
    shown = ", ".join(clash[:4]) + (f" and {len(clash) - 4} more" if len(clash) > 4 else "")
    return Finding("superseded", app, [old, new],
                   f"{app}.{old} is recorded but its file left this branch in {left.commit[:10]}; {app}.{new} takes "
                   f"its place in the graph and would create what already exists ({shown}): `migguard db repair` "
                   f"records {new} in its place when the schema proves it")


def _old_parents(root: str, left: Left, app: str, name: str) -> tuple[str, ...] | None:
    """The same-app parents of the deleted migration, read statically from git (None when unreadable)."""
    try:
        text = gitio.run(["show", f"{left.commit}^:{left.folder}/{name}.py"], root).decode("utf-8")
    except (gitio.GitError, UnicodeDecodeError):
        return None
    source = reader.read_full(text)
    if any(problem.fatal for problem in source.problems):
        return None
    return tuple(sorted(dependency.name for dependency in source.dependencies
                        if not dependency.swappable and dependency.app in (app, "__self__")))


class Existing:
    """The database's tables, and the column names of those asked about (introspected once each)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        with connection.cursor() as cursor:
            self.tables = {info.name for info in connection.introspection.get_table_list(cursor) if info.type == "t"}
        self._columns: dict[str, set[str]] = {}

    def columns(self, table: str) -> set[str]:
        if table not in self.tables:
            return set()
        if table not in self._columns:
            with self.connection.cursor() as cursor:
                described = self.connection.introspection.get_table_description(cursor, table)
            self._columns[table] = {column.name for column in described}
        return self._columns[table]


def creates(loader: MigrationLoader, key: Key) -> tuple[set[str], set[tuple[str, str]]]:
    """The tables migration `key` creates, and the (table, column) pairs it adds to tables that were there."""
    node = loader.graph.node_map[key]
    parents = [parent.key for parent in node.parents]
    before = _tables(loader.project_state(parents, at_end=True)) if parents else {}
    after = _tables(loader.project_state(key, at_end=True))
    tables = {table for table in after if table not in before}
    columns = {(table, column) for table in after if table in before for column in after[table] - before[table]}
    return tables, columns


def _tables(state: Any) -> dict[str, set[str]]:
    tables: dict[str, set[str]] = {}
    for model in state.apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            tables[model._meta.db_table] = {field.column for field in model._meta.local_concrete_fields}
    return tables


def _clashes(loader: MigrationLoader, key: Key, existing: Existing) -> list[str]:
    """What `key` would create that the database already has: `table` or `table.column`."""
    tables, columns = creates(loader, key)
    return sorted(table for table in tables if table in existing.tables) + sorted(
        f"{table}.{column}" for table, column in columns if column in existing.columns(table))


def repair(connection: Any, found: list[Finding], apply: bool, root: str, allow_delta: bool,
           brief: bool = False) -> tuple[int, str]:
    """Record each superseding migration in place of the stale row, only when the schema proves it (one change)."""
    from migguard.django import delta, service

    chosen = [finding for finding in found if finding.code == "superseded"]
    stale = [(finding.app, finding.migrations[0]) for finding in chosen]
    record = [(finding.app, finding.migrations[1]) for finding in chosen]
    lines = [f"database {connection.alias!r} ({service.describe(connection)}):"]
    lines += [f"  delete stale row {app}.{old} (its file left this branch); record {app}.{new} as applied"
              for (app, old), (_, new) in zip(stale, record, strict=True)]
    lines += [f"  left alone ({finding.code}): {finding.message}" for finding in found if finding not in chosen]
    backup = service.save_rows(connection, root) if apply else None
    outcome = service.attempt(connection, [], stale, keep=apply, insert=record)
    steps: list[str] = []
    if outcome.differences and not outcome.error and allow_delta:
        try:
            history = delta.OldHistory(_old_folders(connection, chosen, root))
            measured = delta.measure(connection, root, history, stale, record)
        except delta.CannotDelta as error:
            return 1, "\n".join(lines + [f"refused, nothing changed: {error}."])
        if measured.differences:
            lines.append("refused, nothing changed: the database's schema equals neither the new history nor the old "
                         f"one read from git ({measured.old_count} migrations); against the old one:")
            return 1, "\n".join(lines + [f"  {line}" for line in measured.differences])
        steps = delta.describe(measured.migrations)
        lines.append(f"  the schema equals a fresh database migrated along the old history ({measured.old_count} "
                     "migrations, read from git); bringing it over:")
        lines += [f"    {step}" for step in steps]
        outcome = service.attempt(connection, [], stale, keep=apply, insert=record, step=delta.apply_step(measured))
    if outcome.sql:
        lines.append("  SQL:")
        lines += [f"    {statement}" for statement in outcome.sql]
    if outcome.error:
        return 1, "\n".join(lines + [f"refused, nothing changed: {outcome.error}"])
    if outcome.differences:
        lines.append("refused, nothing changed: the database's schema differs from a fresh database migrated along "
                     f"the new history ({outcome.migrations} migrations):")
        lines += [f"  {line}" for line in outcome.differences]
        if not steps:
            lines.append("`migguard db repair --allow-delta` brings the schema over when it equals the old history.")
        if brief:
            lines.append(f"refused: the schema differs from the migrations ({outcome.differences[0]})")
        return 1, "\n".join(lines)
    proof = f"the schema equals a fresh database migrated along the new history ({outcome.migrations} migrations)"
    if apply:
        return 0, "\n".join(lines + [f"repaired: {proof}. Rows before the repair, and the SQL restoring them: {backup}"])
    return 0, "\n".join(lines + [f"proof: {proof}. Run `migguard db repair --apply"
                                 f"{' --allow-delta' if steps else ''}` to do it."])


def _old_folders(connection: Any, chosen: list[Finding], root: str) -> dict[str, tuple[str, str]]:
    """Each app's migrations folder just before its stale migration's file left this branch."""
    from migguard.django import delta, service

    folders = {}
    for finding in chosen:
        folder = service._migrations_folder(finding.app)
        left = left_branch(root, folder, finding.migrations[0]) if folder else None
        if left is None:
            raise delta.CannotDelta(f"the old migrations of {finding.app} are not in this branch's git history")
        folders[finding.app] = (f"{left.commit}^", left.folder)
    return folders
