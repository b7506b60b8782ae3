"""Shapes Django never writes by itself, held to Django's MigrationLoader on the same files."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import DjangoProject

from test_check_agrees_with_django import assert_agrees

EMPTY_MODELS = "from django.db import models\n"


def migration(dependencies: str = "[]", extra: str = "", header: str = "from django.db import migrations\n") -> str:
    return textwrap.dedent(header) + "\n\nclass Migration(migrations.Migration):\n" + textwrap.indent(
        textwrap.dedent(f"dependencies = {dependencies}\n{extra}\noperations = []\n"), "    "
    )


def write(app_dir: Path, files: dict[str, str], package: str = "migrations") -> None:
    directory = app_dir / package
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__init__.py").touch()
    for name, text in files.items():
        (directory / f"{name}.py").write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> DjangoProject:
    return DjangoProject(tmp_path / "odd")


def leaves(result: dict) -> dict[str, list[str]]:
    return {app["app"]: app["leaves"] for app in result["apps"]}


def test_same_app_run_before_removes_a_conflict(project: DjangoProject) -> None:
    app = project.add_app("blog", EMPTY_MODELS)
    write(app, {
        "0001_initial": migration(),
        "0002_a": migration("[('blog', '0001_initial')]", "run_before = [('blog', '0002_b')]"),
        "0002_b": migration("[('blog', '0001_initial')]"),
    })
    assert leaves(assert_agrees(project)) == {"blog": ["0002_b"]}


def test_label_differs_from_folder_and_comments_hold_brackets(project: DjangoProject) -> None:
    app = project.add_app("blog", EMPTY_MODELS, label="weblog")
    write(app, {
        "0001_initial": migration(),
        "0002_second": migration(textwrap.dedent("""\
            [
                # ] not the end; ('weblog', '0009_fake') is only a comment
                ('weblog', '0001_initial'),  # trailing ] comment
            ]""")),
        "0003_third": migration("(('weblog', '0002_second'),)"),
    })
    result = assert_agrees(project)
    assert leaves(result) == {"weblog": ["0003_third"]}
    assert result["apps"][0]["path"] == "blog/migrations"


def test_annotated_tuple_first_latest_and_swappable(project: DjangoProject) -> None:
    (project.root / "installed_apps.json").write_text('["django.contrib.contenttypes", "django.contrib.auth"]')
    accounts = project.add_app("accounts", EMPTY_MODELS)
    write(accounts, {
        "0001_initial": migration(),
        "0002_more": migration("[('accounts', '0001_initial')]"),
    })
    shop = project.add_app("shop", EMPTY_MODELS)
    write(shop, {
        "0001_initial": migration(
            "[migrations.swappable_dependency(settings.AUTH_USER_MODEL), ('accounts', '__first__')]",
            header="from django.conf import settings\nfrom django.db import migrations\n",
        ),
        "0002_latest": "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
                       "    dependencies: list[tuple[str, str]] = [('shop', '0001_initial'), ('accounts', '__latest__')]\n"
                       "    operations = []\n",
        "0003_first_same_app": migration("[('shop', '__first__'), ('shop', '0002_latest')]"),
    })
    assert leaves(assert_agrees(project)) == {"accounts": ["0002_more"], "shop": ["0003_first_same_app"]}


def test_unnumbered_names_duplicate_numbers_and_private_modules(project: DjangoProject) -> None:
    app = project.add_app("notes", EMPTY_MODELS)
    write(app, {
        "initial": migration(),
        "0002_one": migration("[('notes', 'initial')]"),
        "0002_two": migration("[('notes', '0002_one')]"),
        "add_things": migration("[('notes', '0002_two')]"),
        "_helpers": "raise RuntimeError('never imported as a migration')\n",
        "~backup": "this is not python\n",
    })
    assert leaves(assert_agrees(project)) == {"notes": ["add_things"]}


def test_nested_app_and_custom_migrations_module(project: DjangoProject) -> None:
    nested = project.add_app("apps.inventory", EMPTY_MODELS)
    write(nested, {"0001_initial": migration(), "0002_next": migration("[('inventory', '0001_initial')]")})
    custom = project.add_app("billing", EMPTY_MODELS, migrations_module="billing.db_migrations")
    write(custom, {"0001_initial": migration(), "0002_next": migration("[('billing', '0001_initial')]"),
                   "0002_other": migration("[('billing', '0001_initial')]")}, package="db_migrations")
    result = assert_agrees(project)
    assert leaves(result) == {"billing": ["0002_next", "0002_other"], "inventory": ["0002_next"]}
    assert result["conflicts"] == ["billing"]
    assert {app["app"]: app["path"] for app in result["apps"]} == {
        "billing": "billing/db_migrations", "inventory": "apps/inventory/migrations"}


def test_squash_with_and_without_replaced_files(project: DjangoProject) -> None:
    app = project.add_app("stock", EMPTY_MODELS)
    write(app, {
        "0001_initial": migration(),
        "0002_b": migration("[('stock', '0001_initial')]"),
        "0001_squashed_0002_b": migration("[]", "replaces = [('stock', '0001_initial'), ('stock', '0002_b')]"),
        "0003_c": migration("[('stock', '0002_b')]"),
    })
    other = project.add_app("orders", EMPTY_MODELS)
    write(other, {"0001_initial": migration("[('stock', '0001_initial')]")})
    assert leaves(assert_agrees(project)) == {"orders": ["0001_initial"], "stock": ["0003_c"]}
    for name in ("0001_initial", "0002_b"):
        (app / "migrations" / f"{name}.py").unlink()
    assert leaves(assert_agrees(project)) == {"orders": ["0001_initial"], "stock": ["0003_c"]}


def test_alembic_folder_and_virtualenv_are_not_apps(project: DjangoProject) -> None:
    app = project.add_app("core", EMPTY_MODELS)
    write(app, {"0001_initial": migration()})
    alembic = project.root / "alembic" / "migrations"
    (alembic / "versions").mkdir(parents=True)
    (alembic / "__init__.py").touch()
    (alembic / "env.py").write_text("from alembic import context\n")
    venv = project.root / ".venv-x"
    (venv / "lib" / "pkg" / "migrations").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr\n")
    (venv / "lib" / "pkg" / "migrations" / "__init__.py").touch()
    (venv / "lib" / "pkg" / "migrations" / "0001_initial.py").write_text(migration())
    result = assert_agrees(project)
    assert [app["app"] for app in result["apps"]] == ["core"]
    assert result["errors"] == [{"path": "core/migrations/max_migration.txt", "line": 1,
                                 "message": "core/migrations/max_migration.txt is missing; `migguard fix` (or `migguard lock`) writes it"}]
