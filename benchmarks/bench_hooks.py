"""What an installed hook with nothing to do costs, over Python's own start, in one run.

    python benchmarks/bench_hooks.py [--size 5000] [--runs 15]

Runs the real hook shims that `migguard install` writes, in a generated repository:
post-merge after a merge that touched no migration, after a fast-forward, post-checkout, and pre-push of a clean branch
(first push of that commit: cache cold; again: cache warm)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_check import generate  # noqa: E402

ENV = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=ENV).stdout.strip()


def median_ms(command: list[str], root: Path, runs: int, stdin: str = "", before: list[str] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before:
            subprocess.run(before, cwd=root, capture_output=True)
        start = time.perf_counter()
        subprocess.run(command, cwd=root, input=stdin, capture_output=True, text=True, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        generate(root, arguments.size)
        subprocess.run([sys.executable, "-m", "migguard", "install"], cwd=root, check=True, capture_output=True)
        git(root, "add", "-A")
        git(root, "commit", "-qm", "install")
        git(root, "checkout", "-qb", "docs")
        (root / "README.md").write_text("docs\n")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "docs")
        git(root, "checkout", "-q", "master")
        git(root, "-c", "core.hooksPath=/dev/null", "merge", "--no-ff", "--no-edit", "docs")
        (root / ".git/MERGE_HEAD").write_text(git(root, "rev-parse", "HEAD^2") + "\n")
        post_merge = median_ms(["sh", ".git/hooks/post-merge", "0"], root, arguments.runs)
        (root / ".git/MERGE_HEAD").unlink()
        git(root, "checkout", "-qb", "one-migration", "HEAD~1")
        (root / "app000/migrations/0101_extra.py").write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            "    dependencies = [('app000', '0100_item_f099')]\n    operations = []\n")
        git(root, "add", "-A")
        git(root, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "one migration")
        git(root, "checkout", "-q", "master")
        git(root, "-c", "core.hooksPath=/dev/null", "merge", "--no-ff", "--no-edit", "one-migration")
        (root / ".git/MERGE_HEAD").write_text(git(root, "rev-parse", "HEAD^2") + "\n")
        subprocess.run(["sh", ".git/hooks/post-merge", "0"], cwd=root, capture_output=True)
        post_merge_migration = median_ms(["sh", ".git/hooks/post-merge", "0"], root, arguments.runs)
        (root / ".git/MERGE_HEAD").unlink()
        git(root, "update-ref", "ORIG_HEAD", "HEAD~1")
        fast_forward = median_ms(["sh", ".git/hooks/post-merge", "0"], root, arguments.runs)
        checkout = median_ms(["sh", ".git/hooks/post-checkout", git(root, "rev-parse", "HEAD~1"),
                              git(root, "rev-parse", "HEAD"), "1"], root, arguments.runs)
        head = git(root, "rev-parse", "HEAD")
        push_stdin = f"refs/heads/master {head} refs/heads/master {'0' * 40}\n"
        python = median_ms([sys.executable, "-c", "pass"], root, arguments.runs)
        drop = ["rm", "-rf", ".git/migguard"]
        pre_push_cold = median_ms(["sh", ".git/hooks/pre-push", "origin", "x"], root, 5, push_stdin, before=drop)
        subprocess.run(["sh", ".git/hooks/pre-push", "origin", "x"], cwd=root, input=push_stdin, text=True, capture_output=True)
        pre_push_warm = median_ms(["sh", ".git/hooks/pre-push", "origin", "x"], root, arguments.runs, push_stdin)
        new_commit = ["sh", "-c", "date +%N > stamp && git add stamp && git -c core.hooksPath=/dev/null commit -qm stamp"]
        head_stdin = f"refs/heads/master HEAD refs/heads/master {'0' * 40}\n"
        pre_push_new = median_ms(["sh", ".git/hooks/pre-push", "origin", "x"], root, arguments.runs, head_stdin, before=new_commit)
    rows = [
        ("python -c pass", python),
        ("post-merge, no migration changed", post_merge),
        ("post-merge, one new migration, no conflict (cache warm)", post_merge_migration),
        ("post-merge after a fast-forward bringing a migration (cache warm)", fast_forward),
        ("post-checkout of a branch with a new migration (cache warm)", checkout),
        ("pre-push of a clean branch, cache warm", pre_push_warm),
        ("pre-push of a new commit (no migration changed)", pre_push_new),
        ("pre-push, every cache deleted", pre_push_cold),
    ]
    print(f"| hook ({arguments.size:,} migrations) | median | over Python's start |")
    print("|---|---|---|")
    for what, ms in rows:
        print(f"| {what} | {ms:.0f} ms | {'—' if what.startswith('python') else f'+{ms - python:.0f} ms'} |")


if __name__ == "__main__":
    main()
