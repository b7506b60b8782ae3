"""End to end: migguard installed, a developer types only git commands."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, diverge, diverge_models, git, person_models, run

from test_fix import CITY, COUNTRY, DISCIPLINE, MIGRATIONS, TEAM, assert_django_happy, files

BASE = "email = models.EmailField(blank=True)"


def migguard(cwd: Path, *args: str, check: bool = True) -> str:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=check)
    return done.stdout + done.stderr


def install(project: DjangoProject) -> None:
    migguard(project.root, "install")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "install migguard")


@pytest.fixture
def repo(seed: DjangoProject) -> DjangoProject:
    install(seed)
    return seed


def migguard_lines(done) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("migguard:")]


def head_files(project: DjangoProject, rev: str = "HEAD") -> list[str]:
    listing = git(project.root, "ls-tree", "--name-only", f"{rev}:api/migrations").stdout.split()
    return sorted(name for name in listing if name.endswith(".py") and name != "__init__.py")


def assert_clean_and_one_leaf(project: DjangoProject) -> None:
    assert git(project.root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    out = migguard(project.root, "check")
    assert out.startswith("ok:"), out
    assert migguard(project.root, "check", "--rev", "HEAD").startswith("ok:")
    assert_django_happy(project)


MERGE_FILE = "0004_merge_0003_person_country_0003_person_discipline.py"


def test_merge_resolves_inside_the_merge_commit(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    main_before = git(repo.root, "rev-parse", "HEAD").stdout.strip()
    feature = git(repo.root, "rev-parse", "feature").stdout.strip()
    done = git(repo.root, "merge", "--no-edit", "feature")
    assert migguard_lines(done)[-1].startswith(f"migguard: api: wrote api/migrations/{MERGE_FILE}")
    assert git(repo.root, "log", "-1", "--format=%P%n%s").stdout.split("\n")[:2] == [
        f"{main_before} {feature}", "Merge branch 'feature'"]
    assert MERGE_FILE in head_files(repo)
    assert git(repo.root, "show", "HEAD:api/migrations/max_migration.txt").stdout == MERGE_FILE[:-3] + "\n"
    assert git(repo.root, "rev-list", "--count", "HEAD").stdout.strip() == "5"
    assert_clean_and_one_leaf(repo)


def test_pull_resolves_too(repo: DjangoProject, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), "origin.git")
    git(repo.root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo.root, "fetch", "-q", "origin")
    git(repo.root, "branch", "-q", "--set-upstream-to=origin/main")
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "push", "-q", "origin", "feature:main")
    done = git(repo.root, "pull", "--no-rebase", "--no-edit", "-q")
    assert any("0004_merge_0003_person_country_0003_person_discipline" in line for line in migguard_lines(done))
    assert MERGE_FILE in head_files(repo)
    assert_clean_and_one_leaf(repo)


def conflicting_comment(project: DjangoProject, text: str) -> None:
    path = project.root / "api/models.py"
    path.write_text(f"# {text}\n" + path.read_text())


def diverge_with_models_conflict(project: DjangoProject) -> None:
    git(project.root, "checkout", "-q", "-b", "feature")
    project.models("api", person_models(BASE, top=(COUNTRY,)))
    conflicting_comment(project, "feature's note")
    project.makemigrations("api")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "feature")
    git(project.root, "checkout", "-q", "main")
    project.models("api", person_models(BASE, DISCIPLINE))
    conflicting_comment(project, "main's note")
    project.makemigrations("api")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "main")


def settle_models(project: DjangoProject) -> None:
    project.models("api", person_models(BASE, DISCIPLINE, top=(COUNTRY,)))
    git(project.root, "add", "api/models.py")


@pytest.mark.parametrize("conclude", [["commit", "--no-edit"], ["merge", "--continue"]])
def test_merge_stopped_by_another_conflict(repo: DjangoProject, conclude: list[str]) -> None:
    diverge_with_models_conflict(repo)
    stopped = git(repo.root, "merge", "--no-edit", "feature", check=False)
    assert stopped.returncode == 1 and "CONFLICT (content): Merge conflict in api/models.py" in stopped.stdout
    settle_models(repo)
    done = run(["git", *conclude], repo.root, env=clean_env(GIT_EDITOR="true"))
    assert any(f"api: wrote api/migrations/{MERGE_FILE}" in line for line in migguard_lines(done))
    assert MERGE_FILE in head_files(repo)
    assert len(git(repo.root, "log", "-1", "--format=%P").stdout.split()) == 2
    assert_clean_and_one_leaf(repo)


def test_merge_no_commit_then_commit(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "merge", "--no-commit", "--no-ff", "feature")
    git(repo.root, "commit", "--no-edit")
    assert MERGE_FILE in head_files(repo)
    assert_clean_and_one_leaf(repo)


def test_squash_merge_stages_the_resolution(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    done = git(repo.root, "merge", "--squash", "feature")
    assert any("staged for the squash commit" in line for line in migguard_lines(done))
    staged = git(repo.root, "diff", "--cached", "--name-only").stdout.split()
    assert f"api/migrations/{MERGE_FILE}" in staged and "api/migrations/max_migration.txt" in staged
    git(repo.root, "commit", "-qm", "squashed feature")
    assert_clean_and_one_leaf(repo)


def assert_bisectable(project: DjangoProject, onto: str) -> None:
    """Every commit the rebase wrote has one leaf per app and lock files in step: `check --rev` on each."""
    for sha in git(project.root, "rev-list", f"{onto}..HEAD").stdout.split():
        out = migguard(project.root, "check", "--rev", sha, check=False)
        assert out.startswith("ok:"), (sha, out)


def assert_rebased(project: DjangoProject, done, expected: list[str], onto: str) -> None:
    """The renumbering is folded into the rebased commits: same subjects, every commit one leaf."""
    assert head_files(project) == expected
    subjects = git(project.root, "log", "--format=%s", f"{onto}..HEAD").stdout.split("\n")
    assert not [subject for subject in subjects if "Renumber" in subject]
    assert git(project.root, "reflog", "-1", "--format=%gs").stdout.strip() == \
        "migguard: renumbered migrations folded into the rebased commits"
    assert len([line for line in migguard_lines(done) if "renumbered after" in line]) >= 1
    assert_bisectable(project, onto)
    assert_clean_and_one_leaf(project)


@pytest.mark.parametrize("ours, expected", [
    ([COUNTRY], ["0005_person_country.py"]),
    ([COUNTRY, CITY, "age = models.IntegerField(default=0)"],
     ["0005_person_country.py", "0006_person_city.py", "0007_person_age.py"]),
])
def test_rebase_renumbers_the_branch(repo: DjangoProject, ours: list[str], expected: list[str]) -> None:
    diverge(repo, ours, [DISCIPLINE, TEAM])
    onto = git(repo.root, "rev-parse", "main").stdout.strip()
    git(repo.root, "checkout", "-q", "feature")
    done = git(repo.root, "rebase", "main")
    upstream = ["0001_initial.py", "0002_prev.py", "0003_person_discipline.py", "0004_person_team.py"]
    assert_rebased(repo, done, upstream + expected, onto)
    first = (repo.root / MIGRATIONS / expected[0]).read_text()
    assert "('api', '0004_person_team')" in first


def test_rebase_with_migrations_in_two_apps(repo: DjangoProject) -> None:
    repo.add_app("shop", "from django.db import models\n\n\nclass Item(models.Model):\n    name = models.CharField(max_length=9)\n")
    repo.makemigrations("shop")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "shop")
    git(repo.root, "checkout", "-q", "-b", "feature")
    for field in ("size = models.IntegerField(default=0)",):
        repo.models("shop", f"from django.db import models\n\n\nclass Item(models.Model):\n    {field}\n    name = models.CharField(max_length=9)\n")
    repo.models("api", person_models(BASE, top=(COUNTRY,)))
    repo.makemigrations()
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "feature: two apps")
    git(repo.root, "checkout", "-q", "main")
    repo.models("shop", "from django.db import models\n\n\nclass Item(models.Model):\n    name = models.CharField(max_length=9)\n"
                        "    colour = models.CharField(max_length=9, default='')\n")
    repo.models("api", person_models(BASE, DISCIPLINE))
    repo.makemigrations()
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "main: two apps")
    git(repo.root, "checkout", "-q", "feature")
    done = git(repo.root, "rebase", "main")
    lines = migguard_lines(done)
    assert any(line.startswith("migguard: api: renumbered after 0003_person_discipline") for line in lines)
    assert any(line.startswith("migguard: shop: renumbered after 0002_item_colour: 0002_item_size -> 0003_item_size") for line in lines)
    assert_clean_and_one_leaf(repo)


def test_pull_rebase(repo: DjangoProject, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", "--bare", str(repo.root), "origin.git")
    git(repo.root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(repo.root, "fetch", "-q", "origin")
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "push", "-q", "origin", "main")
    git(repo.root, "checkout", "-q", "feature")
    git(repo.root, "branch", "-q", "--set-upstream-to=origin/main")
    done = git(repo.root, "pull", "--rebase", "-q")
    assert head_files(repo)[-1] == "0004_person_country.py"
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert_bisectable(repo, "origin/main")
    assert_clean_and_one_leaf(repo)


def test_rebase_stopped_by_a_conflict_then_continued(repo: DjangoProject) -> None:
    diverge_with_models_conflict(repo)
    git(repo.root, "checkout", "-q", "feature")
    stopped = git(repo.root, "rebase", "main", check=False)
    assert stopped.returncode != 0
    settle_models(repo)
    done = run(["git", "rebase", "--continue"], repo.root, env=clean_env(GIT_EDITOR="true"))
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert head_files(repo)[-1] == "0004_person_country.py"
    assert_clean_and_one_leaf(repo)


def test_interactive_rebase_with_fixup(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY, CITY], [DISCIPLINE])
    git(repo.root, "checkout", "-q", "feature")
    editor = "sed -i '2s/^pick/fixup/'"
    done = run(["git", "rebase", "-i", "main"], repo.root, env=clean_env(GIT_SEQUENCE_EDITOR=editor))
    assert git(repo.root, "rev-list", "--count", "main..HEAD").stdout.strip() == "1"
    assert head_files(repo)[-2:] == ["0004_person_country.py", "0005_person_city.py"]
    assert migguard_lines(done)
    assert_bisectable(repo, "main")
    assert_clean_and_one_leaf(repo)


def test_post_rewrite_without_stdin_behind_a_legacy_hook(repo: DjangoProject) -> None:
    hooks = repo.root / ".git/hooks"
    (hooks / "post-rewrite").rename(hooks / "post-rewrite.legacy")
    (hooks / "post-rewrite").write_text('#!/bin/sh\n"$(dirname "$0")/post-rewrite.legacy" "$@" < /dev/null\n')
    (hooks / "post-rewrite").chmod(0o755)
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "checkout", "-q", "feature")
    done = git(repo.root, "rebase", "main")
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert any("folded into the rebased commits" in line for line in migguard_lines(done))
    assert_bisectable(repo, "main")
    assert_clean_and_one_leaf(repo)


@pytest.fixture
def remote(repo: DjangoProject, tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(repo.root, "remote", "add", "origin", str(bare))
    git(repo.root, "push", "-q", "origin", "main")
    return bare


def test_bypassed_merge_is_refused_by_pre_push_until_fixed(repo: DjangoProject, remote: Path) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    bypass = git(repo.root, "-c", "core.hooksPath=/dev/null", "merge", "--no-edit", "feature")
    assert not [line for line in migguard_lines(bypass) if "wrote" in line]
    assert migguard(repo.root, "check", check=False).count("error:") == 1
    refused = git(repo.root, "push", "origin", "main", check=False)
    assert refused.returncode != 0
    message = "\n".join(migguard_lines(refused))
    assert "app 'api' has 2 leaf migrations (0003_person_country, 0003_person_discipline)" in message
    assert "run `migguard fix`" in message and "--no-verify" in message
    assert git(remote, "rev-parse", "main").stdout.strip() != git(repo.root, "rev-parse", "main").stdout.strip()
    assert migguard(repo.root, "fix").startswith("api: wrote")
    git(repo.root, "commit", "-q", "--amend", "--no-edit")  # every pushed commit must pass, not only the tip
    pushed = git(repo.root, "push", "origin", "main")
    assert migguard_lines(pushed) == []
    git(repo.root, "push", "-q", "origin", "feature")
    git(repo.root, "tag", "-a", "v1", "-m", "release")
    git(repo.root, "push", "-q", "origin", "v1")
    git(repo.root, "push", "-q", "origin", "--delete", "feature")
    assert_clean_and_one_leaf(repo)


def test_cherry_pick_resolves_nothing_behind_the_users_back(repo: DjangoProject, remote: Path) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    done = git(repo.root, "cherry-pick", "feature")
    assert [line for line in migguard_lines(done) if "wrote" in line or "renumbered" in line] == []
    assert sorted(files(repo)) == ["0001_initial.py", "0002_prev.py", "0003_person_country.py", "0003_person_discipline.py"]
    assert git(repo.root, "push", "origin", "main", check=False).returncode != 0


def test_overlap_is_left_to_the_user_and_push_refuses(repo: DjangoProject, remote: Path) -> None:
    diverge_models(repo, (person_models("email = models.EmailField(blank=True, max_length=200)"), "longer_email"),
                   (person_models("email = models.EmailField(blank=False)") + "\n\n# main\n", "required_email"))
    done = git(repo.root, "merge", "--no-edit", "-X", "ours", "feature")
    lines = "\n".join(migguard_lines(done))
    assert "api: not resolved: both sides change the same thing" in lines
    assert "AlterField(person.email) at api/migrations/0003_longer_email.py" in lines
    assert "NOT RESOLVED: api" in lines
    assert not [name for name in head_files(repo) if "_merge_" in name]
    assert git(repo.root, "push", "origin", "main", check=False).returncode != 0


def test_linked_worktree(repo: DjangoProject, tmp_path: Path) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "worktree", "add", "-q", str(tmp_path / "wt"), "feature")
    linked = DjangoProject.open(tmp_path / "wt")
    done = git(linked.root, "rebase", "main")
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert head_files(linked)[-1] == "0004_person_country.py"
    assert_clean_and_one_leaf(linked)
    git(repo.root, "merge", "--no-edit", "feature")
    assert_clean_and_one_leaf(repo)


def test_a_merge_in_a_linked_worktree_is_resolved_there(repo: DjangoProject, tmp_path: Path) -> None:
    """The hooks find MERGE_HEAD in the linked worktree's own git directory (`.git` there is a file)."""
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"), "main")
    linked = DjangoProject.open(tmp_path / "wt")
    git(linked.root, "merge", "--no-edit", "feature")
    assert MERGE_FILE in head_files(linked)
    assert_clean_and_one_leaf(linked)


def test_core_hooks_path(seed: DjangoProject) -> None:
    git(seed.root, "config", "core.hooksPath", ".githooks")
    install(seed)
    assert (seed.root / ".githooks/post-merge").exists()
    assert not (seed.root / ".git/hooks/post-merge").exists()
    diverge(seed, [COUNTRY], [DISCIPLINE])
    git(seed.root, "merge", "--no-edit", "feature")
    assert MERGE_FILE in head_files(seed)
    assert_clean_and_one_leaf(seed)


def test_quiet_when_idle_and_work_survives(repo: DjangoProject) -> None:
    git(repo.root, "checkout", "-q", "-b", "docs")
    (repo.root / "README.md").write_text("docs\n")
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "docs")
    git(repo.root, "checkout", "-q", "main")
    (repo.root / "notes.txt").write_text("untracked\n")
    (repo.root / "manage.py").write_text((repo.root / "manage.py").read_text() + "# local edit\n")
    done = git(repo.root, "merge", "--no-ff", "--no-edit", "docs")
    assert migguard_lines(done) == []
    assert (repo.root / "notes.txt").read_text() == "untracked\n"
    assert (repo.root / "manage.py").read_text().endswith("# local edit\n")
    git(repo.root, "checkout", "-q", "manage.py")
    (repo.root / "notes.txt").unlink()
    diverge(repo, [COUNTRY], [DISCIPLINE])
    git(repo.root, "checkout", "-q", "feature")
    (repo.root / "notes.txt").write_text("untracked\n")
    (repo.root / "manage.py").write_text((repo.root / "manage.py").read_text() + "# local edit\n")
    done = git(repo.root, "rebase", "--autostash", "main")
    assert any("0003_person_country -> 0004_person_country" in line for line in migguard_lines(done))
    assert (repo.root / "manage.py").read_text().endswith("# local edit\n")
    assert (repo.root / "notes.txt").read_text() == "untracked\n"
    assert head_files(repo)[-1] == "0004_person_country.py"


def test_uncommitted_migration_in_the_app_is_never_built_upon(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    stray = repo.root / MIGRATIONS / "0003_local_experiment.py"
    stray.write_text("from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
                     "    dependencies = [('api', '0002_prev')]\n    operations = []\n")
    done = git(repo.root, "merge", "--no-edit", "feature")
    assert any("api: not resolved: the work tree holds migrations that are not committed (0003_local_experiment)"
               in line for line in migguard_lines(done))
    assert not [name for name in head_files(repo) if "_merge_" in name]
    assert stray.exists()
    stray.unlink()
    assert migguard(repo.root, "fix").startswith("api: wrote")


def test_fix_resolves_a_lock_file_left_with_conflict_markers(repo: DjangoProject) -> None:
    diverge(repo, [COUNTRY], [DISCIPLINE])
    stopped = run(["git", "merge", "--no-edit", "feature"], repo.root, check=False, env=clean_env(MIGGUARD="0"))
    assert "CONFLICT (content): Merge conflict in api/migrations/max_migration.txt" in stopped.stdout
    assert "<<<<<<< ours" in (repo.root / MIGRATIONS / "max_migration.txt").read_text()
    out = migguard(repo.root, "fix")
    assert out.startswith(f"api: wrote api/migrations/{MERGE_FILE}")
    assert (repo.root / MIGRATIONS / "max_migration.txt").read_text() == MERGE_FILE[:-3] + "\n"
    git(repo.root, "commit", "--no-edit")
    assert_clean_and_one_leaf(repo)
