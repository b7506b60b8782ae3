"""`INSTALLED_APPS += ["migguard.django"]`: manage.py migguard db, the migrate guard, the system checks."""
from __future__ import annotations

import json

from conftest import DjangoProject, diverge, git
from dbstory import COUNTRY, DISCIPLINE, database_away, dump, feature_migrated, prepare, assert_people_kept_after_migrate


def with_app(project: DjangoProject) -> None:
    installed = json.loads((project.root / "installed_apps.json").read_text())
    (project.root / "installed_apps.json").write_text(json.dumps(installed + ["migguard.django"]))


def test_migrate_stops_before_any_sql_and_manage_py_repairs(seed: DjangoProject) -> None:
    with_app(seed)
    prepare(seed, None)
    before = feature_migrated(seed)
    with database_away(seed):
        git(seed.root, "rebase", "main")

    stopped = seed.manage("migrate", "--no-input", check=False)
    assert stopped.returncode == 1
    assert "migguard stopped migrate before any SQL" in stopped.stderr
    assert "python manage.py migguard db repair" in stopped.stderr
    assert "Applying" not in stopped.stdout
    assert dump(seed) == before

    status = seed.manage("migguard", "db", "status", "--format", "json", check=False)
    assert status.returncode == 1
    assert [f["code"] for f in json.loads(status.stdout)["findings"]] == ["renamed"]
    plan = seed.manage("migguard", "db", "repair", check=False)
    assert plan.returncode == 0 and "proof: the schema equals a fresh database" in plan.stdout
    assert dump(seed) == before
    done = seed.manage("migguard", "db", "repair", "--apply", check=False)
    assert done.returncode == 0 and "repaired:" in done.stdout, done.stdout + done.stderr

    assert_people_kept_after_migrate(seed)
    checked = seed.manage("check")
    assert "migguard" not in checked.stdout + checked.stderr


def test_system_checks_answer_from_the_files(seed: DjangoProject) -> None:
    with_app(seed)
    git(seed.root, "commit", "-qam", "use migguard.django")
    checked = seed.manage("check", check=False)
    assert "migguard.W001" in checked.stderr and "never ran `migguard install`" in checked.stderr

    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    checked = seed.manage("check", check=False)
    assert checked.returncode == 1
    assert "migguard.E001" in checked.stderr
    assert "app 'api' has 2 leaf migrations: 0003_person_country, 0003_person_discipline" in checked.stderr

    git(seed.root, "reset", "-q", "--hard", "HEAD~1")
    (seed.root / "api/migrations/max_migration.txt").write_text("0002_prev\n")
    checked = seed.manage("check", check=False)
    assert checked.returncode == 0 and "migguard.W002" in checked.stderr
    assert "api/migrations/max_migration.txt is stale; the leaf is 0003_person_country" in checked.stderr
    (seed.root / "api/migrations/max_migration.txt").write_text("<<<<<<< HEAD\n0002_prev\n=======\n0003_x\n>>>>>>> x\n")
    checked = seed.manage("check", check=False)
    assert checked.returncode == 1 and "migguard.E002" in checked.stderr and "is conflicted" in checked.stderr
