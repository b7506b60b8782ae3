"""Story (b), "relation already exists": a server applied one 0003, the code now holds a different 0003 creating the
same tables. `migguard db status` names it `superseded`; `db repair` records the new one only when the schema proves
it, and `--allow-delta` brings a differing column over from the old history read from git.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import DjangoProject, commit_models, git, person_models
from dbstory import (DISCIPLINE, assert_people_kept_after_migrate, dump, migguard, new_migration, prepare, rows_by_column,
                     saved_file, steps, superseded_story)

OLD = "0003_billing_payment"


@pytest.fixture(scope="session")
def story_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("superseded") / "project"
    superseded_story(root)
    return root


def server(template: Path, tmp_path: Path, database: dict | None, branch: str) -> tuple[DjangoProject, dict]:
    """The server migrated main (with `0003_billing_payment`) and stored profiles and a payment; then the code
    moved to `branch` and plain `migrate` failed on Django's own "already exists"."""
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    project = DjangoProject.open(root)
    if database:
        (root / "database.json").write_text(json.dumps(database))
    before = steps(project, "migrate", "profiles", "dump")["dump"]
    assert ["healthcare", OLD] in before["recorded"]
    git(root, "checkout", "-q", branch)
    migrate = project.manage("migrate", "--no-input", check=False)
    assert migrate.returncode == 1
    kind = "relation" if database else "table"
    assert f'{kind} "billings" already exists' in migrate.stderr, migrate.stderr
    return project, before


def status_says_superseded(project: DjangoProject) -> str:
    status = migguard(project, "db", "status", "--format", "json")
    assert status.returncode == 1, status.stdout + status.stderr
    found = json.loads(status.stdout)["findings"]
    new = new_migration(project)
    assert [(f["code"], f["app"], f["migrations"]) for f in found] == [("superseded", "healthcare", [OLD, new])]
    assert "would create what already exists (billings, healthcare_payment)" in found[0]["message"]
    return new


def database_bytes(project: DjangoProject, database: dict | None) -> object:
    """SQLite: the file's digest; PostgreSQL: every row and the schema."""
    if database is None:
        return hashlib.sha256((project.root / "db.sqlite3").read_bytes()).hexdigest()
    return dump(project)


def assert_repaired(project: DjangoProject, before: dict, new: str, fresh: dict | None, app: str = "healthcare",
                    old: str = OLD) -> dict:
    """Plain migrate is a no-op, both --check exit 0, every row kept, the rows name the new 0003, schema == fresh."""
    migrate = project.manage("migrate", "--no-input")
    assert "No migrations to apply" in migrate.stdout, migrate.stdout
    result = steps(project, "checks", "dump", "fresh",
                   fresh=fresh or {"ENGINE": "django.db.backends.sqlite3", "NAME": str(project.root / "fresh.sqlite3")})
    after = result["dump"]
    assert rows_by_column(after) == rows_by_column(before)
    assert [app, new] in after["recorded"] and [app, old] not in after["recorded"]
    assert len(after["recorded"]) == len(before["recorded"])
    assert result["migrate --check"] == 0 and result["makemigrations --check"] == 0
    assert after["schema"] == result["fresh"]
    assert "nothing to repair" in migguard(project, "db", "repair").stdout
    return after


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_only_the_choices_differ_so_the_new_migration_is_recorded_in_place(story_template: Path, tmp_path: Path,
                                                                          database, fresh) -> None:
    project, before = server(story_template, tmp_path, database, "choices")
    git(project.root, "branch", "-q", "-D", "main")  # no branch holds the old file any more (the length test keeps it)
    new = status_says_superseded(project)

    plan = migguard(project, "db", "repair")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"delete stale row healthcare.{OLD} (its file left this branch); record healthcare.{new} as applied" \
        in plan.stdout
    assert "proof: the schema equals a fresh database migrated along the new history (3 migrations)" in plan.stdout
    assert dump(project) == before, "the plan changed the database"

    done = migguard(project, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired: the schema equals a fresh database" in done.stdout
    assert f"'{OLD}'" in saved_file(done.stdout).read_text()
    after = assert_repaired(project, before, new, fresh)
    assert after["schema"] == before["schema"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql_without_createdb"], indirect=True)
def test_a_longer_column_is_refused_then_brought_over_with_allow_delta(story_template: Path, tmp_path: Path,
                                                                      database, fresh) -> None:
    project, before = server(story_template, tmp_path, database, "length")
    role = before["schema"]["healthcare_userprofile"]["columns"]["role"]
    if database:  # psycopg 3 reports a varchar's length in display_size; internal_size is None
        assert (role["type"], role["length"], role["size"]) == ("varchar", 20, None)
    else:
        assert role["type"] == "varchar(20)"
    new = status_says_superseded(project)
    untouched = database_bytes(project, database)

    for args in (("--apply",), ()):
        refused = migguard(project, "db", "repair", *args)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        lines = refused.stdout.splitlines()
        assert "  healthcare_userprofile.role: varchar(20) in the database, varchar(32) in the migrations" in lines
        assert lines[-3].startswith("refused, nothing changed: the database's schema differs from a fresh database")
        assert lines[-1] == "`migguard db repair --allow-delta` brings the schema over when it equals the old history."
        assert database_bytes(project, database) == untouched

    plan = migguard(project, "db", "repair", "--allow-delta")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "the schema equals a fresh database migrated along the old history (3 migrations, read from git)" \
        in plan.stdout
    assert "    healthcare: Alter field role on userprofile" in plan.stdout
    assert database_bytes(project, database) == untouched

    done = migguard(project, "db", "repair", "--apply", "--allow-delta")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "repaired: the schema equals a fresh database migrated along the new history" in done.stdout
    if database:
        assert 'ALTER TABLE "healthcare_userprofile" ALTER COLUMN "role" TYPE varchar(32);' in done.stdout
    after = assert_repaired(project, before, new, fresh)
    role = after["schema"]["healthcare_userprofile"]["columns"]["role"]
    assert (role["type"], role["length"]) == ("varchar", 32) if database else role["type"] == "varchar(32)"
    before["schema"]["healthcare_userprofile"]["columns"]["role"] = role
    assert after["schema"] == before["schema"], "only the role column changed"


def add_column_by_hand(project: DjangoProject, database: dict | None) -> None:
    """Someone added a column on the server outside any migration."""
    sql = "ALTER TABLE healthcare_userprofile ADD COLUMN note varchar(10) NULL"
    if database is None:
        connection = sqlite3.connect(project.root / "db.sqlite3")
        with connection:
            connection.execute(sql)
        connection.close()
        return
    import psycopg

    with psycopg.connect(host=database["HOST"], dbname=database["NAME"], user=database["USER"],
                         autocommit=True) as connection:
        connection.execute(sql)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_schema_equal_to_neither_history_is_refused_even_with_allow_delta(story_template: Path, tmp_path: Path,
                                                                          database) -> None:
    project, _ = server(story_template, tmp_path, database, "length")
    add_column_by_hand(project, database)
    status_says_superseded(project)
    untouched = database_bytes(project, database)

    done = migguard(project, "db", "repair", "--apply", "--allow-delta")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-2:] == ["refused, nothing changed: the database's schema equals neither the new history nor the old "
                          "one read from git (3 migrations); against the old one:",
                          "  healthcare_userprofile.note: in the database, not in the migrations"]
    assert database_bytes(project, database) == untouched
    migrate = project.manage("migrate", "--no-input", check=False)
    assert migrate.returncode == 1 and "already exists" in migrate.stderr


def discipline_migrated_then_superseded(seed: DjangoProject) -> dict:
    """`0003_person_discipline` (varchar(20)) migrated with people stored, then deleted and replaced by
    `0003_person_discipline_wide` adding the same column as varchar(32): the database's dump before."""
    email = "email = models.EmailField(blank=True)"
    commit_models(seed, "api", person_models(email, DISCIPLINE), "person_discipline", "api: discipline")
    before = steps(seed, "migrate", "people", "dump")["dump"]
    git(seed.root, "rm", "-q", "api/migrations/0003_person_discipline.py")
    commit_models(seed, "api", person_models(email, DISCIPLINE.replace("20", "32")), "person_discipline_wide",
                  "api: discipline, wider, in a new migration")
    return before


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_column_added_again_by_a_different_migration(seed: DjangoProject, database, fresh) -> None:
    """The column variant: `0003_person_discipline` (varchar(20)) applied, then replaced by `0003_person_discipline_wide`
    adding the same column as varchar(32). On SQLite plain `migrate` would not fail but empty the column, so the
    user there runs `db status` first."""
    prepare(seed, database, installed=False)
    before = discipline_migrated_then_superseded(seed)
    if database:  # SQLite raises nothing: it rebuilds the table and fills the column with '' (story (a))
        migrate = seed.manage("migrate", "--no-input", check=False)
        assert migrate.returncode == 1
        assert 'column "discipline" of relation "api_person" already exists' in migrate.stderr, migrate.stderr

    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert [(f["code"], f["migrations"]) for f in found] == [
        ("superseded", ["0003_person_discipline", "0003_person_discipline_wide"])]
    assert "would create what already exists (api_person.discipline)" in found[0]["message"]
    untouched = database_bytes(seed, database)
    refused = migguard(seed, "db", "repair", "--apply")
    assert refused.returncode == 1
    assert "  api_person.discipline: varchar(20) in the database, varchar(32) in the migrations" in refused.stdout
    assert database_bytes(seed, database) == untouched

    done = migguard(seed, "db", "repair", "--apply", "--allow-delta")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "    api: Alter field discipline on person" in done.stdout
    after = assert_repaired(seed, before, "0003_person_discipline_wide", fresh, "api", "0003_person_discipline")
    people = rows_by_column(after)["api_person"]
    assert [("discipline", "maths"), ("discipline", "navy")] == [item for row in people for item in row if item[0] == "discipline"]


def test_with_the_django_app_migrate_stops_before_sqlite_empties_the_column(seed: DjangoProject) -> None:
    """SQLite would rebuild api_person and fill discipline with '': the guarded migrate stops first, and
    `manage.py migguard db repair --apply --allow-delta` answers it."""
    installed = json.loads((seed.root / "installed_apps.json").read_text())
    (seed.root / "installed_apps.json").write_text(json.dumps(installed + ["migguard.django"]))
    prepare(seed, None, installed=False)
    before = discipline_migrated_then_superseded(seed)

    stopped = seed.manage("migrate", "--no-input", check=False)
    assert stopped.returncode == 1 and "migguard stopped migrate before any SQL" in stopped.stderr
    assert "api.0003_person_discipline_wide takes its place" in stopped.stderr
    assert dump(seed) == before
    done = seed.manage("migguard", "db", "repair", "--apply", "--allow-delta", check=False)
    assert done.returncode == 0 and "repaired:" in done.stdout, done.stdout + done.stderr
    assert_people_kept_after_migrate(seed)
