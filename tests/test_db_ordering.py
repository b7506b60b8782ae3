"""`migguard db` for InconsistentMigrationHistory after a custom user model joined a running project (story (c)
of DATABASES.md): Django's own error first, then `db status`, then `db repair --apply` refused or proven.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import DjangoProject, git
from dbstory import assert_healthy, chain_with_a_dependent_app, database_away, dump, migguard, migrate_and_store, prepare, steps

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


@pytest.mark.parametrize("database", ["sqlite", "postgresql_without_createdb"], indirect=True)
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
    assert "  table users_user: missing (the migrations create it)" in refused.stdout
    assert "  table auth_user: in the database, not in the migrations" in refused.stdout
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


ORGANIZATION = """
from django.db import models


class Organization(models.Model):
    name = models.CharField(max_length=100)
"""
MEMBER = """
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    org = models.ForeignKey("org.Organization", null=True, on_delete=models.SET_NULL)
"""
OWNED = ORGANIZATION + """    owner = models.ForeignKey("users.User", null=True, on_delete=models.SET_NULL, related_name="+")
"""
# The owner folded into org's initial migration by hand ("one initial migration per app before the release"):
# org.0001_initial now needs the user model, whose users.0001_initial needs org.0001_initial.
ORG_INITIAL_FOLDED = """
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Organization',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('owner', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
    ]
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_cycle_through_the_user_model_is_explained_never_repaired(seed: DjangoProject, database) -> None:
    (seed.root / "installed_apps.json").write_text(json.dumps(CONTRIB))
    with open(seed.root / "settings.py", "a") as handle:
        handle.write(ADMIN_SETTINGS + USER_MODEL_SETTING)
    seed.add_app("org", ORGANIZATION)
    seed.add_app("users", MEMBER)
    seed.makemigrations("org", "users")
    prepare(seed, database)
    seed.manage("migrate", "--no-input")
    seed.manage("shell", "-c", STORE.format(name="ada"))
    quiet = migguard(seed, "check")
    assert quiet.returncode == 0 and "warning" not in quiet.stdout, quiet.stdout

    seed.models("org", OWNED)
    (seed.root / "org/migrations/0001_initial.py").write_text(ORG_INITIAL_FOLDED)
    git(seed.root, "commit", "-qam", "org: the owner in the initial migration")
    migrate = seed.manage("migrate", "--no-input", check=False)
    assert migrate.returncode == 1
    error = migrate.stderr.strip().splitlines()[-1]
    assert error.startswith("django.db.migrations.exceptions.CircularDependencyError: ")
    assert sorted(error.split(": ", 1)[1].split(", ")) == ["org.0001_initial", "users.0001_initial"]

    state = database_state(seed, database)
    status = migguard(seed, "db", "status", "--format", "json")
    assert status.returncode == 1, status.stderr
    found = json.loads(status.stdout)["findings"]
    assert [(f["code"], f["app"], f["migrations"]) for f in found] == [
        ("cycle", "org", ["org.0001_initial", "users.0001_initial"])]
    message = found[0]["message"]
    assert "org.0001_initial needs users.0001_initial (swappable_dependency(settings.AUTH_USER_MODEL) = users.User; " \
           "org.Organization.owner -> users.User through settings.AUTH_USER_MODEL)" in message
    assert "users.0001_initial needs org.0001_initial (users.User.org -> org.organization)" in message
    assert "`migguard db repair` changes nothing here" in message
    repair = migguard(seed, "db", "repair", "--apply")
    assert repair.returncode == 1 and "left alone (cycle): org.0001_initial needs" in repair.stdout
    assert "Traceback" not in repair.stdout + repair.stderr + status.stderr
    assert database_state(seed, database) == state
    if database is None:
        with database_away(seed):  # a new clone: no database yet, and `migrate` fails all the same
            fresh_clone = migguard(seed, "db", "status")
        assert fresh_clone.returncode == 1 and "no database file yet" in fresh_clone.stdout
        assert "  cycle: org.0001_initial needs users.0001_initial" in fresh_clone.stdout

    unresolved = migguard(seed, "check")
    assert unresolved.returncode == 0
    assert ("warning: org/migrations/0001_initial.py depends on settings.AUTH_USER_MODEL, which a static check cannot "
            "resolve: with the user model in app users, org.0001_initial would be part of a dependency cycle") in unresolved.stdout
    (seed.root / "pyproject.toml").write_text('[tool.migguard]\nauth_user_model = "users.User"\n')
    named = migguard(seed, "check")
    assert named.returncode == 1
    assert ("error: org/migrations/0001_initial.py is part of a dependency cycle: org.0001_initial -> "
            "users.0001_initial -> org.0001_initial") in named.stdout, named.stdout
    assert "Traceback" not in named.stderr and "warning" not in named.stdout
    assert seed.loader()["error"].startswith("CircularDependencyError: ")


def test_a_renamed_chain_with_a_dependent_app_is_renamed_not_out_of_order(seed: DjangoProject) -> None:
    """shop.0001_initial recorded before api's renamed chain: Django says InconsistentMigrationHistory, but the
    renames explain it; `db status` says `renamed` only, and the repair leaves nothing out of order."""
    prepare(seed, None)
    chain_with_a_dependent_app(seed)
    git(seed.root, "checkout", "-q", "feature")
    before = migrate_and_store(seed, "order")
    with database_away(seed):
        git(seed.root, "rebase", "main")
    migrate = seed.manage("migrate", "--no-input", check=False)
    assert "InconsistentMigrationHistory: Migration shop.0001_initial is applied before its dependency api." in migrate.stderr

    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert [(f["code"], f["migrations"][-1]) for f in found] == [
        ("renamed", "0004_person_discipline"), ("renamed", "0005_person_nickname")]
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert migguard(seed, "db", "status").returncode == 0
    assert_healthy(seed, before, None)
