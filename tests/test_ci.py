"""`migguard ci resolve` and `ci check` end to end: a bare repository stands in for the hosting site,
a pull request is a branch and its base, and the CI clone has never run `migguard install`."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import DjangoProject, diverge, git, run

from test_fix import COUNTRY, DISCIPLINE, assert_django_happy

MERGE = "0004_merge_0003_person_country_0003_person_discipline"


def migguard(cwd: Path, *args: str) -> tuple[int, str, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False)
    return done.returncode, done.stdout, done.stderr


def commit_lock(project: DjangoProject, branch: str) -> None:
    git(project.root, "checkout", "-q", branch)
    assert migguard(project.root, "lock")[0] == 0
    git(project.root, "commit", "-qam", f"{branch}: lock file")


@pytest.fixture(scope="session")
def pull_request_template(seed_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Once per session: `project` (the developer's clone) and `origin.git` (the host) with `main` and a
    pull request `feature` whose lock file conflicts with main's."""
    import shutil

    where = tmp_path_factory.mktemp("pull-request")
    shutil.copytree(seed_template, where / "project", symlinks=True)
    project = DjangoProject.open(where / "project")
    assert migguard(project.root, "lock")[0] == 0
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "lock files")
    diverge(project, [COUNTRY], [DISCIPLINE])
    commit_lock(project, "feature")
    commit_lock(project, "main")
    git(where, "init", "-q", "--bare", "origin.git")
    git(project.root, "push", "-q", str(where / "origin.git"), "main", "feature")
    return where


@pytest.fixture
def developer(pull_request_template: Path, tmp_path: Path) -> DjangoProject:
    import shutil

    for name in ("project", "origin.git"):
        shutil.copytree(pull_request_template / name, tmp_path / name, symlinks=True)
    return DjangoProject.open(tmp_path / "project")


@pytest.fixture
def host(developer: DjangoProject, tmp_path: Path) -> Path:
    return tmp_path / "origin.git"


def ci_clone(host: Path, tmp_path: Path, branch: str = "feature") -> Path:
    """What a CI job has: a fresh clone with the pull request's branch checked out, no migguard installed."""
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--branch", branch, str(host), str(clone))
    return clone


def merge_button_conflicts(host: Path, base: str, branch: str) -> bool:
    """What a hosting site's merge button does: a plain server-side merge, no driver, no hooks."""
    return git(host, "merge-tree", "--write-tree", base, branch, check=False).returncode != 0


def test_resolve_merges_the_base_and_pushes_a_mergeable_branch(host: Path, tmp_path: Path) -> None:
    assert merge_button_conflicts(host, "main", "feature")
    before = git(host, "rev-parse", "main", "feature").stdout.split()
    clone = ci_clone(host, tmp_path)
    status, out, err = migguard(clone, "ci", "resolve", "--base", "origin/main", "--push")
    assert status == 0, out + err
    assert f"api: wrote api/migrations/{MERGE}.py (merges 0003_person_country, 0003_person_discipline)" in out
    assert "pushed to origin feature." in out
    head = git(host, "rev-parse", "feature").stdout.strip()
    assert git(host, "log", "-1", "--format=%P", head).stdout.split() == before[::-1]
    assert git(host, "rev-parse", "main").stdout.strip() == before[0]
    assert not merge_button_conflicts(host, "main", "feature")
    assert git(host, "show", "feature:api/migrations/max_migration.txt").stdout == MERGE + "\n"
    assert migguard(host, "check", "--rev", "feature")[0] == 0
    assert git(clone, "status", "--porcelain").stdout == ""
    assert_django_happy(DjangoProject.open(clone))
    status, out, _ = migguard(clone, "ci", "resolve", "--base", "origin/main", "--push")
    assert (status, out.strip()) == (0, "nothing to do: feature already contains origin/main.")


def test_other_conflicts_are_named_and_nothing_changes(host: Path, tmp_path: Path, developer: DjangoProject) -> None:
    seed = developer
    for branch in ("feature", "main"):
        git(seed.root, "checkout", "-q", branch)
        (seed.root / "README").write_text(f"{branch}\n")
        git(seed.root, "add", "README")
        git(seed.root, "commit", "-qm", f"{branch}: readme")
    git(seed.root, "push", "-q", str(host), "main", "feature")
    before = git(host, "rev-parse", "feature").stdout
    clone = ci_clone(host, tmp_path)
    status, out, err = migguard(clone, "ci", "resolve", "--base", "origin/main", "--push")
    assert status == 1, out + err
    assert out.splitlines()[:2] == [
        "cannot resolve: merging origin/main into feature conflicts in files migguard does not resolve:", "  README"]
    assert git(host, "rev-parse", "feature").stdout == before
    assert git(clone, "status", "--porcelain").stdout == ""
    assert not (clone / ".git/MERGE_HEAD").exists()


def test_nothing_to_do_and_cannot_run(host: Path, tmp_path: Path) -> None:
    clone = ci_clone(host, tmp_path, "main")
    for branch, name in (("docs", "README"), ("main", "CHANGELOG")):
        git(clone, "checkout", "-q", "-B", branch, "origin/main")
        (clone / name).write_text(f"{branch}\n")
        git(clone, "add", name)
        git(clone, "commit", "-qm", name)
        git(clone, "push", "-q", "origin", branch)
    git(clone, "checkout", "-q", "docs")
    status, out, _ = migguard(clone, "ci", "resolve", "--base", "origin/main", "--push")
    assert (status, out.strip()) == (0, "nothing to do: docs merges origin/main without a migration conflict.")
    assert git(clone, "rev-parse", "HEAD").stdout == git(host, "rev-parse", "docs").stdout
    assert git(clone, "status", "--porcelain").stdout == ""
    status, _, err = migguard(clone, "ci", "resolve", "--base", "origin/nope")
    assert status == 2 and err.startswith("migguard: 'origin/nope' is not a commit in this repository")
    (clone / "README").write_text("edited\n")
    status, _, err = migguard(clone, "ci", "resolve", "--base", "origin/feature")
    assert (status, err.strip()) == (2, "migguard: the work tree has uncommitted changes; `ci resolve` needs a clean checkout.")


def test_ci_check_annotates_the_broken_merge(host: Path, tmp_path: Path) -> None:
    clone = ci_clone(host, tmp_path)
    git(clone, "merge", "-q", "--no-edit", "-X", "theirs", "origin/main")
    status, out, _ = migguard(clone, "ci", "check", "--format", "github")
    assert status == 1
    assert out.splitlines()[0].startswith(
        "::error file=api/migrations/0003_person_discipline.py,line=1::app 'api' has 2 leaf migrations")
    done = run([sys.executable, "-m", "migguard", "ci", "check"], clone, check=False,
               env=__import__("conftest").clean_env(GITHUB_ACTIONS="true"))
    assert done.returncode == 1 and done.stdout.startswith("::error file=api/migrations/")


def test_action_yml_wraps_both_commands() -> None:
    import yaml

    action = yaml.safe_load((Path(__file__).resolve().parent.parent / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    script = "\n".join(step.get("run", "") for step in action["runs"]["steps"])
    assert "-m migguard ci resolve" in script and "--base" in script and "-m migguard ci check" in script
    assert set(action["inputs"]) >= {"command", "base", "push"}


def run_action(clone: Path, inputs: dict[str, str], github: dict[str, str]):  # type: ignore[no-untyped-def]
    """Run action.yml's steps as GitHub's runner would (bash -e, the step's `env`, its `if`), in `clone`."""
    import re

    import yaml
    from conftest import clean_env

    action = yaml.safe_load((Path(__file__).resolve().parent.parent / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | inputs

    def value(term: str) -> str:
        scope, _, name = term.strip().partition(".")
        return values[name] if scope == "inputs" else github.get(name, "")

    def expression(text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: next((v for t in m[1].split("||") if (v := value(t))), ""), text)

    def condition(text: str) -> bool:
        left, operator, right = re.fullmatch(r"(\S+) (==|!=) '(.*)'", text.strip()).groups()  # type: ignore[union-attr]
        return (value(left) == right) == (operator == "==")

    done = None
    for step in action["runs"]["steps"]:
        if "if" in step and not condition(step["if"]):
            continue
        env = clean_env(**{key: expression(str(v)) for key, v in step.get("env", {}).items()})
        done = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], clone, check=False, env=env)
        if done.returncode != 0:
            break
    return done


def test_the_action_resolves_a_pull_request(host: Path, tmp_path: Path) -> None:
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", host.as_uri(), str(clone))  # actions/checkout
    assert git(clone, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    git(clone, "update-ref", "-d", "refs/remotes/origin/main")
    done = run_action(clone, {"command": "resolve", "install": "none", "python": sys.executable}, {"base_ref": "main"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pushed to origin feature." in done.stdout
    assert not merge_button_conflicts(host, "main", "feature")
    done = run_action(clone, {"command": "check", "install": "none", "python": sys.executable}, {})
    assert done.returncode == 0 and done.stdout.strip() == "ok: 1 app with migrations, one leaf each, lock files in step."


def test_a_refused_push_exits_one_and_says_why(host: Path, tmp_path: Path) -> None:
    hook = host / "hooks/pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git(host, "rev-parse", "feature").stdout
    clone = ci_clone(host, tmp_path)
    status, out, _ = migguard(clone, "ci", "resolve", "--base", "origin/main", "--push")
    assert status == 1 and out.splitlines()[-1].startswith("not pushed: origin refused feature (")
    assert git(host, "rev-parse", "feature").stdout == before
