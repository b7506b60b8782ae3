"""Fast where it runs often: what a hook with nothing to do, `--help` and a repeated `check --rev` import
(`python -X importtime`), and `graph` and `fix` growing linearly with a chain's length."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import clean_env, git

from migguard import __version__, fixing, graph as graph_module, lockfile
from migguard.project import load_worktree

HEAVY = {"libcst", "git", "django", "click"}
MIGRATION = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = {}\n    operations = []\n"


def imported(cwd: Path, *arguments: str, stdin: str = "") -> set[str]:
    """The top-level packages `python -X importtime -m migguard ARGUMENTS` imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "migguard", *arguments], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=clean_env())
    names = {line.rpartition("|")[2].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:")}
    assert "migguard" in names, done.stderr
    return names


def write_chain(root: Path, names: list[str], app: str = "shop") -> None:
    package = root / app / "migrations"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    for index, name in enumerate(names):
        parent = [(app, names[index - 1])] if index else []
        (package / f"{name}.py").write_text(MIGRATION.format(parent))


def test_hooks_with_nothing_to_do_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    root, remote = tmp_path / "repo", tmp_path / "remote.git"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_chain(root, ["0001_initial", "0002_more"])
    git(root, "add", "-A")
    git(root, "commit", "-qm", "app")
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "main")
    git(root, "checkout", "-qb", "docs")
    (root / "README.md").write_text("docs\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "docs")
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "--no-edit", "docs")
    head, before = git(root, "rev-parse", "HEAD").stdout.strip(), git(root, "rev-parse", "HEAD^1").stdout.strip()
    (root / ".git/MERGE_HEAD").write_text(git(root, "rev-parse", "HEAD^2").stdout.strip() + "\n")
    assert not imported(root, "hook", "post-merge", "0") & (HEAVY | {"subprocess"})
    (root / ".git/MERGE_HEAD").unlink()
    assert not imported(root, "hook", "post-checkout", before, head, "1") & (HEAVY | {"subprocess"})
    assert not imported(root, "hook", "post-rewrite", "amend") & (HEAVY | {"subprocess"})
    (root / "README.md").write_text("more docs\n")
    git(root, "add", "README.md")
    assert not imported(root, "hook", "pre-commit") & (HEAVY | {"subprocess"})
    push = f"refs/heads/main {head} refs/heads/main {git(root, 'rev-parse', 'origin/main').stdout.strip()}\n"
    assert not imported(root, "hook", "pre-push", "origin", str(remote), stdin=push) & HEAVY
    assert not imported(root, "--help") & (HEAVY - {"click"})
    subprocess.run([sys.executable, "-m", "migguard", "check", "--rev", "HEAD"], cwd=root, capture_output=True, env=clean_env())
    assert not imported(root, "check", "--rev", "HEAD") & HEAVY  # answered from the cache


def cpu_seconds(work: object) -> float:
    """The least CPU time of three runs of `work()`."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        work()  # type: ignore[operator]
        best = min(best, time.process_time() - start)
    return best


def test_graph_and_fix_grow_linearly_with_a_chain(tmp_path: Path) -> None:
    """A chain twice as long costs about twice as much (an O(n²) step would make it four times)."""
    costs = {}
    for length in (2_500, 5_000):
        root = tmp_path / str(length)
        names = [f"{number:04d}_step" for number in range(1, length + 1)]
        write_chain(root, names)
        (root / "shop/migrations/9999_other.py").write_text(MIGRATION.format([("shop", names[-2])]))

        def work(root: Path = root, length: int = length) -> None:
            project = load_worktree(root, full=True)
            assert len(graph_module.topological(project.graph, set(project.graph.app_nodes("shop")))) == length + 1
            result = fixing.fix(str(root), "merge", dry_run=True, project=project)
            assert result.status == 0 and len(result.plans) == 1, result.lines

        costs[length] = cpu_seconds(work)
    assert costs[5_000] / costs[2_500] < 3, costs


def test_the_cached_work_tree_check_follows_every_change(tmp_path: Path) -> None:
    """The work tree's result is cached by blob id: a new file, an edit that keeps size and mtime,
    and a deletion each give the new answer at once."""
    root = tmp_path / "repo"
    write_chain(root, ["0001_initial", "0002_more"])
    (root / "shop/migrations/max_migration.txt").write_text(lockfile.content("0002_more"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "app")

    def check() -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "migguard", "check"], cwd=root, capture_output=True, text=True,
                              env=clean_env())
        return done.returncode, done.stdout.splitlines()[-1]

    package = root / "shop/migrations"
    old = time.time() - 60
    assert check() == (0, "ok: 1 app with migrations, one leaf each, lock files in step.")
    time.sleep(2.1)  # a file changed within 2 s of being read is read again (git's racy-clean rule)
    assert check() == check() == (0, "ok: 1 app with migrations, one leaf each, lock files in step.")
    assert any(path.name.startswith(f"{__version__}-k-worktree.")
               for path in (root / ".git/migguard/results").iterdir())
    (package / "0003_other.py").write_text(MIGRATION.format([("shop", "0001_initial")]))
    assert check() == (1, "1 problem in 1 app.")
    (package / "0003_other.py").unlink()
    assert check()[0] == 0
    second = package / "0002_more.py"
    text = second.read_text()
    second.write_text(text.replace("'0001_initial'", "'0001_initiaX'"))  # same size, same mtime below
    os.utime(second, (old, old))
    done = subprocess.run([sys.executable, "-m", "migguard", "check"], cwd=root, capture_output=True, text=True,
                          env=clean_env())
    assert done.returncode == 1 and "depends on shop.0001_initiaX, which does not exist" in done.stdout
