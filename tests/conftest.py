"""Real git repositories and throwaway Django projects whose migrations Django itself writes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from migguard.gitio import git_env

PERSON = """
from django.db import models


class Person(models.Model):
{top}    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
{extra}
"""

SETTINGS = """
import json
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "migguard-tests"
INSTALLED_APPS = json.loads((BASE_DIR / "installed_apps.json").read_text())
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / "db.sqlite3")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
MIGRATION_MODULES = json.loads((BASE_DIR / "migration_modules.json").read_text())
"""

LOADER_SCRIPT = """
import importlib.util, json, os
import django
django.setup()
from django.apps import apps
from django.db.migrations.loader import MigrationLoader
out = {}
try:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    leaves = {}
    for app, name in loader.graph.leaf_nodes():
        leaves.setdefault(app, []).append(name)
    paths = {}
    for config in apps.get_app_configs():
        module, _ = MigrationLoader.migrations_module(config.label)
        try:
            spec = importlib.util.find_spec(module)
        except ImportError:
            spec = None
        if spec is not None and spec.origin:
            paths[config.label] = os.path.dirname(spec.origin)
    out = {"leaves": leaves, "conflicts": loader.detect_conflicts(), "paths": paths}
except Exception as error:
    out = {"error": type(error).__name__ + ": " + str(error)}
print(json.dumps(out))
"""


def run(args: list[str], cwd: Path, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess:
    env = kwargs.pop("env", None) or clean_env()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, **kwargs)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """A clean environment: no caller's GIT_DIR, a fixed identity, migguard's own Python on PATH."""
    env = git_env()
    env.update(
        GIT_AUTHOR_NAME="Ada", GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada", GIT_COMMITTER_EMAIL="ada@example.com",
        GIT_CONFIG_NOSYSTEM="1", HOME=env.get("MIGGUARD_TEST_HOME", env.get("HOME", "/tmp")),
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


def git(repo: Path, *args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess:
    return run(["git", *args], repo, check=check, **kwargs)


class DjangoProject:
    """A Django project in a git repository: apps, models, and Django's own makemigrations."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "settings.py").write_text(SETTINGS)
        (root / "manage.py").write_text(
            "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'settings')\n"
            "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n"
        )
        (root / ".gitignore").write_text("db.sqlite3\n__pycache__/\n")
        (root / "installed_apps.json").write_text("[]")
        (root / "migration_modules.json").write_text("{}")

    @classmethod
    def open(cls, root: Path) -> DjangoProject:
        """A project that already exists on disk."""
        project = cls.__new__(cls)
        project.root = root
        return project

    def add_app(self, module: str, models: str, label: str | None = None, migrations_module: str | None = None) -> Path:
        """Create app `module` (dotted for nested apps) with `models`; an AppConfig when `label` differs."""
        directory = self.root.joinpath(*module.split("."))
        directory.mkdir(parents=True, exist_ok=True)
        for parent in list(directory.relative_to(self.root).parents)[:-1]:
            (self.root / parent / "__init__.py").touch()
        (directory / "__init__.py").touch()
        (directory / "models.py").write_text(textwrap.dedent(models))
        entry = module
        if label:
            name = "".join(part.title() for part in label.split("_")) + "Config"
            (directory / "apps.py").write_text(
                f"from django.apps import AppConfig\n\n\nclass {name}(AppConfig):\n"
                f"    name = {module!r}\n    label = {label!r}\n"
            )
            entry = f"{module}.apps.{name}"
        installed = json.loads((self.root / "installed_apps.json").read_text())
        installed.append(entry)
        (self.root / "installed_apps.json").write_text(json.dumps(installed))
        if migrations_module:
            modules = json.loads((self.root / "migration_modules.json").read_text())
            modules[label or module.rsplit(".", 1)[-1]] = migrations_module
            (self.root / "migration_modules.json").write_text(json.dumps(modules))
        return directory

    def models(self, module: str, text: str) -> None:
        self.root.joinpath(*module.split("."), "models.py").write_text(textwrap.dedent(text))

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([sys.executable, "manage.py", *args], self.root, check=check)

    def makemigrations(self, *args: str) -> None:
        self.manage("makemigrations", *args, "--no-input")

    def loader(self) -> dict:
        """What Django's own MigrationLoader(None) sees: leaves per app, conflicts, migration paths."""
        done = run([sys.executable, "-c", LOADER_SCRIPT], self.root,
                   env=clean_env(DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(self.root)))
        return json.loads(done.stdout.strip().splitlines()[-1])

    def migrate(self) -> subprocess.CompletedProcess:
        """`migrate` into an empty database, which is removed afterwards: the repository's later git
        commands must not meet a developer's database (its post-rewrite hook would bring it along)."""
        (self.root / "db.sqlite3").unlink(missing_ok=True)
        try:
            return self.manage("migrate", "--no-input", check=False)
        finally:
            (self.root / "db.sqlite3").unlink(missing_ok=True)


def person_models(*fields: str, top: tuple[str, ...] = ()) -> str:
    """Person(name, created_at) with `fields` at the bottom and `top` above `name`."""
    def lines(values: tuple[str, ...]) -> str:
        return "".join(f"    {value}\n" for value in values)

    return PERSON.format(top=lines(top), extra=lines(fields))


def _seed(root: Path) -> None:
    project = DjangoProject(root)
    project.add_app("api", person_models())
    project.makemigrations("api")
    project.models("api", person_models("email = models.EmailField(blank=True)"))
    project.makemigrations("api", "--name", "prev")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "api: Person")


@pytest.fixture(scope="session")
def seed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed project once per session: app api, Person(name, created_at), 0001 and 0002."""
    root = tmp_path_factory.mktemp("seed") / "project"
    _seed(root)
    return root


@pytest.fixture
def seed(seed_template: Path, tmp_path: Path) -> DjangoProject:
    """A fresh copy of the seed repository."""
    root = tmp_path / "project"
    shutil.copytree(seed_template, root, symlinks=True)
    return DjangoProject.open(root)


def diverge(project: DjangoProject, ours: list[str], theirs: list[str], app: str = "api",
            base_fields: tuple[str, ...] = ("email = models.EmailField(blank=True)",)) -> None:
    """Branch `feature` adds fields `ours` one migration each; then `main` adds `theirs` the same way.

    The feature's fields go at the top of the model and main's at the bottom, so models.py merges."""
    root = project.root
    git(root, "checkout", "-q", "-b", "feature")
    top: list[str] = []
    for field in ours:
        top.append(field)
        project.models(app, person_models(*base_fields, top=tuple(top)))
        project.makemigrations(app)
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"feature: {field.split(' ')[0]}")
    git(root, "checkout", "-q", "main")
    fields = list(base_fields)
    for field in theirs:
        fields.append(field)
        project.models(app, person_models(*fields))
        project.makemigrations(app)
        git(root, "add", "-A")
        git(root, "commit", "-qm", f"main: {field.split(' ')[0]}")


def commit_models(project: DjangoProject, app: str, models: str, migration_name: str, message: str) -> None:
    """Rewrite `app`'s models.py, let Django write the migration `migration_name`, commit both."""
    project.models(app, models)
    project.makemigrations(app, "--name", migration_name)
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", message)


def diverge_models(project: DjangoProject, feature: tuple[str, str], main: tuple[str, str], app: str = "api") -> None:
    """Branch `feature` and then `main` each rewrite models.py: (models text, migration name) each."""
    git(project.root, "checkout", "-q", "-b", "feature")
    commit_models(project, app, *feature, "feature")
    git(project.root, "checkout", "-q", "main")
    commit_models(project, app, *main, "main")


from postgres import database, fresh, postgres_database, postgres_databases, postgres_server  # noqa: E402,F401  (real PostgreSQL fixtures)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", help="fuzz with 10,000 inputs instead of a few hundred")
