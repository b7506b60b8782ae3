"""`migguard db`: a migration applied on a branch, renamed by a rebase, brought along with its data.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path
from typing import Iterator

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
        assert after["rows"][table] == rows or [row[: len(rows[0])] for row in after["rows"][table]] == rows, table
    migrate = project.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout, migrate.stdout
    assert project.manage("migrate", "--check", check=False).returncode == 0
    assert project.manage("makemigrations", "--check", "--dry-run", check=False).returncode == 0
    assert after["schema"] == fresh


@contextlib.contextmanager
def database_away(project: DjangoProject) -> Iterator[None]:
    """The project's database is not configured for a while (the hook then has nothing to ask)."""
    moved = []
    for name in ("database.json", "db.sqlite3"):
        if (project.root / name).exists():
            shutil.move(project.root / name, project.root / f"{name}.away")
            moved.append(name)
    try:
        yield
    finally:
        (project.root / "db.sqlite3").unlink(missing_ok=True)
        for name in moved:
            shutil.move(project.root / f"{name}.away", project.root / name)


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
    with database_away(seed):
        git(seed.root, "rebase", "main")
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


SHOP = """
from django.db import models


class Order(models.Model):
    person = models.ForeignKey("api.Person", on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=8, decimal_places=2)
"""
NICKNAME = "nickname = models.CharField(max_length=30, default='')"


def chain_with_a_dependent_app(project: DjangoProject) -> None:
    """feature: api gets two migrations, then app `shop` (foreign key to api.Person) depends on the second."""
    from conftest import person_models

    root = project.root
    git(root, "checkout", "-q", "-b", "feature")
    base = "email = models.EmailField(blank=True)"
    project.models("api", person_models(base, top=(DISCIPLINE,)))
    project.makemigrations("api")
    project.models("api", person_models(base, top=(DISCIPLINE, NICKNAME)))
    project.makemigrations("api")
    project.add_app("shop", SHOP)
    project.makemigrations("shop")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature: discipline, nickname, shop")
    git(root, "checkout", "-q", "main")
    project.models("api", person_models(base, COUNTRY))
    project.makemigrations("api")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main: country")


def test_pull_rebase_of_a_chain_with_a_dependent_app(seed: DjangoProject, database, request) -> None:
    prepare(seed, database)
    chain_with_a_dependent_app(seed)
    git(seed.root.parent, "init", "-q", "--bare", "origin.git")
    git(seed.root, "remote", "add", "origin", str(seed.root.parent / "origin.git"))
    git(seed.root, "push", "-q", "origin", "main")
    git(seed.root, "checkout", "-q", "feature")
    seed.manage("migrate", "--no-input")
    store_people(seed)
    seed.manage("shell", "-c", "from shop.models import Order; from api.models import Person\n"
                "Order.objects.create(person=Person.objects.get(name='Ada'), total='12.50')")
    before = dump(seed)
    with database_away(seed):
        git(seed.root, "pull", "-q", "--rebase", "origin", "main")
    assert (seed.root / "api/migrations/0005_person_nickname.py").exists()
    broken = seed.manage("migrate", "--no-input", check=False)
    assert broken.returncode != 0 and "InconsistentMigrationHistory" in broken.stderr

    status = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)
    assert sorted((f["code"], tuple(f["migrations"])) for f in status["findings"]) == [
        ("renamed", ("0003_person_discipline", "0004_person_discipline")),
        ("renamed", ("0004_person_nickname", "0005_person_nickname"))]
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "apply api.0003_person_country" in done.stdout
    fresh = request.getfixturevalue("postgres_database") if database else None
    assert_healthy(seed, before, fresh_schema(seed, database, fresh))


def test_two_rebases_without_a_journal_are_found_in_git_history(seed: DjangoProject, postgres_database, request) -> None:
    prepare(seed, postgres_database)
    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "checkout", "-q", "feature")
    seed.manage("migrate", "--no-input")
    store_people(seed)
    before = dump(seed)
    with database_away(seed):
        git(seed.root, "rebase", "main")
        git(seed.root, "checkout", "-q", "main")
        commit = "from conftest import commit_models"
        from conftest import commit_models, person_models

        commit_models(seed, "api", person_models("email = models.EmailField(blank=True)", COUNTRY,
                                                 "city = models.CharField(max_length=40, default='')"),
                      "person_city", "main: city")
        git(seed.root, "checkout", "-q", "feature")
        git(seed.root, "rebase", "main")
    assert (seed.root / "api/migrations/0005_person_discipline.py").exists(), commit
    journal = Path(git(seed.root, "rev-parse", "--git-common-dir").stdout.strip())
    (seed.root / journal / "migguard" / "renames.tsv").unlink()

    status = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)
    assert [(f["code"], f["migrations"]) for f in status["findings"]] == [
        ("renamed", ["0003_person_discipline", "0005_person_discipline"])]
    assert "git history" in status["findings"][0]["message"]
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "apply api.0003_person_country" in done.stdout and "apply api.0004_person_city" in done.stdout
    assert_healthy(seed, before, fresh_schema(seed, postgres_database, request.getfixturevalue("postgres_database")))


def test_branch_switch_is_reported_with_the_branch_and_never_changed(seed: DjangoProject, database) -> None:
    prepare(seed, database)
    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "checkout", "-q", "feature")
    seed.manage("migrate", "--no-input")
    store_people(seed)
    git(seed.root, "checkout", "-q", "main")
    before = dump(seed)

    status = migguard(seed, "db", "status")
    assert status.returncode == 1
    assert "other_branch: api.0003_person_discipline is recorded but exists only on feature" in status.stdout
    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert found == [{"code": "other_branch", "app": "api", "migrations": ["0003_person_discipline"],
                      "branch": "feature", "message": found[0]["message"]}]
    repair = migguard(seed, "db", "repair", "--apply")
    assert repair.returncode == 1 and "left alone (other_branch)" in repair.stdout
    assert dump(seed) == before


FAILING_UPSTREAM = '''
from django.db import migrations, models


def refuse(apps, schema_editor):
    if apps.get_model("api", "Person").objects.exists():
        raise RuntimeError("country cannot be filled for existing people")


class Migration(migrations.Migration):
    dependencies = [("api", "0002_prev")]
    operations = [
        migrations.AddField("person", "country", models.CharField(max_length=32, default="")),
        migrations.RunPython(refuse, migrations.RunPython.noop),
    ]
'''


def test_a_failure_during_repair_restores_everything(seed: DjangoProject, database) -> None:
    prepare(seed, database)
    diverge(seed, [DISCIPLINE], [COUNTRY])
    (seed.root / "api/migrations/0003_person_country.py").write_text(FAILING_UPSTREAM)
    git(seed.root, "commit", "-qam", "main: country refuses existing rows")
    git(seed.root, "checkout", "-q", "feature")
    seed.manage("migrate", "--no-input")
    store_people(seed)
    before = dump(seed)
    with database_away(seed):
        git(seed.root, "rebase", "main")

    for args in (("db", "repair"), ("db", "repair", "--apply")):
        done = migguard(seed, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "refused, nothing changed: RuntimeError: country cannot be filled for existing people" in done.stdout
        assert dump(seed) == before
    assert migguard(seed, "db", "status").returncode == 1
