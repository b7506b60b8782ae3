"""The post-rewrite hook brings local databases along when it renames applied migrations."""
from __future__ import annotations

import pytest

from conftest import DjangoProject, diverge, git
from dbstory import (COUNTRY, DISCIPLINE, assert_healthy, chain_with_a_dependent_app, dump, feature_migrated, migguard,
                     migrate_and_store, prepare, with_origin)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_rebase_brings_the_local_database_along(seed: DjangoProject, database, fresh) -> None:
    prepare(seed, database)
    before = feature_migrated(seed)

    rebase = git(seed.root, "rebase", "main")
    assert (seed.root / "api/migrations/0004_person_discipline.py").exists()
    said = [line for line in rebase.stderr.splitlines() if "database" in line]
    assert said[0] == ("migguard: api: 0003_person_discipline applied in database 'default': renumbering, "
                       "and bringing the database along")
    assert said[1].startswith("migguard: database 'default' brought along: rows renamed "
                              "api.0003_person_discipline -> 0004_person_discipline; applied api.0003_person_country; "
                              "the schema equals a fresh database")
    assert migguard(seed, "db", "status").returncode == 0
    assert_healthy(seed, before, fresh)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_pull_rebase_brings_a_chain_and_a_dependent_app_along(seed: DjangoProject, database, fresh) -> None:
    prepare(seed, database)
    chain_with_a_dependent_app(seed)
    with_origin(seed)
    git(seed.root, "checkout", "-q", "feature")
    before = migrate_and_store(seed, "order")
    assert before["rows"]["shop_order"]

    pull = git(seed.root, "pull", "--rebase", "origin", "main")
    assert (seed.root / "api/migrations/0005_person_nickname.py").exists()
    assert "migguard: database 'default' brought along" in pull.stderr, pull.stderr
    assert_healthy(seed, before, fresh)


def test_a_database_on_another_host_keeps_its_names(seed: DjangoProject) -> None:
    """Applied on a server elsewhere (here: one that does not answer): no rename, a merge migration instead."""
    prepare(seed, None)
    settings = seed.root / "settings.py"
    settings.write_text(settings.read_text() + (
        '\nDATABASES["reports"] = {"ENGINE": "django.db.backends.postgresql", "NAME": "reports", '
        '"HOST": "db.reports.invalid", "PORT": "5432", "USER": "x", "OPTIONS": {"connect_timeout": 2}}\n'))
    git(seed.root, "commit", "-qam", "settings: a reports database elsewhere")
    before = feature_migrated(seed)

    rebase = git(seed.root, "rebase", "main")
    assert "api: not renumbered: database 'reports' could not be asked" in rebase.stderr, rebase.stderr
    assert "writing a merge migration instead" in rebase.stderr
    assert (seed.root / "api/migrations/0003_person_discipline.py").exists()
    assert list((seed.root / "api/migrations").glob("0004_merge_*.py"))
    assert dump(seed) == before
    migrate = seed.manage("migrate", "--no-input")
    assert "Applying api.0003_person_country... OK" in migrate.stdout
    assert [row[:5] for row in dump(seed)["rows"]["api_person"]] == [row[:5] for row in before["rows"]["api_person"]]


TRACE = "from pathlib import Path\nwith open(Path(__file__).parent / 'settings-imported.log', 'a') as log:\n    log.write('x')\n"


def test_hooks_that_rename_nothing_start_no_django(seed: DjangoProject) -> None:
    prepare(seed, None)
    settings = seed.root / "settings.py"
    settings.write_text(settings.read_text() + "\ntry:\n    import settings_trace  # noqa\nexcept ImportError:\n    pass\n")
    (seed.root / ".gitignore").write_text((seed.root / ".gitignore").read_text() + "settings_trace.py\n*.log\n")
    git(seed.root, "commit", "-qam", "settings: trace")
    diverge(seed, [DISCIPLINE], [COUNTRY])
    git(seed.root, "checkout", "-q", "feature")
    (seed.root / "settings_trace.py").write_text(TRACE)
    git(seed.root, "merge", "-q", "--no-edit", "main")
    git(seed.root, "checkout", "-q", "-b", "other", "main")
    (seed.root / "notes.txt").write_text("notes\n")
    git(seed.root, "add", "notes.txt")
    git(seed.root, "commit", "-qm", "notes")
    git(seed.root, "rebase", "feature")
    assert not (seed.root / "settings-imported.log").exists()


def test_a_database_that_could_not_be_brought_along_keeps_its_names(seed: DjangoProject) -> None:
    """The proof runs before any file is renamed: upstream's migration fails on this database's rows, so the
    app gets a merge migration and the database is not touched."""
    from test_db_repair import FAILING_UPSTREAM

    prepare(seed, None)
    before = feature_migrated(seed, FAILING_UPSTREAM)

    rebase = git(seed.root, "rebase", "main")
    assert ("api: not renumbered: bringing database 'default' along would fail ("
            "RuntimeError: country cannot be filled for existing people); writing a merge migration instead") in rebase.stderr, rebase.stderr
    assert (seed.root / "api/migrations/0003_person_discipline.py").exists()
    assert list((seed.root / "api/migrations").glob("0004_merge_*.py"))
    assert dump(seed) == before
    assert migguard(seed, "db", "status").returncode == 0
