"""`INSTALLED_APPS += ["migguard.django"]`: `manage.py migguard db ...`, system checks, and a guarded `migrate`."""
from __future__ import annotations

from django.apps import AppConfig


class MigguardConfig(AppConfig):  # type: ignore[misc]
    name = "migguard.django"
    label = "migguard"
    verbose_name = "migguard"

    def ready(self) -> None:
        from migguard.django import checks  # noqa: F401  (registers the system checks)
