"""Inputs that used to end in a traceback: one sentence and an exit status instead, nothing lost."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import clean_env, git, run

from test_gate import TWO_LEAVES, app, commit, migration


def migguard(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "migguard", *args], cwd, check=False)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "api", app("api", "0001_initial"))
    return root


def assert_one_sentence(done: subprocess.CompletedProcess, status: int, phrase: str) -> None:
    assert done.returncode == status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and phrase in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("name, text, status, phrase", [
    ("setup.cfg", "[migguard]\nexclude =\n    100%_done/*\n    %(x)s\n", 0, "ok: 1 app"),
    ("pyproject.toml", 'tool = "migguard"\n', 2, "migguard: pyproject.toml: `tool` must be a table."),
    ("pyproject.toml", "[tool]\nmigguard = 1\n", 2, "migguard: [tool.migguard] in pyproject.toml must be a table, not int 1."),
    ("setup.cfg", "[migguard]\nexclude = a\n[migguard]\n", 2, "migguard: setup.cfg cannot be read (While reading from '<string>'"),
])
def test_configuration_files_that_used_to_raise(repository: Path, name: str, text: str, status: int, phrase: str) -> None:
    commit(repository, "configuration", {name: text})
    assert_one_sentence(migguard(repository, "check"), status, phrase)
    assert_one_sentence(migguard(repository, "check", "--rev", "HEAD"), status, phrase)


def test_configuration_that_is_not_a_regular_file(repository: Path) -> None:
    (repository / "pyproject.toml").symlink_to("/dev/zero")
    assert_one_sentence(migguard(repository, "check"), 2, "pyproject.toml is not a regular file")
    commit(repository, "link", {})
    assert_one_sentence(migguard(repository, "check", "--rev", "HEAD"), 2, "pyproject.toml is a symbolic link in this commit")
    (repository / "pyproject.toml").unlink()
    os.mkfifo(repository / "pyproject.toml")
    assert_one_sentence(migguard(repository, "check"), 2, "pyproject.toml is not a regular file")


def test_partial_clone_whose_remote_is_gone(repository: Path, tmp_path: Path) -> None:
    git(repository, "config", "uploadpack.allowfilter", "true")
    clone = tmp_path / "clone"
    git(tmp_path, "-c", "protocol.file.allow=always", "clone", "-q", "--filter=blob:none", "--no-checkout",
        f"file://{repository}", str(clone))
    shutil.rmtree(repository)
    assert_one_sentence(migguard(clone, "check", "--rev", "HEAD"), 2, "a partial clone needs its remote to fetch them")


def test_check_rev_from_a_subdirectory_covers_the_whole_repository(repository: Path) -> None:
    commit(repository, "two leaves and docs", {**TWO_LEAVES, "docs/index.txt": "docs\n"})
    docs = repository / "docs"
    for arguments in (["check"], ["check", "--rev", "HEAD"]):
        assert_one_sentence(migguard(docs, *arguments), 1, "app 'api' has 2 leaf migrations (0002_a, 0002_b)")
    assert migguard(docs, "check", ".", "--rev", "HEAD").stdout.startswith("ok: 0 apps")


def test_merge_driver_with_a_read_only_result_file_loses_nothing() -> None:
    """As a user who cannot write %A (run as `nobody` when the suite runs as root)."""
    scratch = Path(tempfile.mkdtemp(prefix="migguard-driver-"))
    try:
        for name, data in (("O", b"0002_prev\n"), ("A", b"0003_a\n"), ("B", b"0003_b\n")):
            (scratch / name).write_bytes(data)
        (scratch / "A").chmod(0o444)
        command = [sys.executable, "-m", "migguard", "merge-driver", "O", "A", "B", "api/migrations/max_migration.txt"]
        if os.geteuid() == 0:
            scratch.chmod(0o777)
            for path in scratch.iterdir():
                os.chown(path, 65534, 65534)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, env=clean_env())
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "migguard: cannot write the merged api/migrations/max_migration.txt (it is read-only); " \
               "git's own text merge decides instead" in done.stderr
        assert (scratch / "A").read_bytes() == b"0003_a\n"
        assert sorted(p.name for p in scratch.iterdir()) == ["A", "B", "O"]
    finally:
        shutil.rmtree(scratch)


def test_octopus_merge(tmp_path: Path) -> None:
    """git's octopus strategy merges files without merge drivers: a lock file both sides changed stops it
    before any hook runs, with nothing changed; without such a conflict post-merge resolves as usual."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "api", app("api", "0001_initial"))
    assert migguard(root, "install").returncode == 0
    commit(root, "install", {})
    for branch in ("a", "b", "c"):
        git(root, "checkout", "-q", "-b", branch, "main")
        commit(root, branch, {f"api/migrations/0002_{branch}.py": migration(("api", "0001_initial"))})
    git(root, "checkout", "-q", "main")
    before = git(root, "rev-parse", "HEAD").stdout
    stopped = git(root, "merge", "--no-edit", "a", "b", "c", check=False)
    assert stopped.returncode != 0 and "Should not be doing an octopus" in stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr and git(root, "rev-parse", "HEAD").stdout == before
    assert git(root, "status", "--porcelain").stdout == ""
    git(root, "rm", "-q", "api/migrations/max_migration.txt")
    commit(root, "lock files off", {"pyproject.toml": '[tool.migguard]\nlockfile = ""\n'})
    for branch in ("x", "y", "z"):
        git(root, "checkout", "-q", "-b", branch, "main")
        commit(root, branch, {f"api/migrations/0002_{branch}.py": migration(("api", "0001_initial"))})
    git(root, "checkout", "-q", "main")
    done = git(root, "merge", "--no-edit", "x", "y", "z")
    assert "merges 0002_x, 0002_y, 0002_z" in done.stderr
    assert len(git(root, "log", "-1", "--format=%P").stdout.split()) == 3
    assert migguard(root, "check", "--rev", "HEAD").stdout.startswith("ok:")
