"""`migguard demo`: the seed story end to end in a throwaway repository, every claim checked."""
from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

from migguard.gitio import git_env

MODELS = """\
from django.db import models


class Person(models.Model):
{top}    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
{bottom}"""
COUNTRY = "    country = models.CharField(max_length=50, default='')\n"
DISCIPLINE = "    discipline = models.CharField(max_length=50, default='')\n"
SETTINGS = """\
SECRET_KEY = "migguard-demo"
INSTALLED_APPS = ["api"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"""
MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


class DemoFailure(Exception):
    """A step did not do what the demo says it does."""


class Demo:
    def __init__(self, root: Path, echo: Callable[[str], None]) -> None:
        self.root = root
        self.echo = echo
        self.env = git_env()
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.update(GIT_AUTHOR_NAME="Demo", GIT_AUTHOR_EMAIL="demo@example.com", GIT_COMMITTER_NAME="Demo",
                        GIT_COMMITTER_EMAIL="demo@example.com", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
                        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    def run(self, *command: str, show: bool = True, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        shown = " ".join(("python" if part == sys.executable else part) for part in command)
        done = subprocess.run(command, cwd=self.root, capture_output=True, text=True, env=self.env)
        if show:
            self.echo(f"$ {shown}")
            for line in (done.stdout + done.stderr).splitlines():
                if line.strip() and not line.startswith("hint:"):
                    self.echo(f"  {line}")
        if expect is not None and done.returncode != expect:
            raise DemoFailure(f"`{shown}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def git(self, *args: str, show: bool = True, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, show=show, expect=expect)

    def manage(self, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "manage.py", *args, show=show)

    def say(self, text: str) -> None:
        self.echo("")
        self.echo(f"== {text}")

    def models(self, top: str = "", bottom: str = "") -> None:
        (self.root / "api" / "models.py").write_text(MODELS.format(top=top, bottom=bottom))

    def developer_adds(self, branch: str, start: str, top: str, bottom: str) -> None:
        self.git("checkout", "-q", "-b", branch, start, show=False)
        self.models(top, bottom)
        field = "country" if top else "discipline"
        self.echo(f"# {branch}: adds Person.{field}")
        self.manage("makemigrations", "api")
        self.git("add", "-A", show=False)
        self.git("commit", "-q", "-m", f"Add Person.{field}", show=False)

    def migrations(self) -> list[str]:
        return sorted(p.name for p in (self.root / "api" / "migrations").glob("0*.py"))

    def show_migrations(self) -> None:
        self.echo("  api/migrations: " + ", ".join(self.migrations()))

    def require(self, condition: bool, claim: str) -> None:
        if not condition:
            raise DemoFailure(claim)
        self.echo(f"  ok: {claim}")

    def check_ok(self, rev: str = "HEAD") -> bool:
        done = self.run(sys.executable, "-m", "migguard", "check", "--rev", rev, show=False, expect=None)
        return done.returncode == 0

    def migrate(self) -> None:
        (self.root / "db.sqlite3").unlink(missing_ok=True)
        done = self.manage("migrate", "--no-input", show=False)
        (self.root / "db.sqlite3").unlink(missing_ok=True)  # a database left here would be brought along by later rebases
        applied = [line.strip() for line in done.stdout.splitlines() if "Applying api." in line]
        self.echo("$ python manage.py migrate")
        for line in applied:
            self.echo(f"  {line}")
        self.require(done.returncode == 0 and bool(applied), "manage.py migrate applies every migration on SQLite")

    def setup(self) -> str:
        self.say("A Django project: app `api`, model Person(name, created_at)")
        (self.root / "api" / "migrations").mkdir(parents=True)
        for name in ("api/__init__.py", "api/migrations/__init__.py"):
            (self.root / name).touch()
        (self.root / "settings.py").write_text(SETTINGS)
        (self.root / "manage.py").write_text(MANAGE)
        (self.root / ".gitignore").write_text("db.sqlite3\n__pycache__/\n")
        self.models()
        self.manage("makemigrations", "api")
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A", show=False)
        self.git("commit", "-q", "-m", "Person", show=False)
        self.run(sys.executable, "-m", "migguard", "install")
        self.git("add", "-A", show=False)
        self.git("commit", "-q", "-m", "Install migguard", show=False)
        return self.git("rev-parse", "HEAD", show=False).stdout.strip()

    def merge_story(self, base: str) -> None:
        self.say("Two developers each add a migration; main merges both")
        self.developer_adds("alice", base, COUNTRY, "")
        self.developer_adds("bob", base, "", DISCIPLINE)
        self.git("checkout", "-q", "main", show=False)
        self.git("merge", "--no-edit", "alice")
        done = self.git("merge", "--no-edit", "bob")
        self.show_migrations()
        merge = [name for name in self.migrations() if "_merge_" in name]
        self.require(len(merge) == 1, f"git merge itself wrote {merge[0] if merge else 'a merge migration'}")
        committed = self.git("show", "--name-only", "--format=", "HEAD", show=False).stdout.split()
        self.require(f"api/migrations/{merge[0]}" in committed, "it is inside the merge commit; nothing left to do")
        self.require("migguard:" in done.stderr and self.check_ok(), "one leaf: `migguard check --rev HEAD` is ok")
        text = (self.root / "api" / "migrations" / merge[0]).read_text()
        self.echo(textwrap.indent(text, "  | ", predicate=lambda line: True).rstrip("\n"))
        self.migrate()

    def rebase_story(self, base: str) -> None:
        self.say("The same two changes on fresh branches; bob rebases onto alice's")
        self.developer_adds("alice-2", base, COUNTRY, "")
        self.developer_adds("bob-2", base, "", DISCIPLINE)
        (self.root / "db.sqlite3").unlink(missing_ok=True)  # each story migrates a fresh database
        done = self.git("rebase", "alice-2")
        self.show_migrations()
        renamed = "0003_person_discipline.py"
        self.require(renamed in self.migrations(), f"bob's migration was renumbered to {renamed}, after alice's")
        subject = self.git("log", "-1", "--format=%s", show=False).stdout.strip()
        self.require(subject == "Add Person.discipline",
                     f"folded into bob's own commit, so every commit has one leaf (HEAD is {subject!r})")
        self.require("migguard:" in done.stderr and self.check_ok(), "one leaf: `migguard check --rev HEAD` is ok")
        self.migrate()

    def push_story(self, base: str) -> None:
        self.say("A merge made with the hooks bypassed is refused by pre-push")
        remote = self.root.parent / f"{self.root.name}-origin.git"
        self.git("init", "-q", "--bare", str(remote), show=False)
        self.git("remote", "add", "origin", str(remote), show=False)
        self.developer_adds("carol", base, COUNTRY, "")
        self.developer_adds("dave", base, "", DISCIPLINE)
        self.git("checkout", "-q", "carol", show=False)
        self.git("-c", "core.hooksPath=/dev/null", "merge", "--no-edit", "dave")
        refused = self.git("push", "origin", "carol", expect=None)
        self.require(refused.returncode != 0, "git push is refused: the remote never sees two leaves")
        self.run(sys.executable, "-m", "migguard", "fix")
        self.git("commit", "-q", "--amend", "--no-edit")
        self.git("push", "-q", "origin", "carol")
        self.require(self.check_ok(), "after `migguard fix` the push goes through")
        shutil.rmtree(remote, ignore_errors=True)


def run_demo(keep: str | None, echo: Callable[[str], None]) -> int:
    """Run the whole story; 0 only when every step did what it said."""
    if importlib.util.find_spec("django") is None:
        echo(f"migguard demo: the demo runs Django's makemigrations and migrate, and this Python has no Django: "
             f"{shlex.quote(sys.executable)} -m pip install django, then run it again.")
        return 2
    temporary = None
    if keep:
        root = Path(keep).resolve()
        if root.exists() and any(root.iterdir()):
            echo(f"migguard demo: {root} is not empty; choose a new directory for --keep.")
            return 2
        root.mkdir(parents=True, exist_ok=True)
    else:
        temporary = tempfile.mkdtemp(prefix="migguard-demo-")
        root = Path(temporary) / "project"
        root.mkdir()
    demo = Demo(root, echo)
    try:
        base = demo.setup()
        demo.merge_story(base)
        demo.rebase_story(base)
        demo.push_story(base)
    except DemoFailure as failure:
        echo(f"\nmigguard demo FAILED: {failure}")
        return 1
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    echo("\nDone: merge, rebase and push each kept one leaf in app `api`."
         + (f" The repository is in {root}." if keep else ""))
    return 0
