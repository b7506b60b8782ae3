"""Squashes of squashes and squash loops, held to Django 6.0 (a virtualenv made once and cached) and to the
installed Django 5.2, each on the same files.

Django 6.0 replaces an inner squash before the squash that replaces it and calls a loop of squashes
"Cyclical squash replacement"; before 6.0 squashes are replaced in the order of a set of names, which
changes from run to run, so a squash of a squash still on disk loads only on some runs. migguard
follows `[tool.migguard] django_version`, else the installed Django, else the newest."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from django_sdist import django_python, installed_django_version, migration_fixtures
from django_sweep import Case, ask_django, lay_out

from migguard.checking import check_worktree

DJANGO_6 = "6.0.10"
DJANGO_5_2 = "5.2.19"
SEEDS = [str(seed) for seed in range(6)]  # seeds 3 and 5 fail on the double squash, 0-2 load it
REPOSITORY = Path(__file__).resolve().parent.parent

SQUASH_SETTINGS = """
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "migrations"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
MIGRATION_MODULES = {"migrations": "complex"}
USE_TZ = True
"""

MIGRATION = """from django.db import migrations


class Migration(migrations.Migration):
    replaces = {replaces}
    dependencies = {dependencies}
    operations = []
"""


def double_squash_of_complex(fixtures: Path, target: Path) -> None:
    """`test_migrations_squashed_complex` plus the squash of 1_auto..7_auto that Django 6.0's own
    `squashmigrations` writes (it squashes 3_squashed_5 again)."""
    project = target.parent / "squash-project"
    shutil.copytree(fixtures / "test_migrations_squashed_complex", project / "complex")
    (project / "apps" / "migrations").mkdir(parents=True)
    (project / "apps" / "migrations" / "__init__.py").touch()
    (project / "squash_settings.py").write_text(SQUASH_SETTINGS)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTHON"))}
    env.update(DJANGO_SETTINGS_MODULE="squash_settings", PYTHONPATH=f"{project}{os.pathsep}{project / 'apps'}")
    done = subprocess.run([django_python(DJANGO_6), "-m", "django", "squashmigrations", "migrations", "7_auto",
                           "--no-input"], cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shutil.copytree(project / "complex", target, ignore=shutil.ignore_patterns("__pycache__"))
    assert (target / "0001_squashed_7_auto.py").exists()


def write_package(target: Path, migrations: dict[str, tuple[str, str]]) -> None:
    target.mkdir(parents=True)
    (target / "__init__.py").touch()
    for name, (replaces, dependencies) in migrations.items():
        (target / f"{name}.py").write_text(MIGRATION.format(replaces=replaces, dependencies=dependencies))


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `tests/migrations`-like tree of the squash shapes, from Django 6.0's sdist and its squashmigrations."""
    fixtures = tmp_path_factory.mktemp("squash-fixtures")
    django6 = migration_fixtures(DJANGO_6)
    for name in ("test_migrations_squashed_double", "test_migrations_squashed_loop"):
        shutil.copytree(django6 / name, fixtures / name)
    double_squash_of_complex(migration_fixtures(installed_django_version()),
                             fixtures / "test_migrations_double_squash_complex")
    write_package(fixtures / "test_migrations_squash_replaces_itself", {
        "0001_initial": ("[]", "[]"),
        "0002_squashed": ("[('migrations', '0002_squashed')]", "[('migrations', '0001_initial')]"),
    })
    write_package(fixtures / "test_migrations_squash_loop_of_three", {
        "0001_initial": ("[]", "[]"),
        "0002_a": ("[('migrations', '0002_b')]", "[('migrations', '0001_initial')]"),
        "0002_b": ("[('migrations', '0002_c')]", "[('migrations', '0001_initial')]"),
        "0002_c": ("[('migrations', '0002_a')]", "[('migrations', '0001_initial')]"),
    })
    return fixtures


SHAPES = ["test_migrations_squashed_double", "test_migrations_squashed_loop", "test_migrations_double_squash_complex",
          "test_migrations_squash_replaces_itself", "test_migrations_squash_loop_of_three"]


def laid_out(scenarios: Path, workspace: Path, settings: str) -> dict[str, Case]:
    return {case.name: case for case in lay_out(scenarios, workspace, settings)}


def leaves_of(answer: dict) -> list[str]:
    return sorted(answer["leaves"].get("migrations", []))


def assert_no_traceback(root: Path) -> dict:
    """`check` and `graph` through the command line, in a git repository: exit 0 or 1, never a traceback."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    done = subprocess.run([sys.executable, "-m", "migguard", "check", "--format", "json"], cwd=root,
                          capture_output=True, text=True)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode in (0, 1), done
    graph = subprocess.run([sys.executable, "-m", "migguard", "graph", "migrations"], cwd=root,
                           capture_output=True, text=True)
    assert "Traceback" not in graph.stdout + graph.stderr and graph.returncode in (0, 1), graph
    return json.loads(done.stdout)


def test_django_6_semantics_equal_django_6(scenarios: Path, tmp_path: Path) -> None:
    cases = laid_out(scenarios, tmp_path, 'django_version = "6.0"\n')
    django = ask_django(list(cases.values()), tmp_path, python=django_python(DJANGO_6))
    for name in SHAPES:
        result = assert_no_traceback(cases[name].root)
        answer = django[name]
        if "error" in answer:
            assert answer["error"] == "CommandError" and "Cyclical squash replacement" in answer["message"], answer
            assert not result["ok"]
            assert any("cyclical squash replacement" in error["message"] for error in result["errors"]), result
        else:
            assert result["ok"], (name, result["errors"])
            assert result["apps"][0]["leaves"] == leaves_of(answer), name
    assert "error" not in django["test_migrations_double_squash_complex"]
    assert leaves_of(django["test_migrations_double_squash_complex"]) == ["0001_squashed_7_auto"]


def django_5_2() -> str:
    """The installed Django when it is a 5.2, else a cached virtualenv with Django 5.2."""
    return sys.executable if installed_django_version().startswith("5.2") else django_python(DJANGO_5_2)


def test_django_5_2_semantics_equal_django_5_2_on_every_run(scenarios: Path, tmp_path: Path) -> None:
    """Django before 6.0 is asked under several hash seeds: where any run raises, migguard reports an error."""
    cases = laid_out(scenarios, tmp_path, 'django_version = "5.2"\n')
    runs = [ask_django(list(cases.values()), tmp_path, python=django_5_2(), hash_seed=seed) for seed in SEEDS]
    for name in SHAPES:
        answers = [run[name] for run in runs]
        raised = [answer for answer in answers if "error" in answer]
        result = assert_no_traceback(cases[name].root)
        if name == "test_migrations_squash_replaces_itself":
            # Deliberately stricter than Django 5.2, which raises nothing but drops the squash, so the app
            # has no leaf left and `migrate` silently skips it; Django 6.0 refuses it.
            assert not raised and {tuple(leaves_of(answer)) for answer in answers} == {()}, answers
            assert not result["ok"] and "replaces itself" in result["errors"][0]["message"], result
        elif raised:
            assert not result["ok"], (name, raised[0])
        else:
            assert result["ok"], (name, result["errors"])
            assert {tuple(leaves_of(answer)) for answer in answers} == {tuple(result["apps"][0]["leaves"])}
    double = [run["test_migrations_double_squash_complex"] for run in runs]
    assert {answer.get("error") for answer in double} == {None, "NodeNotFoundError"}  # only some runs load it
    assert [error["message"] for error in check_worktree(cases["test_migrations_double_squash_complex"].root)["errors"]] == [
        "test_migrations_double_squash_complex/0001_squashed_7_auto.py replaces migrations.3_squashed_5, itself a "
        "squash still present: Django 5.2 (django_version in the configuration) loads a squash of a squash only on "
        "some runs (NodeNotFoundError); delete 3_squashed_5 once it is applied everywhere, or use Django 6.0"]


def test_without_django_version_the_installed_django_decides(scenarios: Path, tmp_path: Path) -> None:
    root = laid_out(scenarios, tmp_path, "")["test_migrations_double_squash_complex"].root
    result = check_worktree(root)
    installed = installed_django_version()
    if int(installed.split(".")[0]) >= 6:
        assert result["ok"] and result["apps"][0]["leaves"] == ["0001_squashed_7_auto"], result
    else:
        assert [error["message"] for error in result["errors"]] == [
            f"test_migrations_double_squash_complex/0001_squashed_7_auto.py replaces migrations.3_squashed_5, itself "
            f"a squash still present: Django {installed} (installed) loads a squash of a squash only on some runs "
            f"(NodeNotFoundError); delete 3_squashed_5 once it is applied everywhere, or use Django 6.0"]


NO_DJANGO = """
import json, sys
from migguard.checking import check_worktree
from migguard.graph import installed_django_version
print(json.dumps([installed_django_version(), check_worktree(sys.argv[1])]))
"""


def test_without_django_installed_the_newest_semantics(scenarios: Path, tmp_path: Path) -> None:
    """No site-packages (`python -S`): no Django to be found, so a squash of a squash loads as in Django 6.0."""
    cases = laid_out(scenarios, tmp_path, "")
    root = cases["test_migrations_double_squash_complex"].root
    done = subprocess.run([sys.executable, "-S", "-c", NO_DJANGO, str(root)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert done.returncode == 0, done.stderr
    version, result = json.loads(done.stdout)
    assert version == ""
    assert result["ok"], result["errors"]
    assert result["apps"][0]["leaves"] == ["0001_squashed_7_auto"]


def test_django_version_must_be_a_version_string(scenarios: Path, tmp_path: Path) -> None:
    cases = laid_out(scenarios, tmp_path, "django_version = 5.2\n")
    root = cases["test_migrations_squashed_double"].root
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    done = subprocess.run([sys.executable, "-m", "migguard", "check"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == ('migguard: [tool.migguard] in pyproject.toml: django_version must be a version string '
                           'such as "5.2", not 5.2.\n')


CHECK_REV = """
import json, sys
from migguard.checking import check_revision
print(json.dumps(check_revision(sys.argv[1], "HEAD", under="")))
"""


def test_a_cached_answer_the_installed_django_decided_holds_only_for_that_django(scenarios: Path, tmp_path: Path) -> None:
    """`check --rev` caches its answer by tree; where the installed Django's version decided it, another Django
    (here none: `python -S`) does not get that answer from the cache."""
    root = laid_out(scenarios, tmp_path, "")["test_migrations_double_squash_complex"].root
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "squashes"],
                   check=True)
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    answers = []
    for flags in ([], ["-S"], []):
        done = subprocess.run([sys.executable, *flags, "-c", CHECK_REV, str(root)], capture_output=True, text=True,
                              env=env)
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    installed = installed_django_version()
    assert [answer["django"] for answer in answers] == [installed, "", installed]
    assert answers[1]["ok"]
    assert answers[0] == answers[2] and answers[0]["ok"] == (int(installed.split(".")[0]) >= 6)
