"""`migguard db` for InconsistentMigrationHistory after a custom user model joined a running project (story (c)
of DATABASES.md): Django's own error first, then `db status`, then `db repair --apply` refused or proven.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import DjangoProject, git
from dbstory import dump, migguard, prepare, steps

CONTRIB = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin", "django.contrib.messages",
           "django.contrib.sessions"]
ADMIN_SETTINGS = """
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages",
                                                 "django.template.context_processors.request"]}}]
"""
USER_MODEL_SETTING = '\nAUTH_USER_MODEL = "users.User"\n'
# The three custom user models of story (c): a new table; the old table with the project's BigAutoField; the old
# table with the key type it has.
NEW_TABLE = """
from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    pass
"""
OLD_TABLE_BIGINT = """
from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    class Meta:
        db_table = "auth_user"
"""
OLD_TABLE_INTEGER = """
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    id = models.AutoField(primary_key=True)

    class Meta:
        db_table = "auth_user"
"""
STORE = """
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
User = get_user_model()
user = User.objects.create_user({name!r}, email={name!r} + "@example.com", password="secret-horse")
LogEntry.objects.create(user=user, content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk),
                        object_repr={name!r}, action_flag=1, change_message="[]")
print(User._meta.label, User._meta.db_table, sorted(LogEntry.objects.values_list("user__username", flat=True)))
"""


def running_project(project: DjangoProject, database: dict | None) -> dict:
    """A project on auth.User with admin, migrated, with a user and an admin log entry: the database dumped."""
    (project.root / "installed_apps.json").write_text(json.dumps(CONTRIB + ["api"]))
    with open(project.root / "settings.py", "a") as handle:
        handle.write(ADMIN_SETTINGS)
    prepare(project, database)
    project.manage("migrate", "--no-input")
    project.manage("shell", "-c", STORE.format(name="ada"))
    return dump(project)


def custom_user_model(project: DjangoProject, models: str) -> None:
    """Add app `users` with `models` and AUTH_USER_MODEL = "users.User"; Django writes users.0001_initial."""
    if not (project.root / "users").exists():
        project.add_app("users", models)
        with open(project.root / "settings.py", "a") as handle:
            handle.write(USER_MODEL_SETTING)
    else:
        project.models("users", models)
        shutil.rmtree(project.root / "users" / "migrations")
    project.makemigrations("users")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "users: a custom user model")


def database_state(project: DjangoProject, database: dict | None) -> object:
    """SQLite: the file's bytes; PostgreSQL: every row, the schema and the recorded migrations."""
    if database is None:
        return (project.root / "db.sqlite3").read_bytes()
    return dump(project)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_custom_user_model_refused_until_the_schema_proves_it(seed: DjangoProject, database, fresh) -> None:
    before = running_project(seed, database)
    custom_user_model(seed, NEW_TABLE)

    migrate = seed.manage("migrate", "--no-input", check=False)
    assert migrate.returncode == 1
    assert ("InconsistentMigrationHistory: Migration admin.0001_initial is applied before its dependency "
            "users.0001_initial on database 'default'.") in migrate.stderr

    status = migguard(seed, "db", "status", "--format", "json")
    assert status.returncode == 1, status.stderr
    found = json.loads(status.stdout)["findings"]
    assert [(f["code"], f["app"], f["migrations"]) for f in found] == [
        ("out_of_order", "admin", ["admin.0001_initial", "users.0001_initial"])]
    assert "likely cause: a custom user model (AUTH_USER_MODEL = 'users.User') was added" in found[0]["message"]
    text = migguard(seed, "db", "status")
    assert "out_of_order: admin.0001_initial is applied before its dependency users.0001_initial" in text.stdout

    # a new table users_user: recording it would leave auth_user as the users' table
    state = database_state(seed, database)
    refused = migguard(seed, "db", "repair", "--apply")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "record users.0001_initial as applied" in refused.stdout
    assert "refused, nothing changed: with users.0001_initial recorded, the schema would differ" in refused.stdout
    assert "  table users_user: missing (a fresh database has it)" in refused.stdout
    assert "  table auth_user: in the database, not in a fresh one" in refused.stdout
    assert any(line.startswith("  django_admin_log: ") and "(user_id) -> auth_user.id in the database" in line
               for line in refused.stdout.splitlines()), refused.stdout
    assert "what to do (never delete the database or the migrations" in refused.stdout
    assert "db_table = \"auth_user\"" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
    assert database_state(seed, database) == state

    # the old table, but the project's BigAutoField: the key and the foreign keys to it differ
    custom_user_model(seed, OLD_TABLE_BIGINT)
    refused = migguard(seed, "db", "repair", "--apply")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    differences = {line.split(":")[0].strip(): line for line in refused.stdout.splitlines() if line.startswith("  ")}
    columns = ["django_admin_log.user_id", "auth_user_groups.user_id", "auth_user_user_permissions.user_id"]
    for column in columns + (["auth_user.id"] if database else []):  # SQLite calls both keys `integer`
        small, big = ("int4", "int8") if database else ("integer", "bigint")
        assert f"{small}" in differences[column] and f"{big}" in differences[column], refused.stdout
    assert database_state(seed, database) == state

    # the old table with the key type it has: proven, only the row is added
    custom_user_model(seed, OLD_TABLE_INTEGER)
    plan = migguard(seed, "db", "repair")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "proof: the schema equals a fresh database" in plan.stdout
    assert database_state(seed, database) == state
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired: recorded users.0001_initial; the schema equals a fresh database" in done.stdout
    after = dump(seed)
    assert after["recorded"] == sorted(before["recorded"] + [["users", "0001_initial"]])
    assert after["rows"] == before["rows"]

    migrate = seed.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout
    stored = seed.manage("shell", "-c", STORE.format(name="grace")).stdout
    assert "users.User auth_user ['ada', 'grace']" in stored
    result = steps(seed, "checks", "dump", "fresh",
                   fresh=fresh or {"ENGINE": "django.db.backends.sqlite3", "NAME": str(seed.root / "fresh.sqlite3")})
    assert result["migrate --check"] == 0 and result["makemigrations --check"] == 0
    assert result["dump"]["schema"] == result["fresh"]
    assert migguard(seed, "db", "status").returncode == 0
