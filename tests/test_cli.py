"""The command line as a user meets it: outside git, paths, help, version, quiet, colour, completion,
and a monorepo of two Django projects that each have an app `users`."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, diverge, git, person_models, run

from test_fix import COUNTRY, DISCIPLINE, assert_django_happy
from test_git_flows import MERGE_FILE, head_files, install, migguard_lines


def migguard(cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False, env=clean_env(**env), timeout=60)
    return done.returncode, done.stdout, done.stderr


COMMANDS = [["check"], ["check", "--rev", "HEAD"], ["lock"], ["lock", "--check"], ["fix"], ["fix", "--dry-run"],
            ["graph", "api"], ["install"], ["uninstall"], ["status"], ["ci", "check"],
            ["ci", "resolve", "--base", "main"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_outside_git_every_command_exits_two_and_reads_nothing(tmp_path: Path, args: list[str]) -> None:
    package = tmp_path / "api/migrations"
    package.mkdir(parents=True)
    (package / "__init__.py").touch()
    os.mkfifo(package / "0001_initial.py")  # reading it would hang until the timeout
    status, out, err = migguard(tmp_path, *args)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("migguard: ") and "is not inside a git repository" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["0001_initial.py", "__init__.py", "api", "migrations"]


def test_check_path_outside_git_reads_that_folder(tmp_path: Path, seed: DjangoProject) -> None:
    import shutil

    shutil.copytree(seed.root / "api", tmp_path / "plain/api")
    status, out, _ = migguard(tmp_path, "check", "plain", "--format", "github")
    assert status == 1
    assert out.startswith("::error file=api/migrations/max_migration.txt,line=1::api/migrations/max_migration.txt is missing")


def test_paths_are_relative_to_the_repository_top(seed: DjangoProject) -> None:
    diverge(seed, [COUNTRY], [DISCIPLINE])
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    expected = "::error file=api/migrations/0003_person_discipline.py,line=1::app 'api' has 2 leaf migrations"
    for cwd, args in [(seed.root, ["check", "api"]), (seed.root / "api", ["check", "."]),
                      (seed.root / "api/migrations", ["check"]), (seed.root / "api", ["check", "--rev", "HEAD"]),
                      (seed.root / "api", ["check", "--rev", "HEAD", "."])]:
        status, out, _ = migguard(cwd, *args, "--format", "github")
        assert status == 1 and out.startswith(expected), (cwd, args, out)
    status, out, _ = migguard(seed.root / "api", "check", ".", "--format", "json")
    assert json.loads(out)["apps"][0]["path"] == "api/migrations"


def test_help_version_and_completion(seed: DjangoProject) -> None:
    status, out, _ = migguard(seed.root, "--help")
    commands = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert status == 0 and "hook" not in commands and "merge-driver" not in commands
    assert {"check", "ci", "fix", "lock", "install", "demo"} <= set(commands)
    assert "-V, --version" in out and "-q, --quiet" in out
    from migguard import __version__

    assert migguard(seed.root, "-V")[1] == f"migguard, version {__version__}\n"
    done = run(["migguard"], seed.root, check=False, env=clean_env(_MIGGUARD_COMPLETE="bash_source"))
    assert "_migguard_completion()" in done.stdout and "complete -o nosort -F _migguard_completion migguard" in done.stdout
    done = run(["migguard"], seed.root, check=False,
               env=clean_env(_MIGGUARD_COMPLETE="bash_complete", COMP_WORDS="migguard ch", COMP_CWORD="1"))
    assert done.stdout.split() == ["plain,check"]


def test_quiet_and_colour(seed: DjangoProject) -> None:
    migguard(seed.root, "lock")
    assert migguard(seed.root, "check") == (0, "ok: 1 app with migrations, one leaf each, lock files in step.\n", "")
    assert migguard(seed.root, "--quiet", "check") == (0, "", "")
    assert migguard(seed.root, "check", MIGGUARD_QUIET="1") == (0, "", "")
    assert migguard(seed.root, "-q", "lock") == (0, "", "")
    status, out, _ = migguard(seed.root, "check", FORCE_COLOR="1")
    assert status == 0 and out.startswith("\x1b[32m\x1b[1mok:\x1b[0m 1 app")
    assert migguard(seed.root, "check", FORCE_COLOR="1", NO_COLOR="1")[1].startswith("ok: 1 app")
    (seed.root / "api/migrations/max_migration.txt").write_text("0001_initial\n")
    status, out, _ = migguard(seed.root, "-q", "check")
    lines = out.splitlines()
    assert status == 1 and len(lines) == 2 and lines[1] == "1 problem in 1 app."
    assert lines[0].startswith("error: api/migrations/max_migration.txt names 0001_initial, but the leaf is 0002_prev")
    status, out, err = migguard(seed.root, "check", FORCE_COLOR="1")
    assert out.startswith("\x1b[31m\x1b[1merror:\x1b[0m api/migrations/max_migration.txt")
    status, _, err = migguard(seed.root, "graph", "nope", FORCE_COLOR="1")
    assert status == 2 and err.startswith("\x1b[31m\x1b[1mmigguard:\x1b[0m no app 'nope'")


def test_quiet_hooks_resolve_without_a_word(seed: DjangoProject) -> None:
    install(seed)
    diverge(seed, [COUNTRY], [DISCIPLINE])
    done = git(seed.root, "merge", "--no-edit", "feature", env=clean_env(MIGGUARD_QUIET="1"))
    assert migguard_lines(done) == []
    assert MERGE_FILE in head_files(seed)
    assert migguard(seed.root, "check")[0] == 0


BILLING_FIELD = "plan = models.CharField(max_length=20, default='')"


@pytest.fixture
def monorepo(tmp_path: Path) -> tuple[Path, DjangoProject, DjangoProject]:
    """Two Django projects in one repository, each with an app `users` (0001_initial, written by Django)."""
    top = tmp_path / "mono"
    projects = (DjangoProject(top / "backend"), DjangoProject(top / "services/billing"))
    for project in projects:
        project.add_app("users", person_models())
        project.makemigrations("users")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "two projects")
    return top, *projects  # type: ignore[return-value]


def test_monorepo_projects_are_label_namespaces(monorepo: tuple[Path, DjangoProject, DjangoProject]) -> None:
    top, backend, billing = monorepo
    status, out, _ = migguard(top, "check")
    assert status == 1 and "users/migrations both hold migrations " \
                            "of app 'users'" in out
    (top / "pyproject.toml").write_text('[tool.migguard]\nprojects = ["backend", "services/billing"]\n')
    status, out, _ = migguard(top, "lock")
    assert status == 0 and out.splitlines() == [
        "wrote backend/users/migrations/max_migration.txt: 0001_initial (was missing)",
        "wrote services/billing/users/migrations/max_migration.txt: 0001_initial (was missing)"]
    status, out, _ = migguard(top, "check")
    assert (status, out) == (0, "ok: 2 apps in 2 projects with migrations, one leaf each, lock files in step.\n")
    install(DjangoProject.open(top))
    for branch, field in (("feature", COUNTRY), ("main", DISCIPLINE)):
        git(top, "checkout", "-q", *(["-b"] if branch == "feature" else []), branch)
        for project in (backend, billing):
            project.models("users", person_models(top=(field,)) if branch == "feature" else person_models(field))
            project.makemigrations("users")
        git(top, "add", "-A")
        done = git(top, "commit", "-qm", f"{branch}: {field.split()[0]}")
        assert sorted(line.split()[1] for line in migguard_lines(done)) == [
            "backend/users/migrations/max_migration.txt", "services/billing/users/migrations/max_migration.txt"]
    status, out, _ = migguard(top, "check", "--rev", "feature")
    assert status == 0
    git(top, "-c", f"core.hooksPath={os.devnull}", "merge", "-q", "--no-edit", "-X", "ours", "feature")
    status, out, _ = migguard(top, "check", "--format", "json")
    result = json.loads(out)
    assert status == 1 and result["conflicts"] == ["backend:users", "services/billing:users"]
    assert result["projects"] == ["backend", "services/billing"]
    assert [(app["project"], app["app"]) for app in result["apps"]] == [("backend", "users"), ("services/billing", "users")]
    status, out, _ = migguard(top, "graph", "users")
    assert status == 2
    status, out, _ = migguard(top, "graph", "users", "--project", "services/billing")
    assert status == 0 and "0002_person_country  (leaf)  <- 0001_initial" in out
    status, out, _ = migguard(top, "fix", "--dry-run")
    assert status == 0 and "services/billing/users/migrations/0003_merge_0002_person_country_0002_person_discipline.py" in out
    git(top, "reset", "-q", "--hard", "HEAD^1")
    done = git(top, "merge", "--no-edit", "feature")
    wrote = [line for line in migguard_lines(done) if "wrote" in line]
    assert len(wrote) == 2 and "backend/users/migrations/0003_merge" in wrote[0] and "services/billing" in wrote[1]
    assert git(top, "status", "--porcelain").stdout == ""
    assert migguard(top, "check")[0] == 0 and migguard(top, "check", "--rev", "HEAD")[0] == 0
    for project in (backend, billing):
        assert_django_happy(project)


def test_monorepo_rebase_renumbers_in_the_right_project(monorepo: tuple[Path, DjangoProject, DjangoProject]) -> None:
    top, backend, billing = monorepo
    git(top.parent, "init", "-q", "--bare", "origin.git")
    git(top, "remote", "add", "origin", str(top.parent / "origin.git"))
    git(top, "push", "-q", "--no-verify", "origin", "main")  # the history from before migguard
    (top / "pyproject.toml").write_text('[tool.migguard]\nprojects = ["backend", "services/billing"]\n')
    install(DjangoProject.open(top))
    for branch, projects in (("feature", (billing,)), ("main", (backend, billing))):
        git(top, "checkout", "-q", *(["-b"] if branch == "feature" else []), branch)
        for project in projects:
            field = COUNTRY if branch == "feature" else DISCIPLINE
            project.models("users", person_models(top=(field,)) if branch == "feature" else person_models(field))
            project.makemigrations("users")
        git(top, "add", "-A")
        git(top, "commit", "-qm", branch)
    git(top, "checkout", "-q", "feature")
    done = git(top, "rebase", "main")
    assert any("users: renumbered after 0002_person_discipline: 0002_person_country -> 0003_person_country" in line
               for line in migguard_lines(done)), done.stderr
    assert any("folded into the rebased commits" in line for line in migguard_lines(done)), migguard_lines(done)
    assert git(top, "log", "--format=%s", "main..HEAD").stdout == "feature\n"
    listing = git(top, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()
    assert "services/billing/users/migrations/0003_person_country.py" in listing
    assert not [path for path in listing if path.startswith("backend/") and "person_country" in path]
    assert git(top, "status", "--porcelain").stdout == ""
    assert migguard(top, "check")[0] == 0 and migguard(top, "check", "--rev", "HEAD")[0] == 0
    pushed = git(top, "push", "origin", "main", "feature", check=False)  # through pre-push
    assert pushed.returncode == 0 and migguard_lines(pushed) == [], pushed.stderr
    assert_django_happy(billing)
