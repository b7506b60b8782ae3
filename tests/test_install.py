"""`migguard install`, `uninstall`, `status`: idempotent, chained, reversible, and safe when migguard is gone."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import DjangoProject, clean_env, diverge, git, run

from test_fix import COUNTRY, DISCIPLINE
from test_git_flows import head_files, install, migguard_lines


def migguard(cwd: Path, *args: str, check: bool = True):
    return run([sys.executable, "-m", "migguard", *args], cwd, check=check)


def snapshot(root: Path) -> dict[str, bytes]:
    git_dir = root / ".git"
    paths = [git_dir / "config", root / ".gitattributes", *sorted((git_dir / "hooks").iterdir())]
    return {str(p.relative_to(root)): p.read_bytes() for p in paths if p.is_file()}


def test_install_twice_changes_nothing_and_status_says_so(seed: DjangoProject) -> None:
    first = migguard(seed.root, "install").stdout
    assert "lock file api/migrations/max_migration.txt: created (0002_prev)" in first
    before = snapshot(seed.root)
    second = migguard(seed.root, "install").stdout
    assert snapshot(seed.root) == before
    assert "already" in second and "created" not in second
    status = migguard(seed.root, "status")
    assert status.returncode == 0
    assert status.stdout.splitlines() == [
        "hook post-merge: installed", "hook pre-commit: installed", "hook post-rewrite: installed",
        "hook pre-push: installed", "hook post-checkout: installed", "merge driver: configured",
        ".gitattributes: routes lock files to migguard"]
    assert (seed.root / ".gitattributes").read_text() == "**/max_migration.txt merge=migguard\n"


def test_existing_hook_is_chained_with_argv_and_stdin_and_restored(seed: DjangoProject, tmp_path: Path) -> None:
    hooks = seed.root / ".git/hooks"
    log = tmp_path / "hook.log"
    original = f'#!/bin/sh\necho "args: $*" >> {log}\ncat >> {log}\n'
    (hooks / "pre-push").write_text(original)
    (hooks / "pre-push").chmod(0o755)
    out = migguard(seed.root, "install").stdout
    assert "hook pre-push: installed (runs the earlier hook first, kept as pre-push.pre-migguard)" in out
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    git(seed.root, "remote", "add", "origin", str(tmp_path / "remote.git"))
    git(seed.root, "add", "-A")
    git(seed.root, "commit", "-qm", "install")
    git(seed.root, "push", "-q", "origin", "main")
    logged = log.read_text().splitlines()
    head = git(seed.root, "rev-parse", "HEAD").stdout.strip()
    assert logged == [f"args: origin {tmp_path / 'remote.git'}", f"refs/heads/main {head} refs/heads/main {'0' * 40}"]
    out = migguard(seed.root, "uninstall").stdout
    assert "hook pre-push: removed, earlier hook restored" in out
    assert (hooks / "pre-push").read_text() == original
    assert not (hooks / "pre-push.pre-migguard").exists()
    assert not (hooks / "post-merge").exists()
    assert git(seed.root, "config", "--get-regexp", "merge\\.migguard", check=False).stdout == ""
    assert "left as they are, tracked by git: .gitattributes" in out  # committed above: uninstall never changes tracked files
    status = migguard(seed.root, "status", check=False)
    assert status.returncode == 1 and "hook post-merge: missing" in status.stdout


def test_a_failing_earlier_pre_push_hook_still_refuses(seed: DjangoProject, tmp_path: Path) -> None:
    hooks = seed.root / ".git/hooks"
    (hooks / "pre-push").write_text("#!/bin/sh\necho 'policy says no' >&2\nexit 3\n")
    (hooks / "pre-push").chmod(0o755)
    install(seed)
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    refused = git(seed.root, "push", str(tmp_path / "remote.git"), "main", check=False)
    assert refused.returncode != 0 and "policy says no" in refused.stderr


def test_driver_and_hooks_when_migguard_is_gone(seed: DjangoProject, tmp_path: Path) -> None:
    migguard(seed.root, "install")
    for path in (seed.root / ".git/hooks").iterdir():
        path.write_text(path.read_text().replace(sys.executable, "/nonexistent/python"))
    git(seed.root, "config", "merge.migguard.driver",
        git(seed.root, "config", "merge.migguard.driver").stdout.strip().replace(sys.executable, "/nonexistent/python"))
    git(seed.root, "add", "-A")
    git(seed.root, "commit", "-qm", "install")
    diverge(seed, [COUNTRY], [DISCIPLINE])
    bare_path = "/usr/bin:/bin"
    merged = run(["git", "merge", "--no-edit", "feature"], seed.root, check=False, env=clean_env(PATH=bare_path))
    assert merged.returncode == 1
    assert "CONFLICT (content): Merge conflict in api/migrations/max_migration.txt" in merged.stdout
    lock = (seed.root / "api/migrations/max_migration.txt").read_text()
    assert lock.startswith("<<<<<<< ours\n0003_person_discipline\n=======\n0003_person_country\n>>>>>>> theirs")
    git(seed.root, "merge", "--abort")
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    refused = run(["git", "push", str(tmp_path / "remote.git"), "main"], seed.root, check=False, env=clean_env(PATH=bare_path))
    assert refused.returncode != 0
    assert "migguard: not installed (no /nonexistent/python, no migguard on PATH); the pre-push hook checked nothing." in refused.stderr
    assert "push with --no-verify to skip this check" in refused.stderr


def test_not_a_repository_and_no_migrations(tmp_path: Path) -> None:
    done = migguard(tmp_path, "install", check=False)
    assert done.returncode == 2 and done.stderr.strip() == f"migguard: {tmp_path} is not inside a git repository."
    git(tmp_path, "init", "-q")
    done = migguard(tmp_path, "install")
    assert "no Django migrations found here yet: the hooks wait for the first one." in done.stdout
    assert migguard(tmp_path, "check").stdout.strip() == "ok: 0 apps with migrations, one leaf each, lock files in step."


def test_lock_files_follow_new_migrations_on_commit(seed: DjangoProject) -> None:
    install(seed)
    from conftest import person_models

    seed.models("api", person_models("email = models.EmailField(blank=True)", COUNTRY))
    seed.makemigrations("api")
    git(seed.root, "add", "api")
    done = git(seed.root, "commit", "-m", "country")
    assert migguard_lines(done) == ["migguard: api/migrations/max_migration.txt -> 0003_person_country"]
    assert git(seed.root, "show", "HEAD:api/migrations/max_migration.txt").stdout == "0003_person_country\n"
    assert head_files(seed)[-1] == "0003_person_country.py"


def test_first_commit_of_a_new_repository_with_hooks(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "new")
    project.add_app("api", "from django.db import models\n\n\nclass Person(models.Model):\n    name = models.CharField(max_length=9)\n")
    project.makemigrations("api")
    git(project.root, "init", "-q", "-b", "main")
    migguard(project.root, "install")
    git(project.root, "add", "-A")
    done = git(project.root, "commit", "-m", "first")
    assert [line for line in migguard_lines(done) if "failed" in line] == []
    assert git(project.root, "show", "HEAD:api/migrations/max_migration.txt").stdout == "0001_initial\n"


def test_a_shim_with_a_terminal_on_stdin_does_not_wait_for_it(seed: DjangoProject) -> None:
    import os
    import subprocess

    migguard(seed.root, "install")
    leader, follower = os.openpty()
    try:
        done = subprocess.run(["sh", ".git/hooks/post-rewrite", "rebase"], cwd=seed.root, stdin=follower,
                              capture_output=True, text=True, timeout=20, env=clean_env())
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 0
