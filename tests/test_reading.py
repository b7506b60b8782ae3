"""Reading migration files: every file Python cannot import is reported with its line, the class
Python keeps is the one read, and only regular files inside the repository are read, within a bound."""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, git, run

from migguard import reader
from test_check_agrees_with_django import assert_agrees
from test_odd_shapes import EMPTY_MODELS, migration, write

NOBODY = 65534


def migguard(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False, env=env, timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def check(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    status, out = migguard(root, "check", "--format", "json", *args, env=env)
    assert status in (0, 1), out
    return status, json.loads(out)


def messages(result: dict) -> list[str]:
    return [f"{error['message']} ({error['path']}:{error['line']})" for error in result["errors"]]


def test_two_migration_classes_the_last_one_counts(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "twice")
    app = project.add_app("blog", EMPTY_MODELS)
    write(app, {
        "0001_initial": migration(),
        "0002_a": migration("[('blog', '0001_initial')]"),
        "0002_b": migration("[('blog', '0001_initial')]") + "\n\n" + migration("[('blog', '0002_a')]").split("\n", 2)[2],
    })
    result = assert_agrees(project)
    assert {app["app"]: app["leaves"] for app in result["apps"]} == {"blog": ["0002_b"]}
    status, cli = check(project.root, ".")
    assert status == 1 and [app["leaves"] for app in cli["apps"]] == [["0002_b"]]


BROKEN = {
    # A missing comma between two keyword arguments: the brackets still balance.
    "missing_comma": ("operations = [\n    migrations.AlterModelOptions(\n        name='thing'\n        options={},\n    ),\n]",
                      7, "is not valid Python (invalid syntax. Perhaps you forgot a comma?)"),
    "tuple_call": ("dependencies = [('{app}', '0001_initial') ('{app}', '0001_initial')]", 5,
                   "is not valid Python: it calls a tuple (a comma is missing?); Django's import raises TypeError"),
    "nul_in_reference": ("dependencies = [('{app}\\x00', '0001_initial')]", 5,
                         "names a migration with a NUL character in dependencies"),
    "deep_nesting": ("x = " + "-" * 100_000 + "1", 1, "nests too deeply to be read (Python may not import it either)"),
    "conflict_markers": ("<<<<<<< HEAD\ndependencies = []\n=======\ndependencies = [('{app}', '0001_initial')]\n>>>>>>> x", 5,
                         "holds git conflict markers"),
}
UNINDENTED = ("<<<<<<<", "=======", ">>>>>>>")


def broken_file(app: str, statement: str) -> str:
    body = "\n".join(line.strip() if line.strip().startswith(UNINDENTED) else line
                     for line in textwrap.indent(statement.replace("{app}", app), "    ").split("\n"))
    return f"from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n{body}\n    operations = []\n"


@pytest.fixture(scope="module")
def broken_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("broken") / "project"
    for app, (statement, _, _) in BROKEN.items():
        write(root / app, {"0001_initial": migration(), "0002_broken": broken_file(app, statement)})
        (root / app / "migrations/max_migration.txt").write_text("0002_broken\n")
    write(root / "reassigned", {
        "0001_initial": migration(),
        "0002_second": migration("[('reassigned', '0001_initial')]"),
        "0003_third": migration("[]") + "\nMigration.dependencies = [('reassigned', '0002_second')]\n",
    })
    (root / "reassigned/migrations/max_migration.txt").write_text("0003_third\n")
    write(root / "compiled", {"0001_initial": migration()})
    (root / "compiled/migrations/0002_fast.pyc").write_bytes(b"\x00" * 16)
    (root / "compiled/migrations/max_migration.txt").write_text("0001_initial\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "broken")
    return root


@pytest.mark.parametrize("where", ["worktree", "rev"])
def test_every_file_python_cannot_import_is_reported_with_its_line(broken_repository: Path, where: str) -> None:
    status, result = check(broken_repository, *(["--rev", "HEAD"] if where == "rev" else []))
    assert status == 1
    found = messages(result)
    for app, (_, line, message) in BROKEN.items():
        path = f"{app}/migrations/0002_broken.py"
        assert f"{path} {message} ({path}:{line})" in found, (app, found)
    reassigned = broken_repository / "reassigned/migrations/0003_third.py"
    line = reassigned.read_text().splitlines().index("Migration.dependencies = [('reassigned', '0002_second')]") + 1
    assert ("reassigned/migrations/0003_third.py uses `Migration` after the class (a change made there is invisible to "
            f"a static reader); set dependencies inside the class (reassigned/migrations/0003_third.py:{line})") in found
    assert any(m.startswith("compiled/migrations/0002_fast.pyc is compiled code without its .py source") for m in found)
    again_status, again = check(broken_repository, *(["--rev", "HEAD"] if where == "rev" else []))
    assert (again_status, again) == (status, result)


def test_a_balanced_syntax_error_never_leaves_through_pre_push(seed: DjangoProject, tmp_path: Path) -> None:
    root = seed.root
    assert migguard(root, "install")[0] == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "install")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(root, "push", "-q", "origin", "main")
    broken = broken_file("api", BROKEN["missing_comma"][0]).replace("class Migration(migrations.Migration):\n",
                                                                    "class Migration(migrations.Migration):\n"
                                                                    "    dependencies = [('api', '0002_prev')]\n")
    (root / "api/migrations/0003_options.py").write_text(broken)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "options")
    refused = git(root, "push", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "api/migrations/0003_options.py is not valid Python (invalid syntax. Perhaps you forgot a comma?)" in refused.stderr


def test_reading_is_linear(tmp_path: Path) -> None:
    head = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
    initial = head + "    initial = True\n" * 100_000 + "    dependencies = []\n    operations = []\n"
    pairs = head + "    dependencies = [\n" + "".join(f"        ('app{i % 50}', '{i:04d}_m{i}'),\n" for i in range(40_000)) + "    ]\n"
    for text, dependencies in ((initial, 0), (pairs, 40_000)):
        started = time.process_time()
        source = reader.read_graph_fields(text)
        assert time.process_time() - started < 1.5
        assert len(source.dependencies) == dependencies and not source.problems
    write(tmp_path / "shop", {"0001_initial": migration(),
                              "0002_wide": head + "    dependencies = [\n" + "".join(
                                  f"('shop', 'gone{i}'),\n" for i in range(40_000)) + "    ]\n"})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    status, result = check(tmp_path, ".")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert status == 1 and len(result["errors"]) == 40_001
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 6


@pytest.fixture
def odd_files(tmp_path: Path) -> Iterator[Path]:
    """A repository whose migrations package holds everything but regular files, in a folder nobody can search."""
    folder = Path(tempfile.mkdtemp(prefix="migguard-reading-"))
    folder.chmod(0o755)
    root = folder / "project"
    write(root / "shop", {"0001_initial": migration(), "0002_ok": migration("[('shop', '0001_initial')]")})
    git(root, "init", "-q", "-b", "main")
    package = root / "shop/migrations"
    (package / "max_migration.txt").write_text("0009_inside\n")
    os.mkfifo(package / "0003_fifo.py")
    (package / "0004_zero.py").symlink_to("/dev/zero")
    outside = folder / "outside.py"
    outside.write_text(migration("[('shop', '0002_ok')]"))
    (package / "0005_outside.py").symlink_to(outside)
    (package / "0006_dangling.py").symlink_to("0099_missing.py")
    (package / "0007_loop.py").symlink_to("0007_loop.py")
    (package / "0008_huge.py").write_text(migration("[('shop', '0002_ok')]") + "#" * 2_000_000 + "\n")
    (root / "shared").mkdir()
    (root / "shared/step.py").write_text(migration("[('shop', '0005_outside')]"))
    (package / "0009_inside.py").symlink_to("../../shared/step.py")
    yield root
    shutil.rmtree(folder)


def test_only_regular_files_inside_the_repository_are_read(odd_files: Path) -> None:
    started = time.monotonic()
    status, result = check(odd_files)
    assert time.monotonic() - started < 30
    assert status == 1
    found = messages(result)
    prefix = "shop/migrations/"
    for name, phrase in (("0003_fifo.py", "is a FIFO, not a regular file; not read"),
                         ("0004_zero.py", "is a symlink to /dev/zero, outside the repository; not read"),
                         ("0005_outside.py", f"is a symlink to {odd_files.parent / 'outside.py'}, outside the repository"),
                         ("0006_dangling.py", "is a dangling symlink (to 0099_missing.py)"),
                         ("0007_loop.py", "is a symlink loop"),
                         ("0008_huge.py", "bytes, over migguard's limit of 1,000,000; not read")):
        assert any(message.startswith(prefix + name + " ") and phrase in message for message in found), (name, found)
    assert [(app["app"], app["leaves"], app["lock"]) for app in result["apps"]] == [("shop", ["0009_inside"], "unchecked")]
    assert migguard(odd_files, "lock")[1].strip() == "lock files in step for 1 app."
    assert (odd_files / "shop/migrations/max_migration.txt").read_text() == "0009_inside\n"


def test_unreadable_files_and_folders_are_reported(odd_files: Path) -> None:
    root = odd_files
    for path in list((root / "shop/migrations").iterdir()):
        if path.name.startswith(("0003", "0004", "0005", "0006", "0007", "0008")):
            path.unlink()
    (root / "shop/migrations/0003_secret.py").write_text(migration("[('shop', '0009_inside')]"))
    (root / "shop/migrations/0003_secret.py").chmod(0o000)
    (root / "data").mkdir()
    (root / "data").chmod(0o000)
    command = [sys.executable, "-m", "migguard", "check", "--format", "json"]
    if os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    done = run(command, root, check=False, env=clean_env(HOME=str(root), GIT_CONFIG_COUNT="1",
                                                         GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    found = messages(json.loads(done.stdout))
    assert "shop/migrations/0003_secret.py cannot be read (Permission denied) (shop/migrations/0003_secret.py:1)" in found
    assert any(m.startswith("data cannot be listed (Permission denied)") for m in found), found
    assert json.loads(done.stdout)["apps"][0]["lock"] == "unchecked"


def test_many_virtualenv_folders_in_a_commit_are_linear(tmp_path: Path) -> None:
    """15,000 folders holding `pyvenv.cfg` (the gate once spent 257 s on them)."""
    root = tmp_path / "venvs"
    write(root / "shop", {"0001_initial": migration()})
    (root / "shop/migrations/max_migration.txt").write_text("0001_initial\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    blob = git(root, "hash-object", "-w", "--stdin", input="home = /usr/bin\n").stdout.strip()
    listing = "".join(f"100644 {blob}\tenv{index:05d}/sub/pyvenv.cfg\n" for index in range(15_000))
    git(root, "update-index", "--index-info", input=listing)
    git(root, "commit", "-qm", "many virtualenvs", "--no-verify")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    status, result = check(root, "--rev", "HEAD")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert status == 0 and [app["app"] for app in result["apps"]] == ["shop"]
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 5
