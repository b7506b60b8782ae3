"""The server gate under hostile pushes: a real bare repository, `migguard install --server`, real `git push`."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_env, git, run

GATE_SENTENCE = "every pushed commit must pass, not only the tip"


def migration(*dependencies: tuple[str, str], initial: bool = False, body: str = "") -> str:
    deps = "".join(f"        ({app!r}, {name!r}),\n" for app, name in dependencies)
    return (f"from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            f"{'    initial = True' + chr(10) if initial else ''}{body}"
            f"    dependencies = [\n{deps}    ]\n\n    operations = []\n")


def migguard(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "migguard", *args], cwd, check=check)


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(root: Path, message: str, files: dict[str, str | bytes]) -> str:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").stdout.strip()


def app(path: str, *names: str) -> dict[str, str | bytes]:
    """An app at `path`: a linear chain of migrations `names` and its lock file."""
    label = path.rsplit("/", 1)[-1]
    files: dict[str, str | bytes] = {f"{path}/__init__.py": "", f"{path}/migrations/__init__.py": ""}
    previous = None
    for name in names:
        files[f"{path}/migrations/{name}.py"] = migration(*([(label, previous)] if previous else []), initial=previous is None)
        previous = name
    files[f"{path}/migrations/max_migration.txt"] = f"{previous}\n"
    return files


TWO_LEAVES = {
    "api/migrations/0002_a.py": migration(("api", "0001_initial")),
    "api/migrations/0002_b.py": migration(("api", "0001_initial")),
    "api/migrations/max_migration.txt": "0002_a\n0002_b\n",
}


@pytest.fixture(scope="session")
def gate_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare server with the gate, and a clone whose main (app `api`, 0001, lock file) is on it."""
    base = tmp_path_factory.mktemp("gate")
    git(base, "init", "-q", "--bare", "server.git")
    assert "hook pre-receive: installed" in migguard(base / "server.git", "install", "--server").stdout
    work = base / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    commit(work, "api", app("api", "0001_initial"))
    git(work, "push", "-q", str(base / "server.git"), "main")
    return base


@pytest.fixture
def gate(gate_template: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(work tree, server) copies for one test."""
    shutil.copytree(gate_template, tmp_path / "gate", symlinks=True)
    return tmp_path / "gate" / "work", tmp_path / "gate" / "server.git"


def push(work: Path, server: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return git(work, "push", *args, str(server), "HEAD:refs/heads/main", check=False, env=env or clean_env())


def server_main(server: Path) -> str:
    return git(server, "rev-parse", "main").stdout.strip()


def assert_refused(done: subprocess.CompletedProcess, *phrases: str) -> None:
    assert done.returncode != 0, done.stderr
    assert "pre-receive hook declined" in done.stderr, done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    assert "--no-verify" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def assert_accepted(done: subprocess.CompletedProcess, work: Path, server: Path) -> None:
    assert done.returncode == 0, done.stderr
    assert server_main(server) == git(work, "rev-parse", "HEAD").stdout.strip()
    assert "migguard" not in done.stderr, done.stderr


@pytest.mark.parametrize("pyproject, reason", [
    ('[tool.migguard]\nmerge_strategy = "yolo"\n', "merge_strategy must be one of merge, renumber, not 'yolo'"),
    ('[tool.migguard]\nlock_file = "x.txt"\n', "has unknown keys: lock_file"),
    ('[tool.migguard\nexclude = ["*"]\n', "pyproject.toml is not valid TOML"),
    ('tool = "migguard"\n', "`tool` must be a table"),
    ('[tool]\nmigguard = 1\n', "[tool.migguard] in pyproject.toml must be a table"),
])
def test_a_configuration_the_gate_cannot_use_is_refused(gate: tuple[Path, Path], pyproject: str, reason: str) -> None:
    work, server = gate
    before = server_main(server)
    commit(work, "two leaves behind a broken configuration", {"pyproject.toml": pyproject, **TWO_LEAVES})
    assert_refused(push(work, server), "its configuration cannot be used", reason,
                   "app 'api' has 2 leaf migrations (0002_a, 0002_b)", GATE_SENTENCE)
    assert server_main(server) == before
    git(work, "reset", "-q", "--hard", "HEAD~1")
    commit(work, "only the broken configuration", {"pyproject.toml": pyproject})
    assert_refused(push(work, server), reason)


def test_migguard_0_in_the_pushers_environment_changes_nothing(gate: tuple[Path, Path]) -> None:
    work, server = gate
    commit(work, "two leaves", TWO_LEAVES)
    assert_refused(push(work, server, "--receive-pack=env MIGGUARD=0 git-receive-pack"), "app 'api' has 2 leaf migrations")
    done = git(work, "push", f"file://{server}", "HEAD:refs/heads/main", check=False, env=clean_env(MIGGUARD="0"))
    assert_refused(done, "app 'api' has 2 leaf migrations")
    # Nor does git config the pusher brings along: -c, GIT_CONFIG_*, a HOME of their choosing.
    (work.parent / "home").mkdir()
    (work.parent / "home" / ".gitconfig").write_text("[migguard]\n\texclude = *\n\ttimeout = 0.001\n")
    done = git(work, "-c", "migguard.lockfile=x.txt", "push", "--receive-pack=git -c migguard.exclude=* receive-pack",
               str(server), "HEAD:refs/heads/main", check=False,
               env=clean_env(HOME=str(work.parent / "home"), GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="migguard.maxfiles",
                             GIT_CONFIG_VALUE_0="0"))
    assert_refused(done, "app 'api' has 2 leaf migrations", "configuration of refs/heads/main at")


def test_settings_in_the_pushed_commit_never_narrow_the_gate(gate: tuple[Path, Path]) -> None:
    work, server = gate
    narrowing = '[tool.migguard]\nexclude = ["*", "api/*"]\nlockfile = ""\n'
    commit(work, "two leaves, excluded", {"pyproject.toml": narrowing, **TWO_LEAVES})
    assert_refused(push(work, server), "app 'api' has 2 leaf migrations", "configuration of refs/heads/main at")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    # A setting that is on the branch the server holds is trusted: first the setting, then what it excludes.
    assert_accepted(push(work, server), work, server)
    commit(work, "exclude legacy", {"pyproject.toml": '[tool.migguard]\nexclude = ["legacy/*"]\n'})
    assert_accepted(push(work, server), work, server)
    legacy = {f"legacy/{k}": v for k, v in {**app("shop", "0001_initial"), "shop/migrations/0002_x.py": migration(("shop", "0001_initial")),
                                            "shop/migrations/0002_y.py": migration(("shop", "0001_initial"))}.items()}
    commit(work, "legacy fixtures with two leaves", legacy)
    assert_accepted(push(work, server), work, server)
    # The server's own git config replaces the branch's configuration.
    git(server, "config", "migguard.exclude", "nothing/*")
    commit(work, "touch legacy", {"legacy/shop/migrations/0003_z.py": migration(("shop", "0002_x"))})
    assert_refused(push(work, server), "app 'shop' has 2 leaf migrations", "the repository's git config")


@pytest.mark.parametrize("folder", ["build/lib", "dist", "venv/lib/python3.11/site-packages", "node_modules/pkg", "site-packages"])
def test_folders_that_check_skips_are_reported(gate: tuple[Path, Path], folder: str) -> None:
    work, server = gate
    files = {f"{folder}/{k}": v for k, v in app("shop", "0001_initial").items()}
    if folder.startswith("venv"):
        files["venv/pyvenv.cfg"] = "home = /usr/bin\n"
    commit(work, f"an app under {folder}", files)
    assert migguard(work, "check", "--rev", "HEAD").returncode == 0
    assert_refused(push(work, server), f"{folder}/shop/migrations holds migrations in a folder `migguard check` skips")


def test_migrations_django_loads_but_migguard_cannot_read_are_refused(gate: tuple[Path, Path]) -> None:
    work, server = gate
    compiled = subprocess.run([sys.executable, "-c", "import marshal, sys, importlib.util; "
                               "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(compile('', 'x', 'exec')))"],
                              capture_output=True, check=True).stdout
    commit(work, "compiled leaf", {"api/migrations/0002_fast.pyc": compiled})
    assert_refused(push(work, server), "api/migrations/0002_fast.pyc is compiled code without its .py source")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    reassigned = migration(("api", "0001_initial")) + "\nMigration.dependencies = []\n"
    commit(work, "dependencies reassigned after the class", {"api/migrations/0002_x.py": reassigned,
                                                             "api/migrations/max_migration.txt": "0002_x\n"})
    assert_refused(push(work, server), "api/migrations/0002_x.py uses `Migration` after the class")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "shop").mkdir()
    (work / "shop" / "__init__.py").write_text("")
    (work / "shop" / "migrations").symlink_to("../api/migrations")
    commit(work, "symlinked migrations", {})
    assert_refused(push(work, server), "shop/migrations is a symlink in the commit: Django follows it")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "legacy").symlink_to("api")
    commit(work, "an app folder linked", {})
    assert_refused(push(work, server), "legacy is a symbolic link (to api) to a folder that holds migrations")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "pyproject.toml").symlink_to("/dev/zero")
    commit(work, "configuration through a link", {})
    started = time.monotonic()
    assert_refused(push(work, server), "pyproject.toml is a symbolic link in this commit")
    assert time.monotonic() - started < 20


def test_every_new_commit_is_checked_not_only_the_tip(gate: tuple[Path, Path], tmp_path: Path) -> None:
    work, server = gate
    broken = commit(work, "two leaves", TWO_LEAVES)
    commit(work, "merge them", {"api/migrations/0003_merge.py": migration(("api", "0002_a"), ("api", "0002_b")),
                                "api/migrations/max_migration.txt": "0003_merge\n"})
    assert migguard(work, "check", "--rev", "HEAD").returncode == 0
    assert_refused(push(work, server), f"refusing refs/heads/main ({broken[:10]}, one of 2 new commits, below the tip)",
                   "app 'api' has 2 leaf migrations")
    # pre-push says the same before anything leaves the machine.
    migguard(work, "install")
    git(tmp_path, "init", "-q", "--bare", "plain.git")
    refused = git(work, "push", str(tmp_path / "plain.git"), "main", check=False)
    assert refused.returncode != 0 and f"{broken[:10]}, one of 3 new commits, below the tip" in refused.stderr
    assert "--no-verify" in refused.stderr
    again = git(work, "push", str(tmp_path / "plain.git"), "main", check=False, env=clean_env(MIGGUARD="0"))
    assert again.returncode != 0 and "app 'api' has 2 leaf migrations" in again.stderr
    # One commit that is right from the start goes through.
    git(work, "reset", "-q", "--soft", "HEAD~2")
    git(work, "commit", "-qm", "two migrations and their merge")
    assert_accepted(push(work, server, "--no-verify"), work, server)


def fast_import(work: Path, count: int, migrations: bool) -> None:
    """`count` commits on main, each a new migration in a chain (or a change to a text file), in one `git fast-import`."""
    stream = []
    previous = "0001_initial"
    for number in range(2, count + 2):
        if migrations:
            name = f"{number:04d}_step"
            files = {f"api/migrations/{name}.py": migration(("api", previous)), "api/migrations/max_migration.txt": f"{name}\n"}
            previous = name
        else:
            files = {"notes.txt": f"note {number}\n"}
        stream.append(f"commit refs/heads/main\ncommitter Ada <ada@example.com> {1700000000 + number} +0000\n"
                      f"data 4\nstep\n{'from refs/heads/main^0' + chr(10) if number == 2 else ''}")
        for path, content in files.items():
            stream.append(f"M 100644 inline {path}\ndata {len(content.encode())}\n{content}\n")
    run(["git", "fast-import", "--quiet"], work, input="".join(stream))
    git(work, "reset", "-q", "--hard", "main")


def test_a_long_push_stays_cheap(gate: tuple[Path, Path]) -> None:
    work, server = gate
    fast_import(work, 300, migrations=False)
    started = time.monotonic()
    assert_accepted(push(work, server), work, server)
    elapsed = time.monotonic() - started
    assert elapsed < 30, elapsed


def test_bounds_refuse_with_a_sentence(gate: tuple[Path, Path]) -> None:
    work, server = gate
    huge = migration(("api", "0001_initial"), body="    initial = True\n" * 80_000)
    commit(work, "a 1.4 MB migration", {"api/migrations/0002_huge.py": huge, "api/migrations/max_migration.txt": "0002_huge\n"})
    started = time.monotonic()
    assert_refused(push(work, server), "api/migrations/0002_huge.py is larger than the gate reads (1,000,000 bytes")
    assert time.monotonic() - started < 20
    git(work, "reset", "-q", "--hard", "HEAD~1")
    git(server, "config", "migguard.maxFiles", "2")
    commit(work, "three migrations", {"api/migrations/0002_x.py": migration(("api", "0001_initial")),
                                      "api/migrations/0003_y.py": migration(("api", "0002_x")),
                                      "api/migrations/max_migration.txt": "0003_y\n"})
    assert_refused(push(work, server), "the commit holds 3 migration files, more than the gate reads (2")
    git(server, "config", "--unset", "migguard.maxFiles")
    git(work, "reset", "-q", "--hard", "HEAD~1")
    git(server, "config", "migguard.timeout", "0.5")
    fast_import(work, 150, migrations=True)
    started = time.monotonic()
    assert_refused(push(work, server), "checking it took longer than the gate allows (0.5 s")
    assert time.monotonic() - started < 20
    git(server, "config", "migguard.timeout", "900")  # a generous limit: the same push goes through, even on a busy machine
    assert_accepted(push(work, server), work, server)


def test_a_server_without_migguard_refuses_and_never_suggests_no_verify(gate: tuple[Path, Path]) -> None:
    work, server = gate
    shim = server / "hooks" / "pre-receive"
    shim.write_text(shim.read_text().replace(f"python={sys.executable}", "python=/nonexistent/python"))
    commit(work, "a change", {"notes.txt": "x\n"})
    done = push(work, server, env=clean_env(PATH="/usr/local/bin:/usr/bin:/bin"))
    assert_refused(done, "migguard: refusing the push until migguard is reinstalled on the server.")


def test_a_monorepo_is_checked_project_by_project(gate: tuple[Path, Path]) -> None:
    work, server = gate
    commit(work, "name the projects", {"pyproject.toml": '[tool.migguard]\nprojects = ["api", "one", "two"]\n'})
    assert_accepted(push(work, server), work, server)
    both = {f"{project}/{path}": data for project in ("one", "two") for path, data in app("users", "0001_initial").items()}
    commit(work, "two projects, each with its app users", both)
    assert_accepted(push(work, server), work, server)
    commit(work, "two leaves in one project", {"two/users/migrations/0002_a.py": migration(("users", "0001_initial")),
                                               "two/users/migrations/0002_b.py": migration(("users", "0001_initial"))})
    assert_refused(push(work, server), "has 2 leaf migrations (0002_a, 0002_b)")
