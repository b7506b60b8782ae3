"""`migguard db status|repair`: find the settings and the project's Python, run Django there."""
from __future__ import annotations

import sys

import click

FORMAT = click.Choice(["text", "json"])


def _run(settings: str | None, request: dict[str, object]) -> int:
    from migguard.django import locate

    try:
        where = locate.target(".", settings)
    except locate.NoSettings as error:
        click.echo(f"migguard: {error}", err=True)
        return 2
    try:
        return locate.run_worker(where, request).returncode
    except OSError as error:
        click.echo(f"migguard: cannot run {where.python} ({error.strerror}).", err=True)
        return 2


@click.group()
def db() -> None:
    """What a database recorded against this checkout's migrations, and repairs that keep its data."""


@db.command()
@click.option("--settings", metavar="MODULE", help="Django settings module (default: DJANGO_SETTINGS_MODULE, "
              "[tool.migguard] django_settings, then manage.py).")
@click.option("--database", metavar="ALIAS", help="Database alias (default: default).")
@click.option("--format", "output", type=FORMAT, default="text", show_default=True)
def status(settings: str | None, database: str | None, output: str) -> None:
    """Renamed, doubly recorded, other-branch and unknown migrations. Exit 0 clean, 1 findings, 2 cannot run."""
    sys.exit(_run(settings, {"command": "status", "database": database, "format": output}))


@db.command()
@click.option("--settings", metavar="MODULE", help="Django settings module (as for `db status`).")
@click.option("--database", metavar="ALIAS", help="Database alias (default: default).")
@click.option("--apply", "apply", is_flag=True, help="Do it (default: show the plan, its SQL and its proof).")
@click.option("--allow-delta", is_flag=True, help="A superseded migration: when the schema differs from the new "
              "history but equals the old one, also apply the difference (Django's autodetector, old to new).")
def repair(settings: str | None, database: str | None, apply: bool, allow_delta: bool) -> None:
    """Rename stale rows, apply what they now stand on, prove the schema. Exit 0 done, 1 refused, 2 cannot run."""
    sys.exit(_run(settings, {"command": "repair", "database": database, "apply": apply, "allow_delta": allow_delta}))
