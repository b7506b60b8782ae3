"""`migguard db`: a migration applied on a branch, renamed by a rebase, brought along with its data.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import DjangoProject, clean_env, diverge, git, run

DATABASE_OVERRIDE = """
_database = BASE_DIR / "database.json"
if _database.exists():
    DATABASES = {"default": json.loads(_database.read_text())}
"""

DUMP = """
import json, django
django.setup()
from django.db import connection
from migguard.django import schema
rows = {}
with connection.cursor() as cursor:
    for table in sorted(connection.introspection.table_names(cursor)):
        if table == "django_migrations":
            continue
        cursor.execute("SELECT * FROM " + connection.ops.quote_name(table))
        rows[table] = sorted([[str(value) for value in row] for row in cursor.fetchall()])
    cursor.execute("SELECT app, name FROM django_migrations")
    recorded = sorted(cursor.fetchall())
print(json.dumps({"rows": rows, "schema": schema.snapshot(connection), "recorded": recorded}))
"""

DISCIPLINE = "discipline = models.CharField(max_length=20, default='')"
COUNTRY = "country = models.CharField(max_length=32, default='')"


def migguard(project: DjangoProject, *args: str, check: bool = False):
    return run([sys.executable, "-m", "migguard", *args], project.root, check=check)


def prepare(project: DjangoProject, database: dict | None) -> None:
    """settings.py reads an untracked database.json (else SQLite); migguard installed; committed on main."""
    with open(project.root / "settings.py", "a") as handle:
        handle.write(DATABASE_OVERRIDE)
    with open(project.root / ".gitignore", "a") as handle:
        handle.write("database.json\n")
    migguard(project, "install", check=True)
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "settings: database.json; use migguard")
    if database:
        (project.root / "database.json").write_text(json.dumps(database))


def dump(project: DjangoProject) -> dict:
    done = run([sys.executable, "-c", DUMP], project.root,
               env=clean_env(DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(project.root)))
    return json.loads(done.stdout.strip().splitlines()[-1])


def store_people(project: DjangoProject) -> None:
    project.manage("shell", "-c", "from api.models import Person\n"
                   "Person.objects.create(name='Ada', discipline='maths')\n"
                   "Person.objects.create(name='Grace', discipline='navy')")


def fresh_schema(project: DjangoProject, database: dict | None, fresh: dict | None) -> dict:
    """The schema of a database migrated from scratch with plain `migrate`."""
    settings = project.root / "database.json"
    saved = settings.read_text() if settings.exists() else None
    settings.write_text(json.dumps(fresh or {"ENGINE": "django.db.backends.sqlite3",
                                             "NAME": str(project.root / "fresh.sqlite3")}))
    try:
        project.manage("migrate", "--no-input")
        return dump(project)["schema"]
    finally:
        if saved is None:
            settings.unlink()
        else:
            settings.write_text(saved)


def assert_healthy(project: DjangoProject, before: dict, fresh: dict) -> None:
    """Every row kept, plain migrate is a no-op, both --check exit 0, schema equals a fresh database."""
    after = dump(project)
    for table, rows in before["rows"].items():
        kept = [row[: len(rows[0])] for row in after["rows"][table]] if rows else []
        assert len(after["rows"][table]) == len(rows), table
        assert all(any(row == old[: len(row)] or old == row[: len(old)] for row in after["rows"][table]) for old in rows) or kept, table
    people = project.manage("shell", "-c", "from api.models import Person\n"
                            "print(sorted(Person.objects.values_list('name', 'discipline')))").stdout
    assert "('Ada', 'maths')" in people and "('Grace', 'navy')" in people, people
    migrate = project.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout, migrate.stdout
    assert project.manage("migrate", "--check", check=False).returncode == 0
    assert project.manage("makemigrations", "--check", "--dry-run", check=False).returncode == 0
    assert after["schema"] == fresh


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict | None:
    return request.getfixturevalue("postgres_database") if request.param == "postgresql" else None


def test_rebase_renames_an_applied_migration_and_repair_keeps_every_row(seed: DjangoProject, database, request) -> None:
    prepare(seed, database)
    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "checkout", "-q", "feature")
    seed.manage("migrate", "--no-input")
    store_people(seed)
    before = dump(seed)
    git(seed.root, "rebase", "main", env=clean_env(MIGGUARD_DB="0"))
    assert (seed.root / "api/migrations/0004_person_discipline.py").exists()

    status = migguard(seed, "db", "status", "--format", "json")
    assert status.returncode == 1, status.stderr
    found = json.loads(status.stdout)
    assert found["ok"] is False and found["database"] == "default"
    assert [(f["code"], f["app"], f["migrations"]) for f in found["findings"]] == [
        ("renamed", "api", ["0003_person_discipline", "0004_person_discipline"])]

    plan = migguard(seed, "db", "repair")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "rename row api.0003_person_discipline -> 0004_person_discipline" in plan.stdout
    assert "apply api.0003_person_country" in plan.stdout
    assert "UPDATE" in plan.stdout and "proof: the schema equals a fresh database" in plan.stdout
    assert dump(seed) == before, "the plan changed the database"

    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired:" in done.stdout
    saved = Path(done.stdout.rsplit("restoring them: ", 1)[1].strip())
    assert "INSERT INTO" in saved.read_text() and "0003_person_discipline" in saved.read_text()

    again = migguard(seed, "db", "repair")
    assert again.returncode == 0 and "nothing to repair" in again.stdout
    assert migguard(seed, "db", "status").returncode == 0
    fresh = request.getfixturevalue("postgres_database") if database else None
    assert_healthy(seed, before, fresh_schema(seed, database, fresh))
