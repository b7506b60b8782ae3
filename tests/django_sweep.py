"""Lay out Django's own migration fixture packages as small projects, and ask Django's loader about all of them.

Each *case* is one directory of `tests/migrations` (a `test_migrations*` package, or the whole of
`migrations_test_apps`) copied into a folder of its own, installed the way Django's test suite
installs it: `MIGRATION_MODULES` maps the label to the fixture package (as `apps` does in
`[tool.migguard]`), or the apps are installed and their `migrations` folder is found by default."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

# One Django process answers for every case: each case has its own INSTALLED_APPS and MIGRATION_MODULES
# (override_settings), and its modules live under a package name of its own, so nothing is imported twice.
SWEEP_SCRIPT = """
import json, sys
import django
django.setup()
from django.core.management import CommandError
from django.db.migrations.exceptions import BadMigrationError, CircularDependencyError, NodeNotFoundError
from django.db.migrations.loader import MigrationLoader
from django.test.utils import override_settings

BASE_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
answers = {}
for case in json.loads(sys.stdin.read()):
    answer = {}
    try:
        with override_settings(INSTALLED_APPS=BASE_APPS + case["installed_apps"],
                               MIGRATION_MODULES=case["migration_modules"]):
            loader = MigrationLoader(None, ignore_no_migrations=True)
            leaves = {}
            for app, name in loader.graph.leaf_nodes():
                leaves.setdefault(app, []).append(name)
            nodes = {}
            for app, name in loader.graph.nodes:
                nodes.setdefault(app, []).append(name)
            answer = {"leaves": leaves, "nodes": nodes, "conflicts": loader.detect_conflicts(),
                      "migrated_apps": sorted(loader.migrated_apps)}
    except (NodeNotFoundError, CircularDependencyError, BadMigrationError, CommandError, ImportError,
            ValueError) as error:
        answer = {"error": type(error).__name__, "message": str(error)}
    answers[case["name"]] = answer
print(json.dumps(answers))
"""

SETTINGS = """
SECRET_KEY = "migguard-sweep"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
"""


class FixturePackage(NamedTuple):
    """One migration package of Django's test suite: where it is in `tests/migrations`, and its app label."""

    case: str
    path: str
    label: str


class Case(NamedTuple):
    name: str
    root: Path
    packages: list[FixturePackage]
    installed_apps: list[str]
    migration_modules: dict[str, str]


def fixture_packages(fixtures: Path) -> list[FixturePackage]:
    """Every migration package (with or without files) of `tests/migrations`, grouped into cases."""
    found = []
    for directory in sorted(fixtures.glob("test_migrations*")):
        if not directory.is_dir():
            continue
        apps = sorted(child for child in directory.iterdir() if child.is_dir() and child.name != "__pycache__")
        if apps:
            found += [FixturePackage(directory.name, f"{directory.name}/{app.name}", app.name) for app in apps]
        else:
            found.append(FixturePackage(directory.name, directory.name, "migrations"))
    for migrations in sorted((fixtures / "migrations_test_apps").rglob("migrations")):
        path = migrations.relative_to(fixtures).as_posix()
        found.append(FixturePackage("migrations_test_apps", path, migrations.parent.name))
    return found


def lay_out(fixtures: Path, workspace: Path, settings: str = "") -> list[Case]:
    """Copy each case into `workspace/cases/case_<name>/` with its `[tool.migguard]` (`settings` added to it);
    one shared app `migrations`."""
    app = workspace / "apps" / "migrations"
    app.mkdir(parents=True)
    (app / "__init__.py").touch()
    (workspace / "sweep_settings.py").write_text(SETTINGS)
    by_case: dict[str, list[FixturePackage]] = {}
    for package in fixture_packages(fixtures):
        by_case.setdefault(package.case, []).append(package)
    cases = []
    for name, packages in by_case.items():
        module = "case_" + name
        root = workspace / "cases" / module
        shutil.copytree(fixtures / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "__init__.py").touch()
        for template in root.rglob("*.pyc-tpl"):
            # As Django's own test does: the template becomes a .pyc left without its source.
            template.rename(template.with_suffix(".pyc"))
        if name == "migrations_test_apps":
            installed = [f"{module}.{p.path.rsplit('/', 1)[0].replace('/', '.')}" for p in packages
                         if (root / p.path).parent.joinpath("__init__.py").exists()]
            modules: dict[str, str] = {}
            config = f"[tool.migguard]\nlockfile = \"\"\n{settings}"
        else:
            installed = ["migrations"] if packages[0].label == "migrations" else \
                [f"{module}.{p.path.replace('/', '.')}" for p in packages]
            modules = {p.label: f"{module}.{p.path.replace('/', '.')}" for p in packages}
            config = f"[tool.migguard]\nlockfile = \"\"\n{settings}\n[tool.migguard.apps]\n" + "".join(
                f"{p.label} = \"{p.path}\"\n" for p in packages)
        (root / "pyproject.toml").write_text(config)
        cases.append(Case(name, root, packages, installed, modules))
    return cases


def ask_django(cases: list[Case], workspace: Path, python: str = sys.executable, hash_seed: str = "") -> dict[str, dict]:
    """Django's loader on every case, in one process: leaves, nodes, conflicts, or the error it raises.

    `hash_seed` fixes PYTHONHASHSEED: Django iterates a set of migration names, so its order can vary."""
    payload = [{"name": c.name, "installed_apps": c.installed_apps, "migration_modules": c.migration_modules}
               for c in cases]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTHON"))}
    env.update(DJANGO_SETTINGS_MODULE="sweep_settings", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(workspace), str(workspace / "apps"), str(workspace / "cases")]))
    if hash_seed:
        env["PYTHONHASHSEED"] = hash_seed
    done = subprocess.run([python, "-c", SWEEP_SCRIPT], input=json.dumps(payload), capture_output=True, text=True,
                          cwd=workspace, env=env)
    if done.returncode != 0:
        raise AssertionError(f"Django's loader could not run:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
