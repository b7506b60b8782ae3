"""`migguard check` and `swappable_dependency(settings.AUTH_USER_MODEL)`: `auth_user_model` in [tool.migguard]
resolves it; without it, a warning only where a user model could close a cycle. Django's loader decides."""
from __future__ import annotations

import json
import sys

from conftest import DjangoProject, git, run

ORG = "from django.db import models\n\n\nclass Organization(models.Model):\n    name = models.CharField(max_length=100)\n"
USERS = ("from django.contrib.auth.models import AbstractUser\nfrom django.db import models\n\n\n"
         "class User(AbstractUser):\n    org = models.ForeignKey('org.Organization', null=True, on_delete=models.SET_NULL)\n")
NO_LOCKS = '[tool.migguard]\nlockfile = ""\n'
MIGRATION = """from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [{dependencies}]
    operations = []
"""


def check(project: DjangoProject) -> tuple[int, dict]:
    done = run([sys.executable, "-m", "migguard", "check", "--format", "json"], project.root, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


def test_a_dependency_on_the_user_model_that_cannot_close_a_cycle_is_quiet(tmp_path) -> None:
    project = DjangoProject(tmp_path / "project")
    (project.root / "installed_apps.json").write_text(json.dumps(["django.contrib.contenttypes", "django.contrib.auth"]))
    with open(project.root / "settings.py", "a") as handle:
        handle.write('\nAUTH_USER_MODEL = "users.User"\n')
    project.add_app("org", ORG)
    project.add_app("users", USERS)
    project.add_app("members", "")
    for app, name, dependencies in [
        ("org", "0001_initial", ""),
        ("org", "0002_owner", "('org', '0001_initial'), migrations.swappable_dependency(settings.AUTH_USER_MODEL)"),
        ("users", "0001_initial", "('auth', '0012_alter_user_first_name_max_length'), ('org', '0001_initial')"),
        ("users", "0002_members", "('users', '0001_initial')"),
        ("members", "0001_initial", "('org', '0001_initial'), migrations.swappable_dependency(settings.AUTH_USER_MODEL)"),
    ]:
        folder = project.root / app / "migrations"
        folder.mkdir(exist_ok=True)
        (folder / "__init__.py").touch()
        (folder / f"{name}.py").write_text(MIGRATION.format(dependencies=dependencies))
    (project.root / "pyproject.toml").write_text(NO_LOCKS)
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "org and users")
    django = project.loader()
    assert "error" not in django, django

    status, result = check(project)
    assert status == 0 and result["warnings"] == [], result
    (project.root / "pyproject.toml").write_text(NO_LOCKS + 'auth_user_model = "users.User"\n')
    status, result = check(project)
    assert status == 0 and result["warnings"] == [], result
    assert {app["app"]: app["leaves"] for app in result["apps"]} == {
        app: sorted(leaves) for app, leaves in django["leaves"].items() if app in ("org", "users", "members")}

    # org.0001_initial needing the user model would close a loop: said once without the setting, an error with it
    (project.root / "org/migrations/0001_initial.py").write_text(
        MIGRATION.format(dependencies="migrations.swappable_dependency(settings.AUTH_USER_MODEL)"))
    assert project.loader()["error"].startswith("CircularDependencyError: ")
    status, result = check(project)
    assert status == 1 and len(result["errors"]) == 1, result
    message = result["errors"][0]["message"]
    assert " is part of a dependency cycle: " in message
    loop = message.split("dependency cycle: ")[1].split(" (")[0].split(" -> ")
    assert sorted(set(loop)) == ["org.0001_initial", "users.0001_initial"] and loop[0] == loop[-1]
    assert message.endswith("(org.0001_initial needs the user model users.User through settings.AUTH_USER_MODEL)")
    (project.root / "pyproject.toml").write_text(NO_LOCKS)
    status, result = check(project)
    assert status == 0 and len(result["warnings"]) == 1
    assert "which a static check cannot resolve: with the user model in app users" in result["warnings"][0]["message"]

    (project.root / "pyproject.toml").write_text(NO_LOCKS + 'auth_user_model = "User"\n')
    done = run([sys.executable, "-m", "migguard", "check"], project.root, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("migguard: [tool.migguard] in pyproject.toml: auth_user_model must be "
                                   "\"app_label.ModelName\" as in settings.AUTH_USER_MODEL, not 'User'.")
