"""Fast where it runs often: what a hook with nothing to do, `--help` and a repeated `check --rev` import
(`python -X importtime`), and `graph` and `fix` growing linearly with a chain's length."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env, git

from migguard import __version__, fixing, graph as graph_module, lockfile, results
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


def committed_chain(root: Path) -> Path:
    """A repository whose app `shop` holds 0001_initial and 0002_more, its lock file in step, committed."""
    write_chain(root, ["0001_initial", "0002_more"])
    (root / "shop/migrations/max_migration.txt").write_text(lockfile.content("0002_more"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "app")
    return root


def test_the_cached_work_tree_check_follows_every_change(tmp_path: Path) -> None:
    """The work tree's result is cached by blob id: a new file, an edit that keeps size and mtime,
    and a deletion each give the new answer at once."""
    root = committed_chain(tmp_path / "repo")

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


def modules(cwd: Path, *arguments: str, stdin: str = "") -> set[str]:
    """Every module `python -X importtime -m migguard ARGUMENTS` imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "migguard", *arguments], cwd=cwd, input=stdin,
                          capture_output=True, text=True, env=clean_env())
    return {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_a_push_with_nothing_to_check_passes_from_the_cache_and_anything_else_is_still_refused(tmp_path: Path) -> None:
    """pre-push answers a docs-only commit on top of the remote's tip without the full gate (it does not even
    import it); a new commit adding a second leaf, renaming an app's folder (its label with it), changing an
    AppConfig's label or the configuration is still refused by a real `git push`, as is a docs-only commit on a
    remote tip that cannot pass."""
    root, remote = tmp_path / "repo", tmp_path / "remote.git"
    write_chain(root, ["0001_initial", "0002_more"], app="api")
    write_chain(root, ["0001_initial"], app="billing")
    (root / "billing/apps.py").write_text(
        "from django.apps import AppConfig\n\n\nclass BillingConfig(AppConfig):\n    name = 'billing'\n    label = 'billing'\n")
    write_chain(root, ["0001_initial"], app="shop")
    (root / "vendor").mkdir()
    (root / "vendor/README.md").write_text("vendored apps\n")
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "migguard", "install"], cwd=root, capture_output=True, env=clean_env(), check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "apps")
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "origin", "main")  # the full gate: the remote's tip is checked and cached

    def push(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=root, capture_output=True, text=True,
                              env=clean_env(**extra))

    def attempt(message: str, change: object) -> subprocess.CompletedProcess[str]:
        git(root, "reset", "-q", "--hard", "origin/main")
        change()  # type: ignore[operator]
        git(root, "add", "-A")
        git(root, "-c", "core.hooksPath=/dev/null", "commit", "-qm", message)
        return push()

    tip = git(root, "rev-parse", "origin/main").stdout.strip()
    (root / "README.md").write_text("docs\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "docs")
    line = f"refs/heads/main {git(root, 'rev-parse', 'HEAD').stdout.strip()} refs/heads/main {tip}\n"
    loaded = modules(root, "hook", "pre-push", "origin", str(remote), stdin=line)
    assert "migguard.hooks.idle_push" in loaded and "migguard.hooks.gate" not in loaded, sorted(loaded)
    assert not {"subprocess", "typing", "signal", "hashlib", "pickle"} & loaded, sorted(loaded)
    done = push()
    assert done.returncode == 0, done.stderr
    (root / "README.md").write_text("more docs\n")
    git(root, "commit", "-qam", "more docs")
    assert push().returncode == 0  # on top of a tip the fast path itself accepted

    git(root, "checkout", "-qb", "feature")  # a new branch: its configuration is the remote HEAD's, else the defaults
    (root / "README.md").write_text("feature docs\n")
    git(root, "commit", "-qam", "feature docs")
    line = f"refs/heads/feature {git(root, 'rev-parse', 'HEAD').stdout.strip()} refs/heads/feature {'0' * 40}\n"
    git(root, "push", "-q", "origin", "HEAD:refs/heads/first")  # the full gate, once: it records the defaults
    assert "migguard.hooks.gate" not in modules(root, "hook", "pre-push", "origin", str(remote), stdin=line)
    (root / "api/migrations/0003_other.py").write_text(MIGRATION.format([("api", "0001_initial")]))
    git(root, "add", "-A")
    git(root, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "second leaf")
    done = subprocess.run(["git", "push", "-q", "origin", "feature"], cwd=root, capture_output=True, text=True,
                          env=clean_env())
    assert done.returncode != 0 and "every pushed commit must pass" in done.stderr, done.stderr
    git(root, "checkout", "-q", "main")

    refusals = {
        "second leaf": lambda: (root / "api/migrations/0003_other.py").write_text(
            MIGRATION.format([("api", "0001_initial")])),
        "app folder renamed": lambda: git(root, "mv", "shop", "vendor/api"),  # its label is now "api" too
        "label changed": lambda: (root / "billing/apps.py").write_text(
            (root / "billing/apps.py").read_text().replace("label = 'billing'", "label = 'api'")),
        "configuration": lambda: (root / "pyproject.toml").write_text('[tool.migguard.apps]\napi = "billing"\n'),
        "lock file": lambda: (root / "api/migrations/max_migration.txt").write_text("0001_initial\n"),
        "a virtualenv's marker": lambda: (root / "billing/pyvenv.cfg").write_text("home = /usr/bin\n"),  # check skips billing
    }
    for message, change in refusals.items():
        done = attempt(message, change)
        assert done.returncode != 0 and "every pushed commit must pass" in done.stderr, (message, done.stderr)
        done = push(MIGGUARD="0")
        assert done.returncode != 0, message  # nothing in the pusher's environment switches the gate off

    # a remote tip that cannot pass (pushed past the gate): a docs-only commit on it is refused, every time
    attempt("second leaf", refusals["second leaf"])
    git(root, "push", "-q", "--no-verify", "origin", "HEAD:main")
    for _ in range(2):
        done = attempt("docs", lambda: (root / "README.md").write_text("again\n"))
        assert done.returncode != 0 and "api" in done.stderr, done.stderr


def test_the_work_tree_check_is_answered_again_without_reading_until_anything_it_read_changes(tmp_path: Path) -> None:
    """A repeated `check` is answered from its snapshot (nothing but `os` and `marshal`: no discovery, no
    reader), and a new app, a renamed migration, a lock file edited to the same size and time, a changed
    configuration and a file replaced by a symbolic link each give the new answer at once."""
    root = committed_chain(tmp_path / "repo")
    ok = "ok: 1 app with migrations, one leaf each, lock files in step."

    def check() -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "migguard", "check"], cwd=root, capture_output=True, text=True,
                              env=clean_env())
        return done.returncode, done.stdout.splitlines()[-1]

    def settled() -> None:
        """Past the racy window: what was just written can be trusted by its signature, and a snapshot is kept."""
        time.sleep(2.1)
        check()

    settled()
    assert check() == (0, ok)
    loaded = modules(root, "check")
    assert "migguard.snapshot" in loaded and not {"migguard.project", "migguard.discovery", "migguard.reader"} & loaded
    assert not {"subprocess", "typing", "signal", "hashlib", "pickle", "click", "json"} & loaded, sorted(loaded)

    write_chain(root, ["0001_initial", "0002_more"], app="billing")  # a new app: a new folder at the top
    (root / "billing/migrations/max_migration.txt").write_text(lockfile.content("0002_more"))
    assert check() == (0, "ok: 2 apps with migrations, one leaf each, lock files in step.")
    settled()
    package = root / "shop/migrations"
    (package / "0002_more.py").rename(package / "0002_renamed.py")
    assert check()[0] == 1  # the lock file names 0002_more
    (package / "0002_renamed.py").rename(package / "0002_more.py")
    settled()
    assert check() == (0, "ok: 2 apps with migrations, one leaf each, lock files in step.")
    lock = package / "max_migration.txt"
    status = lock.stat()
    lock.write_text(lock.read_text().replace("0002_more", "0002_mor_"))
    os.utime(lock, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert check()[0] == 1
    lock.write_text(lockfile.content("0002_more"))
    settled()
    (root / "pyproject.toml").write_text('[tool.migguard]\nexclude = ["billing"]\n')
    assert check() == (0, ok)
    (root / "pyproject.toml").unlink()
    settled()

    def in_colour() -> int:  # click answers (colours), through the same snapshot
        return subprocess.run([sys.executable, "-m", "migguard", "check"], cwd=root, capture_output=True,
                              env=clean_env(FORCE_COLOR="1")).returncode

    assert in_colour() == 0
    lock.write_text(lock.read_text().replace("0002_more", "0002_mor_"))
    os.utime(lock, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert in_colour() == 1
    lock.write_text(lockfile.content("0002_more"))
    settled()
    second = package / "0002_more.py"
    (tmp_path / "elsewhere.py").write_text(second.read_text())
    second.unlink()
    second.symlink_to(tmp_path / "elsewhere.py")
    assert check()[0] != 0


def hook_modules(output: str) -> set[str]:
    """The modules the hook processes of a git command imported (run with PYTHONPROFILEIMPORTTIME=1)."""
    return {line.rpartition("|")[2].strip() for line in output.splitlines() if line.startswith("import time:")}


def test_a_merge_bringing_a_migration_and_a_commit_adding_one_import_no_reader(tmp_path: Path) -> None:
    """The two common hooks with work to do (`hooks.quick`): after `migguard install`, a real `git merge` that
    brings a migration and a real `git commit` that adds one (its lock file kept in step) import neither the
    full reader (`ast`, `re`, `typing`) nor pathlib, and still do their job."""
    root = committed_chain(tmp_path / "repo")
    subprocess.run([sys.executable, "-m", "migguard", "install"], cwd=root, capture_output=True, env=clean_env(), check=True)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "install")
    git(root, "checkout", "-qb", "feature")
    (root / "shop/migrations/0003_feature.py").write_text(MIGRATION.format([("shop", "0002_more")]))
    (root / "shop/migrations/max_migration.txt").write_text(lockfile.content("0003_feature"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature", "--no-verify")
    git(root, "checkout", "-q", "-")
    (root / "README.md").write_text("docs\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "docs")
    profiled = clean_env(PYTHONPROFILEIMPORTTIME="1")
    started = subprocess.run([sys.executable, "-c", "pass"], capture_output=True, text=True, env=profiled).stderr
    unwanted = {"ast", "re", "typing", "pathlib", "migguard.reader", "migguard.hooks.runner"} - hook_modules(started)
    assert {"migguard.reader", "migguard.hooks.runner"} <= unwanted  # an editable install's finder imports re and pathlib

    merged = git(root, "merge", "--no-edit", "feature", env=profiled)
    assert "migguard.hooks.quick" in hook_modules(merged.stderr) and not hook_modules(merged.stderr) & unwanted
    assert "several leaf" not in merged.stderr
    (root / "shop/migrations/0004_next.py").write_text(MIGRATION.format([("shop", "0003_feature")]))
    git(root, "add", "shop/migrations/0004_next.py")
    trace = tmp_path / "trace"  # what every git process started, the hook's own included
    committed = git(root, "commit", "-qm", "next", env={**profiled, "GIT_TRACE": str(trace)})
    assert "migguard.hooks.quick" in hook_modules(committed.stderr) and not hook_modules(committed.stderr) & unwanted
    started = [line.split("git ", 1)[1].split()[0] for line in trace.read_text().splitlines() if "built-in: git " in line]
    assert started[:2] == ["commit", "update-index"] and "diff-index" not in started, started  # `indextree` read it
    assert "shop/migrations/max_migration.txt -> 0004_next" in committed.stderr
    assert git(root, "show", "HEAD:shop/migrations/max_migration.txt").stdout == "0004_next\n"
    assert git(root, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("before", ["", "sys.stdout.close()"])
def test_a_quick_answer_ends_its_process_as_python_would_with_its_output_flushed(tmp_path: Path, before: str) -> None:
    """A hook answered quickly skips the interpreter's teardown (`idle.exit_now`), yet what it wrote to pipes
    (block-buffered) reaches git, and it ends as Python's own exit would."""
    def ended(how: str) -> tuple[int, str, str]:
        script = f"import sys\nprint('kept')\nsys.stderr.write('also kept')\n{before}\n{how}"
        environment = {name: value for name, value in clean_env().items() if name != "PYTHONUNBUFFERED"}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, cwd=tmp_path)
        return done.returncode, done.stdout, done.stderr

    quick = ended("from migguard.hooks.idle import exit_now\nexit_now(0)")
    assert quick == ended("sys.exit(0)")
    assert quick == (0, "kept\n", "also kept")


def test_the_results_cache_keeps_the_newest_and_stays_bounded(tmp_path: Path) -> None:
    """Stores look for stale files only now and then (listing the folder costs a commit's hook), yet the cache
    never holds much more than RESULTS_KEPT + RESULTS_SLACK results, and the newest stay readable."""
    common = tmp_path / ".git"
    keys = [hashlib.sha1(str(number).encode()).hexdigest() for number in range(600)]
    counts = []
    for key in keys:
        results.store(common, key, "", {"version": results.SCHEMA_VERSION, "key": key})
        counts.append(len(os.listdir(results.directory(common))))
    assert max(counts) <= results.RESULTS_KEPT + results.RESULTS_SLACK + 32, max(counts)
    assert min(counts[200:]) >= results.RESULTS_KEPT
    assert all(results.load(common, key, "") == {"version": results.SCHEMA_VERSION, "key": key} for key in keys[-results.RESULTS_KEPT:])
    assert results.load(common, keys[0], "") is None
