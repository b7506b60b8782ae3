"""`loose` reads HEAD and objects from disk as git wrote them, agreeing with git, and answers None (so the
caller asks git) for anything else: packed refs and objects after `git gc`, a moved GIT_DIR, a file that does not
hold the object its name says. The hooks' quick paths still keep a lock file in step after `git gc`."""
from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from conftest import clean_env, git
from migguard import loose, results

MIGRATION = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = {}\n    operations = []\n"


def rev(root: Path, name: str) -> str:
    return git(root, "rev-parse", name).stdout.strip()


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_head_commits_and_objects_are_read_as_git_reads_them(tmp_path: Path, object_format: str) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main", f"--object-format={object_format}")
    (root / "a.txt").write_text("one\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    first = rev(root, "HEAD")
    (root / "b").mkdir()
    (root / "b/c.txt").write_text("two\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "two")
    dirs = loose.git_dirs(str(root))
    assert dirs == (str(root / ".git"), str(root / ".git"))
    assert loose.head_commit(*dirs) == rev(root, "HEAD")
    assert loose.commit_tree(dirs[1], rev(root, "HEAD")) == (rev(root, "HEAD^{tree}"), first)
    assert loose.commit_tree(dirs[1], first) == (rev(root, "HEAD~1^{tree}"), None)
    tree = rev(root, "HEAD^{tree}")
    raw = subprocess.run(["git", "cat-file", "tree", tree], cwd=root, capture_output=True, env=clean_env()).stdout
    assert loose.read_object(dirs[1], tree) == ("tree", raw)

    git(root, "checkout", "-q", "--detach")
    assert loose.head_commit(*dirs) == rev(root, "HEAD")
    git(root, "checkout", "-q", "main")
    git(root, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"), first)
    linked = loose.git_dirs(str(tmp_path / "wt"))
    assert linked is not None and linked[1] == str(root / ".git") and linked[0] != linked[1]
    assert loose.head_commit(*linked) == first

    blob = rev(root, "HEAD:a.txt")  # a file that does not hold the object its name says is no answer
    path = root / ".git/objects" / blob[:2] / blob[2:]
    path.chmod(0o644)
    path.write_bytes(zlib.compress(b"blob 4\0two\n"))
    assert loose.read_object(dirs[1], blob) is None

    git(root, "gc", "-q")
    assert loose.read_object(dirs[1], tree) == ("tree", raw)  # read already by this process: its id names its bytes
    loose.READ.clear()  # as in a new process
    assert loose.head_commit(*dirs) is None and loose.read_object(dirs[1], tree) is None
    os.environ["GIT_DIR"] = str(root / ".git")
    try:
        assert loose.git_dirs(str(root)) is None
    finally:
        del os.environ["GIT_DIR"]


def test_a_commit_keeps_its_lock_file_in_step_with_everything_packed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    package = root / "shop/migrations"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "0001_initial.py").write_text(MIGRATION.format([]))
    (package / "max_migration.txt").write_text("0001_initial\n")
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "migguard", "install"], cwd=root, capture_output=True, env=clean_env(), check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "gc", "-q")
    (package / "0002_more.py").write_text(MIGRATION.format([("shop", "0001_initial")]))
    git(root, "add", "-A")
    git(root, "gc", "-q")  # the new blob packed too: git is asked for everything
    by_content = sorted(path.name for path in (root / ".git/migguard/results").iterdir() if "-k-content" in path.name)
    committed = git(root, "commit", "-qm", "more")
    assert sorted(path.name for path in (root / ".git/migguard/results").iterdir()
                  if "-k-content" in path.name) == by_content  # the quick path, not the full check
    assert "shop/migrations/max_migration.txt -> 0002_more" in committed.stderr
    assert git(root, "show", "HEAD:shop/migrations/max_migration.txt").stdout == "0002_more\n"
    assert results.load(root / ".git", rev(root, "HEAD^{tree}"), "") is not None
