"""`manage.py migguard db status|repair`: the same code as `migguard db`, in this Django process."""
from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):  # type: ignore[misc]
    help = "What the database recorded against this checkout's migrations, and repairs that keep its data."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        groups = parser.add_subparsers(dest="group", required=True)
        db = groups.add_parser("db", help="status | repair")
        actions = db.add_subparsers(dest="action", required=True)
        status = actions.add_parser("status", help="exit 0 clean, 1 findings, 2 cannot run")
        status.add_argument("--database", default="default")
        status.add_argument("--format", choices=["text", "json"], default="text")
        repair = actions.add_parser("repair", help="a plan and its SQL; --apply does it")
        repair.add_argument("--database", default="default")
        repair.add_argument("--apply", action="store_true")
        repair.add_argument("--allow-delta", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from migguard.django import locate, service

        root = locate.repository_root(os.getcwd())
        try:
            if options["action"] == "status":
                code, text = service.status(options["database"], options["format"], root)
            else:
                code, text = service.repair(options["database"], options["apply"], root,
                                             allow_delta=options.get("allow_delta", False))
        except service.CannotRun as error:
            self.stderr.write(f"migguard: {error}")
            sys.exit(2)
        self.stdout.write(text)
        if code:
            sys.exit(code)
