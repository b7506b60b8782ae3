"""A database's schema as plain values, and the differences between two of them (constraint names ignored)."""
from __future__ import annotations

from typing import Any

Schema = dict[str, dict[str, Any]]


def snapshot(connection: Any) -> Schema:
    """Every table: its columns (type, length, precision, scale, nullability) and its constraints by content.

    Length is psycopg 3's `display_size` (Django reports it there; `internal_size` is None for varchar)."""
    introspection = connection.introspection
    tables: Schema = {}
    with connection.cursor() as cursor:
        for info in introspection.get_table_list(cursor):
            if info.type != "t":
                continue
            columns = {}
            for column in introspection.get_table_description(cursor, info.name):
                columns[column.name] = {
                    "type": _type_name(connection, column.type_code),
                    "length": column.display_size,
                    "size": column.internal_size,
                    "precision": column.precision,
                    "scale": column.scale,
                    "null": bool(column.null_ok),
                }
            constraints = sorted(
                _constraint(details) for details in introspection.get_constraints(cursor, info.name).values()
            )
            tables[info.name] = {"columns": columns, "constraints": constraints}
    return tables


def _type_name(connection: Any, code: Any) -> str:
    """A column type as the database names it (`varchar`, not psycopg's oid 1043)."""
    if isinstance(code, int) and connection.vendor == "postgresql":
        try:
            from psycopg.postgres import types

            info = types.get(code)
            if info is not None:
                return str(info.name)
        except ImportError:
            pass
    return str(code).lower()


def _constraint(details: dict[str, Any]) -> str:
    """One constraint, named by what it does: columns, kind, foreign-key target."""
    kinds = [kind for kind in ("primary_key", "unique", "check", "index") if details.get(kind)]
    target = details.get("foreign_key")
    text = f"{'+'.join(kinds) or 'constraint'}({', '.join(details.get('columns') or [])})"
    if target:
        text += f" -> {target[0]}.{target[1]}"
    if details.get("index") and details.get("orders"):
        text += f" orders {','.join(order or 'ASC' for order in details['orders'])}"
    return text


def differences(actual: Schema, expected: Schema) -> list[str]:
    """What `actual` (the database) has that `expected` (built from scratch along the migrations) has not, and back.

    One line each, e.g. `healthcare_userprofile.role: varchar(20) in the database, varchar(32) in the migrations`."""
    lines = []
    for table in sorted(set(actual) | set(expected)):
        if table not in expected:
            lines.append(f"table {table}: in the database, not in the migrations")
            continue
        if table not in actual:
            lines.append(f"table {table}: missing (the migrations create it)")
            continue
        ours, theirs = actual[table]["columns"], expected[table]["columns"]
        for column in sorted(set(ours) | set(theirs)):
            if column not in theirs:
                lines.append(f"{table}.{column}: in the database, not in the migrations")
            elif column not in ours:
                lines.append(f"{table}.{column}: missing (the migrations create it)")
            elif ours[column] != theirs[column]:
                lines.append(f"{table}.{column}: {_pair(ours[column], theirs[column])} in the migrations")
        extra = sorted(set(actual[table]["constraints"]) - set(expected[table]["constraints"]))
        missing = sorted(set(expected[table]["constraints"]) - set(actual[table]["constraints"]))
        lines += [f"{table}: {item} in the database, not in the migrations" for item in extra]
        lines += [f"{table}: {item} missing (the migrations create it)" for item in missing]
    return lines


def _pair(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """`<ours> in the database, <theirs>` naming only what tells them apart."""
    nulls = ours["null"] != theirs["null"]
    mine, other = _describe(ours, nulls), _describe(theirs, nulls)
    if mine == other:
        keys = [key for key in sorted(ours) if ours[key] != theirs.get(key)]
        mine += " " + ", ".join(f"{key} {ours[key]}" for key in keys)
        other += " " + ", ".join(f"{key} {theirs.get(key)}" for key in keys)
    return f"{mine} in the database, {other}"


def _describe(column: dict[str, Any], nulls: bool = True) -> str:
    """`varchar(20)`, `numeric precision 8 scale 2`; with ` null` / ` not null` when `nulls`."""
    text = str(column["type"])
    if column["length"] not in (None, -1) and "(" not in text:
        text += f"({column['length']})"
    if column["precision"] is not None and column["scale"] is not None and column["type"] not in ("integer", "bigint"):
        text += f" precision {column['precision']} scale {column['scale']}"
    return text + ((" null" if column["null"] else " not null") if nulls else "")
