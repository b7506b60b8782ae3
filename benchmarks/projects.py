"""Generated Django projects in git repositories: apps of 100 chained migrations, models in step, lock files."""
from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

PER_APP = 100
HEADER = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n\n"
LOCK = "max_migration.txt"
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")
GITCONFIG = """[user]
\tname = bench
\temail = bench@example.com
[init]
\tdefaultBranch = main
[gc]
\tauto = 0
[maintenance]
\tauto = false
[commit]
\tgpgsign = false
[advice]
\tdetachedHead = false
"""


def environment(home: Path, venv_bin: Path) -> dict[str, str]:
    """The environment of every measured command: the machine's git and Python settings left out."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "gitconfig").write_text(GITCONFIG)
    dropped = ("GIT_", "MIGGUARD", "PYTHON", "DJANGO_", "VIRTUAL_ENV")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / "gitconfig"), HOME=str(home),
               PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", VIRTUAL_ENV=str(venv_bin.parent),
               GIT_TERMINAL_PROMPT="0", LC_ALL="C.UTF-8")
    return env


def git(root: Path, env: Mapping[str, str], *arguments: str) -> str:
    """Run git (no hooks unless the arguments say otherwise) and return its output."""
    done = subprocess.run(["git", *arguments], cwd=root, env=dict(env), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)} in {root}: {done.stderr.strip()}")
    return done.stdout.strip()


def quiet_git(root: Path, env: Mapping[str, str], *arguments: str) -> str:
    """git with the hooks off: for the untimed setup."""
    return git(root, env, *NO_HOOKS, *arguments)


def app_label(index: int) -> str:
    return f"app{index:04d}"


def leaf_name(count: int = PER_APP) -> str:
    return f"{count:04d}_item_f{count - 1:03d}"


STYLES = ("makemigrations", "black")


def initial_migration(style: str = "makemigrations") -> str:
    """An app's 0001_initial, as Django's `makemigrations` writes it or as `black` rewrites that."""
    if style == "black":
        fields = ('                (\n                    "id",\n                    models.BigAutoField(\n'
                  '                        auto_created=True,\n                        primary_key=True,\n'
                  '                        serialize=False,\n                        verbose_name="ID",\n'
                  '                    ),\n                ),\n')
    else:
        fields = "                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),\n"
    q = '"' if style == "black" else "'"
    return (HEADER + "    initial = True\n\n    dependencies = []\n\n    operations = [\n"
            f"        migrations.CreateModel(\n            name={q}Item{q},\n            fields=[\n{fields}"
            "            ],\n        ),\n    ]\n")


def field_migration(app: str, previous: str, n: int, style: str = "makemigrations") -> str:
    """The migration adding field `f<n>` after `previous`, in either style (black changes only the quotes here:
    the makemigrations layout is already one item per line with trailing commas)."""
    q = '"' if style == "black" else "'"
    return (HEADER + f"    dependencies = [\n        ({q}{app}{q}, {q}{previous}{q}),\n    ]\n\n    operations = [\n"
            f"        migrations.AddField(\n            model_name={q}item{q},\n            name={q}f{n:03d}{q},\n"
            f"            field=models.IntegerField(default=0),\n        ),\n    ]\n")


def generate(root: Path, total: int, style: str = "makemigrations") -> list[str]:
    """A Django project with `total` migrations (apps of PER_APP); returns the app labels. `style`: the migrations
    as `makemigrations` writes them, or as `black` formats them (double quotes, exploded calls, trailing commas)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}")
    apps = [app_label(index) for index in range(max(1, total // PER_APP))]
    fields = "".join(f"    f{n:03d} = models.IntegerField(default=0)\n" for n in range(1, PER_APP))
    models = f"from django.db import models\n\n\nclass Item(models.Model):\n{fields}"
    initial = initial_migration(style)
    for app in apps:
        migrations = root / app / "migrations"
        migrations.mkdir(parents=True)
        (root / app / "__init__.py").touch()
        (migrations / "__init__.py").touch()
        (root / app / "models.py").write_text(models)
        (migrations / "0001_initial.py").write_text(initial)
        previous = "0001_initial"
        for n in range(1, PER_APP):
            name = leaf_name(n + 1)
            (migrations / f"{name}.py").write_text(field_migration(app, previous, n, style))
            previous = name
        (migrations / LOCK).write_text(previous + "\n")
    settings = ("SECRET_KEY = 'bench'\nDEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'\nUSE_TZ = True\n"
                "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n")
    (root / "settings.py").write_text(settings + f"INSTALLED_APPS = {apps!r}\n")
    (root / "settings_dlm.py").write_text(settings + f"INSTALLED_APPS = ['django_linear_migrations', *{apps!r}]\n")
    (root / "manage.py").write_text(
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'settings')\n"
        "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n")
    (root / ".gitignore").write_text("__pycache__/\n*.sqlite3\n")
    (root / "README.md").write_text("A generated project.\n")
    return apps


def init_repository(root: Path, env: Mapping[str, str]) -> None:
    git(root, env, "init", "-q")
    git(root, env, "add", "-A")
    quiet_git(root, env, "commit", "-qm", "generated")


class Migrations:
    """New migrations on top of an app's leaf, each with its own name and bytes (so no cache has seen it)."""

    def __init__(self, root: Path, app: str, tag: str, style: str = "makemigrations") -> None:
        self.root = root
        self.app = app
        self.tag = tag
        self.quote = '"' if style == "black" else "'"
        self.counter = itertools.count()

    def text(self, parent: str, serial: int) -> str:
        q = self.quote
        return (HEADER + f"    dependencies = [\n        ({q}{self.app}{q}, {q}{parent}{q}),\n    ]\n\n"
                f"    operations = [\n        migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop),\n"
                f"    ]\n    # bench {self.tag} {serial}\n")

    def leaf(self) -> str:
        return (self.root / self.app / "migrations" / LOCK).read_text().strip()

    def add(self, keep_lock: bool = True) -> str:
        """Write the next migration after the app's leaf (from its lock file); returns its path."""
        serial = next(self.counter)
        parent = self.leaf()
        name = f"{int(parent[:4]) + 1:04d}_{self.tag}_{serial}"
        path = f"{self.app}/migrations/{name}.py"
        (self.root / path).write_text(self.text(parent, serial))
        if keep_lock:
            (self.root / self.app / "migrations" / LOCK).write_text(name + "\n")
        return path
