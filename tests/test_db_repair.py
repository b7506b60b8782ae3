"""`migguard db status|repair`: a migration applied on a branch and renamed while the database was away.

Real git, Django's own makemigrations/migrate, real SQLite files and a real PostgreSQL server."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import DjangoProject, commit_models, diverge, git, person_models, run
from dbstory import COUNTRY, DISCIPLINE, assert_healthy, database_away, dump, migguard, feature_migrated, migrate_and_store, prepare, saved_file


@pytest.mark.parametrize("database", ["sqlite", "postgresql_without_createdb"], indirect=True)
def test_status_and_repair_after_a_rebase_keep_every_row(seed: DjangoProject, database, fresh) -> None:
    prepare(seed, database)
    before = feature_migrated(seed)
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
    saved = saved_file(done.stdout).read_text()
    assert "INSERT INTO" in saved and "'0003_person_discipline'" in saved

    again = migguard(seed, "db", "repair")
    assert again.returncode == 0 and "nothing to repair" in again.stdout
    assert_healthy(seed, before, fresh)


def test_two_rebases_without_a_journal_are_found_in_git_history(seed: DjangoProject, postgres_databases) -> None:
    database = postgres_databases()
    prepare(seed, database)
    before = feature_migrated(seed)
    with database_away(seed):
        git(seed.root, "rebase", "main")
        git(seed.root, "checkout", "-q", "main")
        commit_models(seed, "api", person_models("email = models.EmailField(blank=True)", COUNTRY,
                                                 "city = models.CharField(max_length=40, default='')"),
                      "person_city", "main: city")
        git(seed.root, "checkout", "-q", "feature")
        git(seed.root, "rebase", "main")
    assert (seed.root / "api/migrations/0005_person_discipline.py").exists()
    common = Path(git(seed.root, "rev-parse", "--git-common-dir").stdout.strip())
    (seed.root / common / "migguard" / "renames.tsv").unlink()

    status = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)
    assert [(f["code"], f["migrations"]) for f in status["findings"]] == [
        ("renamed", ["0003_person_discipline", "0005_person_discipline"])]
    assert "found in git history" in status["findings"][0]["message"]
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "apply api.0003_person_country" in done.stdout and "apply api.0004_person_city" in done.stdout
    assert_healthy(seed, before, postgres_databases())


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_branch_switch_is_reported_with_the_branch_and_never_changed(seed: DjangoProject, database) -> None:
    prepare(seed, database)
    before = feature_migrated(seed)
    git(seed.root, "checkout", "-q", "main")

    status = migguard(seed, "db", "status")
    assert status.returncode == 1
    assert "other_branch: api.0003_person_discipline is recorded but exists only on feature" in status.stdout
    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert found == [{"code": "other_branch", "app": "api", "migrations": ["0003_person_discipline"],
                      "branch": "feature", "message": found[0]["message"]}]
    repair = migguard(seed, "db", "repair", "--apply")
    assert repair.returncode == 1 and "left alone (other_branch)" in repair.stdout
    assert dump(seed) == before

    git(seed.root, "branch", "-q", "-D", "feature")
    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert [(f["code"], f["migrations"]) for f in found] == [("unknown", ["0003_person_discipline"])]
    assert "found nowhere" in found[0]["message"]


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


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_failure_during_repair_restores_everything(seed: DjangoProject, database) -> None:
    prepare(seed, database)
    before = feature_migrated(seed, FAILING_UPSTREAM)
    with database_away(seed):
        git(seed.root, "rebase", "main")

    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused, nothing changed: RuntimeError: country cannot be filled for existing people" in done.stdout
    assert dump(seed) == before
    status = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)
    assert [f["code"] for f in status["findings"]] == ["renamed"]


def test_a_migrate_that_already_ran_twice_leaves_one_stale_row(seed: DjangoProject) -> None:
    """Plain `migrate` after the rename (no migguard app): SQLite applied the branch's migration again under its
    new name. Only the stale row can go; the repair warns that the values may already be lost."""
    prepare(seed, None)
    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "checkout", "-q", "feature")
    migrate_and_store(seed)
    with database_away(seed):
        git(seed.root, "rebase", "main")
    migrate = seed.manage("migrate", "--no-input")
    assert "Applying api.0004_person_discipline... OK" in migrate.stdout

    found = json.loads(migguard(seed, "db", "status", "--format", "json").stdout)["findings"]
    assert [(f["code"], f["migrations"]) for f in found] == [("both_names", ["0003_person_discipline", "0004_person_discipline"])]
    done = migguard(seed, "db", "repair", "--apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delete stale row api.0003_person_discipline" in done.stdout
    assert "may have replaced the column's values with its default" in done.stdout
    assert ["api", "0003_person_discipline"] not in dump(seed)["recorded"]
    assert "nothing to repair" in migguard(seed, "db", "repair").stdout


def test_settings_are_found_or_the_command_says_why(tmp_path: Path) -> None:
    root = tmp_path / "project"
    project = DjangoProject(root)
    (root / "manage.py").unlink()
    git(root, "init", "-q")
    status = migguard(project, "db", "status")
    assert status.returncode == 2
    assert status.stderr.strip() == ("migguard: no Django settings found: pass --settings, set DJANGO_SETTINGS_MODULE, "
                                     "set django_settings in [tool.migguard], or add a manage.py that names them.")
    (root / "pyproject.toml").write_text('[tool.migguard]\ndjango_settings = "settings"\n')
    status = migguard(project, "db", "status")
    assert status.returncode == 0 and "no database file yet" in status.stdout, status.stderr
    wrong = migguard(project, "db", "status", "--database", "replica")
    assert wrong.returncode == 2 and "no database 'replica' in settings.DATABASES" in wrong.stderr
    broken = migguard(project, "db", "repair", "--settings", "no_such_settings")
    assert broken.returncode == 2 and "cannot load the Django settings" in broken.stderr
    assert "Traceback" not in wrong.stderr + broken.stderr

    imported = run([sys.executable, "-X", "importtime", "-m", "migguard", "--help"], root)
    assert "django" not in [line.split("|")[-1].strip().split(".")[0] for line in imported.stderr.splitlines()]
