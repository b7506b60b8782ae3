"""Installing migguard as people do: pip's own resolution never touches a project's Django, the
sdist carries its tests, and the hooks and the driver run for a virtualenv without Django, a
`pip install --user`, pipx and a system Python."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import DjangoProject, clean_env, diverge, git, person_models, run

from django_sdist import installed_django_version
from test_fix import COUNTRY, DISCIPLINE
from test_git_flows import BASE, MERGE_FILE, head_files

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(sys.executable).parent
SOURCE = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", ".pre-commit-hooks.yaml",
          "migguard", "hooks", "installer", "mergedriver", "tests", "benchmarks")
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
OLDEST_PRE_COMMIT = "3.2.0"


def copy_source(destination: Path) -> Path:
    """The files that make the project (what a checkout or the sdist holds), build output left out."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.exists():
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def pip(*args: str, python: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """This venv's pip working on another interpreter (`pip --python`), with pip's own resolution."""
    environment = env or clean_env()
    environment.update(PIP_CACHE_DIR=PIP_CACHE, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return run([sys.executable, "-m", "pip", "--python", str(python), *args, "-q"], Path.cwd(), env=environment)


def new_venv(path: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", str(path)], path.parent)
    return path / "bin" / "python"


def installed_version(python: Path, distribution: str) -> str | None:
    code = ("import importlib.metadata as m, sys\ntry: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: print('none')")
    found = run([str(python), "-c", code, distribution], Path.cwd()).stdout.strip()
    return None if found == "none" else found


def system_python(destination: Path) -> Path:
    """A Python installation of its own (not a venv): this interpreter's base with an empty site-packages."""
    base = Path(sys.base_prefix)
    library = base / "lib" / f"python{VERSION}"
    executable = destination / "bin" / f"python{VERSION}"
    executable.parent.mkdir(parents=True)
    shutil.copy2(os.path.realpath(base / "bin" / f"python{VERSION}"), executable)
    shutil.copytree(library, destination / "lib" / f"python{VERSION}", symlinks=True, ignore=shutil.ignore_patterns(
        "site-packages", "test", "__pycache__", "idlelib", "tkinter", "turtledemo"))
    (destination / "lib" / f"python{VERSION}" / "site-packages").mkdir()
    return executable


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built as `python -m build` does: the wheel is built from the unpacked sdist."""
    work = tmp_path_factory.mktemp("dist")
    source = copy_source(work / "source")
    run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)], work,
        env=clean_env(PIP_CACHE_DIR=PIP_CACHE, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    (sdist,) = (work / "dist").glob("migguard-*.tar.gz")
    (wheel,) = (work / "dist").glob("migguard-*.whl")
    return sdist, wheel


@pytest.fixture(scope="session")
def wheel(distributions: tuple[Path, Path]) -> Path:
    return distributions[1]


def test_the_sdist_runs_its_tests_and_the_wheel_holds_every_package(distributions: tuple[Path, Path], tmp_path: Path) -> None:
    sdist, wheel = distributions
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") else archive.extractall(tmp_path)
    (unpacked,) = tmp_path.glob("migguard-*")
    for name in ("LICENSE", ".pre-commit-hooks.yaml", "pyproject.toml", "README.md"):
        assert (unpacked / name).is_file(), f"{name} missing from the sdist"
    tests = sorted(path.name for path in (ROOT / "tests").glob("*.py"))
    assert sorted(path.name for path in (unpacked / "tests").glob("*.py")) == tests
    assert not list(unpacked.rglob("__pycache__"))
    done = run([str(TOOLS / "pytest"), "-q", "-p", "no:cacheprovider", "tests/test_merge_driver.py"], unpacked, check=False)
    assert done.returncode == 0 and " passed" in done.stdout, done.stdout[-2000:]

    names = zipfile.ZipFile(wheel).namelist()
    packages = {path.parent for path in ROOT.glob("migguard/**/__init__.py")}
    packages |= {ROOT / name for name in ("hooks", "installer", "mergedriver")}
    for package in packages:
        relative = package.relative_to(ROOT).as_posix()
        installed = relative if relative.startswith("migguard") else f"migguard/{relative}"
        modules = sorted(f"{installed}/{path.name}" for path in package.glob("*.py"))
        assert set(modules) <= set(names), f"{relative}: {sorted(set(modules) - set(names))} missing from the wheel"
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text
    requires = [line for line in text.splitlines() if line.startswith("Requires-Dist:")]
    assert [line for line in requires if "django" in line.lower() and "extra ==" not in line] == []
    assert "Requires-Dist: django>=4.2; extra == \"demo\"" in requires
    assert f"Programming Language :: Python :: {VERSION}" in text


@pytest.mark.parametrize("django", ["django==4.2.*", "django"], ids=["django-4.2", "newest-django"])
def test_installing_migguard_keeps_the_projects_django(wheel: Path, tmp_path: Path, django: str) -> None:
    python = new_venv(tmp_path / "project-venv")
    pip("install", django, python=python)
    before = installed_version(python, "django")
    assert before is not None and (before.startswith("4.2.") or django == "django")
    pip("install", str(wheel), python=python)
    assert installed_version(python, "django") == before
    assert installed_version(python, "migguard") is not None


def assert_hooks_driver_check_and_fix_work(project: DjangoProject, migguard: Path, tmp_path: Path,
                                           env: dict[str, str]) -> None:
    """With this migguard installed: install, a merge resolved by the driver and the hooks, the push
    gate, check and fix. `env` has no other migguard on PATH to fall back to."""
    def git_(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return git(project.root, *args, check=check, env=dict(env))

    out = run([str(migguard), "install"], project.root, env=dict(env)).stdout
    assert "hook pre-push: installed" in out and "merge driver set" in out
    for shim in (project.root / ".git/hooks").iterdir():
        assert " -I " not in shim.read_text(), shim
        assert "migguard-hook-shim" not in shim.read_text() or " -S " in shim.read_text(), shim
    git_("add", "-A")
    git_("commit", "-qm", "install migguard")
    diverge(project, [COUNTRY], [DISCIPLINE])
    merged = git_("merge", "--no-edit", "feature")
    assert MERGE_FILE in head_files(project), merged.stdout + merged.stderr
    assert git_("show", "HEAD:api/migrations/max_migration.txt").stdout == MERGE_FILE[:-3] + "\n"
    assert git_("status", "--porcelain").stdout == ""

    git(tmp_path, "init", "-q", "--bare", "remote.git")
    git_("checkout", "-q", "-b", "bypassed", "main~1")
    git_("-c", "core.hooksPath=/dev/null", "merge", "--no-edit", "feature")
    refused = git_("push", str(tmp_path / "remote.git"), "bypassed", check=False)
    assert refused.returncode != 0 and "app 'api' has 2 leaf migrations" in refused.stderr, refused.stderr
    checked = run([str(migguard), "check"], project.root, check=False, env=dict(env))
    assert checked.returncode == 1 and "2 leaf migrations" in checked.stdout + checked.stderr
    run([str(migguard), "fix"], project.root, env=dict(env))
    git_("commit", "-q", "--amend", "--no-edit")  # the gate checks every pushed commit, so the fix goes into the merge
    git_("push", "-q", str(tmp_path / "remote.git"), "bypassed")


def bare_env(**extra: str) -> dict[str, str]:
    """No virtualenv, no migguard and no Django on PATH: only the system's tools."""
    return clean_env(PATH="/usr/local/bin:/usr/bin:/bin", **extra)


def test_a_virtualenv_without_django_runs_everything_but_the_demo(wheel: Path, seed: DjangoProject, tmp_path: Path) -> None:
    python = new_venv(tmp_path / "venv")
    pip("install", str(wheel), python=python)
    assert installed_version(python, "django") is None
    assert_hooks_driver_check_and_fix_work(seed, python.parent / "migguard", tmp_path, bare_env())
    demo = run([str(python.parent / "migguard"), "demo"], tmp_path, check=False, env=bare_env())
    assert demo.returncode == 2
    assert demo.stdout.strip() == (
        "migguard demo: the demo runs Django's makemigrations and migrate, and this Python has no Django: "
        f"{python} -m pip install django, then run it again.")
    assert_the_gate_answers_for_the_django_it_runs_with(tmp_path / "squashes", python)


SQUASHES = {  # a squash of a squash still present: Django 6.0 loads it, Django before 6.0 only on some runs
    "0001_initial": ([], []), "0002_a": ([], ["0001_initial"]), "0003_b": ([], ["0002_a"]),
    "0002_squashed_0003_b": (["0002_a", "0003_b"], ["0001_initial"]),
    "0001_squashed_0003_b": (["0001_initial", "0002_squashed_0003_b"], []),
}


def write_squashes(folder: Path) -> None:
    """SQUASHES as migration files of app `shop` in `folder`, its lock file naming their one leaf."""
    for name, (replaces, dependencies) in SQUASHES.items():
        (folder / f"{name}.py").write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            f"    replaces = {[('shop', r) for r in replaces]!r}\n"
            f"    dependencies = {[('shop', d) for d in dependencies]!r}\n    operations = []\n")
    (folder / "max_migration.txt").write_text("0001_squashed_0003_b\n")


def assert_the_gate_answers_for_the_django_it_runs_with(root: Path, no_django: Path) -> None:
    """The push gate caches its findings by tree; where the installed Django's version decided them (no
    `django_version` configured), a gate running with another Django answers again instead of reusing them."""
    folder = root / "shop" / "migrations"
    folder.mkdir(parents=True)
    (folder / "__init__.py").touch()
    write_squashes(folder)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "squashes")
    head = git(root, "rev-parse", "HEAD").stdout.strip()
    update = f"refs/heads/main {head} refs/heads/main {'0' * 40}\n"
    answers = []
    for python in (Path(sys.executable), no_django, Path(sys.executable)):
        done = run([str(python), "-m", "migguard", "hook", "pre-push", "origin", "/nowhere.git"], root, check=False,
                   input=update, env=bare_env())
        answers.append((done.returncode, "squash of a squash" in done.stdout + done.stderr))
    refused = (1, True) if int(installed_django_version().split(".")[0]) < 6 else (0, False)
    assert answers == [refused, (0, False), refused]  # the suite's Django (before 6.0: refused), none, it again


def test_hooks_start_without_site_until_they_need_it(wheel: Path, seed: DjangoProject, tmp_path: Path) -> None:
    """A normal install's hook shims start Python without `site` (`-S`): a hook with nothing to do never runs the
    virtualenv's `.pth` files; the full hook (a merge to resolve) runs them first, and still works; so does a hook
    whose migguard folder has moved since `migguard install`."""
    python = new_venv(tmp_path / "venv")
    pip("install", str(wheel), python=python)
    (site_packages,) = (tmp_path / "venv" / "lib").glob("python*/site-packages")
    marker = tmp_path / "site-ran"  # a line per process that ran the .pth files: "hook" for a shim's (-S) Python
    (site_packages / "zz_marker.pth").write_text(
        f"import sys; open({str(marker)!r}, 'a').write(('hook' if '-S' in sys.orig_argv else 'other') + '\\n')\n")
    env = bare_env()
    other = tmp_path / "other-venv" / "python"  # another virtualenv's interpreter: a link to the same Python
    other.parent.mkdir()
    other.symlink_to(os.path.realpath(python))
    chosen = run([str(python), "-c", "import sys\nfrom migguard.installer import managers as m\n"
                  "print(m.hook_arguments(sys.executable).startswith('-S '), m.hook_arguments(sys.argv[1]) == m.run_arguments())",
                  str(other)], tmp_path, env=dict(env)).stdout.split()
    assert chosen == ["True", "True"]  # -S for this one; the other keeps `site`, which knows its own packages

    def git_(*args: str) -> subprocess.CompletedProcess:
        return git(seed.root, *args, env=dict(env))

    def hook_ran_site() -> bool:
        ran = marker.exists() and "hook" in marker.read_text().split()
        marker.unlink(missing_ok=True)
        return ran

    run([str(python.parent / "migguard"), "install"], seed.root, env=dict(env))
    git_("add", "-A")
    git_("commit", "-qm", "install migguard")  # its lock files: the full hook checks the graph once
    marker.unlink(missing_ok=True)
    (seed.root / "notes.md").write_text("notes\n")
    git_("add", "-A")
    git_("commit", "-qm", "notes")
    git_("checkout", "-q", "-b", "elsewhere")
    git_("checkout", "-q", "main")
    assert not hook_ran_site()  # pre-commit and post-checkout with nothing to do
    diverge(seed, [COUNTRY], [DISCIPLINE])
    marker.unlink(missing_ok=True)
    git_("merge", "--no-edit", "feature")
    assert MERGE_FILE in head_files(seed) and git_("status", "--porcelain").stdout == ""
    assert hook_ran_site()  # the full post-merge hook, which resolved the two leaves

    for shim in (seed.root / ".git/hooks").iterdir():
        if "migguard-hook-shim" in shim.read_text():
            shim.write_text(shim.read_text().replace(str(site_packages), str(tmp_path / "moved")))
    (seed.root / "notes.md").write_text("more notes\n")
    git_("commit", "-qam", "more notes")
    assert git_("log", "-1", "--format=%s").stdout.strip() == "more notes"
    assert hook_ran_site()  # its migguard found where `site` finds it


def test_a_hook_without_site_answers_for_the_django_its_python_has(wheel: Path, tmp_path: Path) -> None:
    """A shim's Python starts without `site`; a hook that decides by the installed Django's version (a squash of
    a squash) still sees the Django its Python sees, here one that only a `.pth` file puts on sys.path."""
    python = new_venv(tmp_path / "venv")
    pip("install", str(wheel), python=python)
    pip("install", "--target", str(tmp_path / "django"), f"django=={installed_django_version()}", python=python)
    (site_packages,) = (tmp_path / "venv" / "lib").glob("python*/site-packages")
    (site_packages / "django-elsewhere.pth").write_text(f"{tmp_path / 'django'}\n")
    root = tmp_path / "repo"
    folder = root / "shop" / "migrations"
    folder.mkdir(parents=True)
    (folder / "__init__.py").touch()
    (folder / "0001_initial.py").write_text(
        "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    operations = []\n")
    (folder / "max_migration.txt").write_text("0001_initial\n")
    env = bare_env()
    git(root, "init", "-q", "-b", "main", env=dict(env))
    run([str(python.parent / "migguard"), "install"], root, env=dict(env))
    git(root, "add", "-A", env=dict(env))
    git(root, "commit", "-qm", "initial", env=dict(env))
    write_squashes(folder)
    git(root, "add", "-A", env=dict(env))
    git(root, "commit", "-qm", "squashes", env=dict(env))  # the pre-commit hook checks and caches this tree
    git(tmp_path, "init", "-q", "--bare", "remote.git", env=dict(env))
    pushed = git(root, "push", str(tmp_path / "remote.git"), "main", check=False, env=dict(env))
    before_six = int(installed_django_version().split(".")[0]) < 6
    assert (pushed.returncode != 0) == before_six, pushed.stderr
    assert ("squash of a squash" in pushed.stderr) == before_six, pushed.stderr


def test_pip_install_user(wheel: Path, seed: DjangoProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = system_python(tmp_path / "python")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MIGGUARD_TEST_HOME", str(home))
    pip("install", "--user", str(wheel), python=python, env=clean_env(HOME=str(home)))
    assert list(home.glob(".local/lib/python*/site-packages/migguard"))
    assert not list((python.parent.parent / "lib").glob("python*/site-packages/migguard"))
    assert_hooks_driver_check_and_fix_work(seed, home / ".local/bin/migguard", tmp_path, bare_env(HOME=str(home)))


def test_system_install(wheel: Path, seed: DjangoProject, tmp_path: Path) -> None:
    python = system_python(tmp_path / "python")
    pip("install", str(wheel), python=python)
    assert list((python.parent.parent / "lib").glob("python*/site-packages/migguard"))
    assert_hooks_driver_check_and_fix_work(seed, python.parent / "migguard", tmp_path, bare_env())


def test_pipx(wheel: Path, seed: DjangoProject, tmp_path: Path) -> None:
    pipx_env = clean_env(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "bin"),
                         PIPX_MAN_DIR=str(tmp_path / "man"), PIP_CACHE_DIR=PIP_CACHE)
    run([str(TOOLS / "pipx"), "install", str(wheel)], tmp_path, env=pipx_env)
    migguard = tmp_path / "bin" / "migguard"
    assert migguard.is_symlink() and "pipx/venvs/migguard" in os.path.realpath(migguard)
    assert_hooks_driver_check_and_fix_work(seed, migguard, tmp_path, bare_env())


def test_a_migguard_folder_where_a_hook_runs_does_not_shadow_the_package(seed: DjangoProject, tmp_path: Path) -> None:
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", "server.git")
    run([sys.executable, "-m", "migguard", "install", "--server"], server)
    (server / "migguard").mkdir(exist_ok=True)
    (server / "migguard" / "__init__.py").write_text("raise SystemExit('the cache folder was imported')\n")
    run([sys.executable, "-m", "migguard", "lock"], seed.root)
    git(seed.root, "add", "-A")
    git(seed.root, "commit", "-qm", "lock files")
    pushed = git(seed.root, "push", "--no-verify", str(server), "main", check=False)
    assert pushed.returncode == 0, pushed.stderr
    assert "imported" not in pushed.stderr


# pre-commit, the framework itself, at the version the tests pin and the oldest the manifest allows.

@pytest.fixture(scope="session")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """migguard's source as a git repository, as pre-commit clones it: (path, commit)."""
    source = copy_source(tmp_path_factory.mktemp("hook-repo") / "migguard")
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "migguard")
    return source, git(source, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture(scope="session", params=["pinned", "oldest"])
def pre_commit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the pre-commit executable, its PRE_COMMIT_HOME), one store per version for the session."""
    home = tmp_path_factory.mktemp(f"pre-commit-{request.param}")
    if request.param == "pinned":
        return TOOLS / "pre-commit", home / "store"
    python = new_venv(home / "venv")
    pip("install", f"pre-commit=={OLDEST_PRE_COMMIT}", python=python)
    return python.parent / "pre-commit", home / "store"


def test_pre_commit_framework_hooks(seed: DjangoProject, tmp_path: Path, pre_commit: tuple[Path, Path],
                                    hook_repository: tuple[Path, str]) -> None:
    executable, store = pre_commit
    repository, commit = hook_repository
    env = clean_env(PRE_COMMIT_HOME=str(store), PIP_CACHE_DIR=PIP_CACHE)
    root = seed.root
    (root / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repository}\n  rev: {commit}\n  hooks:\n  - id: migguard-check\n  - id: migguard-lock\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pre-commit")
    assert run([str(executable), "validate-manifest", ".pre-commit-hooks.yaml"], repository, env=env).returncode == 0
    run([str(executable), "install", "-t", "pre-commit", "-t", "pre-push"], root, env=env)

    seed.models("api", person_models(BASE, COUNTRY))
    seed.makemigrations("api")
    git(root, "add", "-A")
    stopped = git(root, "commit", "-qm", "country", check=False, env=dict(env))
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "wrote api/migrations/max_migration.txt: 0003_person_country (was missing)" in stopped.stdout + stopped.stderr
    assert "lock files written: stage them (git add) and commit again." in stopped.stdout + stopped.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "country", env=dict(env))
    assert git(root, "show", "HEAD:api/migrations/max_migration.txt").stdout == "0003_person_country\n"

    no_hooks = ("-c", "core.hooksPath=/dev/null")
    git(root, "checkout", "-q", "-b", "side", "main~1")
    seed.models("api", person_models(BASE, top=(DISCIPLINE,)))
    seed.makemigrations("api")
    git(root, "add", "-A")
    git(root, *no_hooks, "commit", "-qm", "discipline")
    git(root, "checkout", "-q", "-b", "bad", "main")
    git(root, *no_hooks, "merge", "--no-edit", "side")
    git(root, "checkout", "-q", "main")
    git(tmp_path, "init", "-q", "--bare", "remote.git")
    git(root, "remote", "add", "origin", str(tmp_path / "remote.git"))
    git(root, "push", "-q", "origin", "main", env=dict(env))
    refused = git(root, "push", "origin", "bad", check=False, env=dict(env))
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "app 'api' has 2 leaf migrations" in refused.stdout + refused.stderr
    assert git(tmp_path / "remote.git", "branch", "--list").stdout.split() == ["main"]

    manual = [str(executable), "run", "migguard-check", "--hook-stage", "manual"]
    assert run(manual, root, check=False, env=dict(env)).returncode == 0
    git(root, "checkout", "-q", "bad")
    assert run(manual, root, check=False, env=dict(env)).returncode == 1
