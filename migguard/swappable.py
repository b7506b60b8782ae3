"""`swappable_dependency(settings.AUTH_USER_MODEL)` without `auth_user_model` configured: could it hide a cycle?"""
from __future__ import annotations

from collections.abc import Mapping

from migguard.graph import Graph, GraphError, Key
from migguard.reader import MigrationSource

SETTING = "AUTH_USER_MODEL"


def unresolved(migrations: Mapping[Key, MigrationSource]) -> list[Key]:
    """Migrations depending on the user model through the setting, which a static reader cannot resolve."""
    return sorted(key for key, migration in migrations.items()
                  if any(d.swappable and not d.app and d.setting == SETTING for d in migration.dependencies))


def could_hold_the_user_model(migrations: Mapping[Key, MigrationSource]) -> list[str]:
    """Apps whose migrations look like a user model's: they depend on Django's `auth` (AbstractUser and
    PermissionsMixin relate to its Group and Permission) and never on the setting (`makemigrations` writes no
    swappable dependency inside the user model's own app)."""
    on_auth: set[str] = set()
    on_setting: set[str] = set()
    for (app, _), migration in migrations.items():
        for dependency in migration.dependencies:
            if dependency.app == "auth" and not dependency.swappable:
                on_auth.add(app)
            elif dependency.swappable and not dependency.app and dependency.setting == SETTING:
                on_setting.add(app)
    return sorted(on_auth - on_setting - {"auth"})


def hidden_cycle(graph: Graph, migrations: Mapping[Key, MigrationSource]) -> tuple[Key, str] | None:
    """Where a user model in one of the project's apps would close a cycle: the first such migration and one
    sentence, or None when no app's user model could (the common case: then nothing is said).

    A dependency on the setting resolves to the first migration of the user model's app; it closes a cycle
    exactly when that first migration already stands on the dependent migration. Only apps that could hold
    the user model count (`could_hold_the_user_model`)."""
    dependents = unresolved(migrations)
    if not dependents:
        return None
    closing: dict[str, list[Key]] = {}
    for app in could_hold_the_user_model(migrations):
        roots = graph.root_nodes(app)
        if not roots:
            continue
        behind = graph.ancestors(roots[0])
        found = [key for key in dependents if key[0] != app and key in behind]
        if found:
            closing[app] = found
    if not closing:
        return None
    first = min(key for keys in closing.values() for key in keys)
    names = ", ".join(f"{app}.{name}" for app, name in sorted({key for keys in closing.values() for key in keys}))
    apps = " or ".join(f"app {app}" for app in closing)
    return first, (f"depends on settings.{SETTING}, which a static check cannot resolve: with the user model in {apps}, "
                   f"{names} would be part of a dependency cycle (Django: CircularDependencyError); set auth_user_model "
                   f"in [tool.migguard] (e.g. \"{next(iter(closing))}.User\") to check it")


def annotate(errors: list[GraphError], graph: Graph, migrations: Mapping[Key, MigrationSource],
             auth_user_model: str) -> list[GraphError]:
    """A dependency cycle closed through `auth_user_model` says so: which migrations need the user model."""
    through = set(unresolved(migrations))
    cycle = graph.find_cycle() if through and any("dependency cycle" in error.message for error in errors) else None
    named = sorted(set(cycle or ()) & through)
    if not named:
        return errors
    note = (f" ({', '.join(f'{app}.{name}' for app, name in named)} "
            f"{'needs' if len(named) == 1 else 'need'} the user model {auth_user_model} through settings.{SETTING})")
    return [error._replace(message=error.message + note) if "dependency cycle" in error.message else error
            for error in errors]
