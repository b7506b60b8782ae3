"""Django's `migrate`, stopped before any SQL when the database holds a renamed migration (migguard)."""
from __future__ import annotations

import os
from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections


class Command(DjangoMigrate):  # type: ignore[misc]
    def handle(self, *args: Any, **options: Any) -> Any:
        from migguard.django import guard, locate

        alias = options.get("database") or "default"
        found = guard.blocking_findings(connections[alias], locate.repository_root(os.getcwd()))
        if found:
            lines = [f"migguard stopped migrate before any SQL: database {alias!r} recorded migrations under "
                     f"names that changed, and migrate would apply them again (losing data on SQLite):"]
            lines += [f"  {finding.message}" for finding in found]
            lines.append(f"Run `python manage.py migguard db repair{'' if alias == 'default' else ' --database ' + alias}` "
                         f"(add --apply once the plan looks right), then migrate.")
            raise CommandError("\n".join(lines))
        return super().handle(*args, **options)
