"""Django's own migration fixtures, fetched from the sdist at test time and cached outside the repository.

The cache is `$MIGGUARD_TEST_CACHE` or `~/.cache/migguard-tests/`; a warm cache costs no network and no pip."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

FIXTURE_PREFIXES = ("tests/migrations/test_migrations", "tests/migrations/migrations_test_apps/")


def cache_directory() -> Path:
    configured = os.environ.get("MIGGUARD_TEST_CACHE")
    directory = Path(configured) if configured else Path.home() / ".cache" / "migguard-tests"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def installed_django_version() -> str:
    from importlib.metadata import version

    return version("django")


def migration_fixtures(version: str) -> Path:
    """`tests/migrations` of Django `version`'s sdist, holding only the migration fixture packages."""
    target = cache_directory() / f"django-{version}-migration-fixtures"
    done = target / ".complete"
    if done.exists():
        return target / "migrations"
    sdist = _download_sdist(version)
    staging = Path(tempfile.mkdtemp(prefix=f"django-{version}-", dir=cache_directory()))
    try:
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                relative = member.name.split("/", 1)[-1]
                if not relative.startswith(FIXTURE_PREFIXES) or not (member.isfile() or member.isdir()):
                    continue
                destination = staging / relative.removeprefix("tests/")
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                destination.write_bytes(source.read())
        (staging / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "migrations"


def _download_sdist(version: str) -> Path:
    downloads = cache_directory() / "sdists"
    existing = sorted(downloads.glob(f"[Dd]jango-{version}.tar.gz"))
    if existing:
        return existing[0]
    # --python-version lets an older interpreter fetch the sdist of a Django that needs a newer one.
    command = [sys.executable, "-m", "pip", "download", f"django=={version}", "--no-binary", ":all:", "--no-deps",
               "--python-version", _python_version_for(version), "-d", str(downloads)]
    done = subprocess.run(command, capture_output=True, text=True)
    existing = sorted(downloads.glob(f"[Dd]jango-{version}.tar.gz"))
    if done.returncode != 0 or not existing:
        raise AssertionError(f"could not download Django {version}'s sdist:\n{done.stdout}\n{done.stderr}")
    return existing[0]


def _python_version_for(version: str) -> str:
    major = int(version.split(".", 1)[0])
    return "3.12" if major >= 6 else f"{sys.version_info.major}.{sys.version_info.minor}"


def django_python(version: str) -> str:
    """A Python with Django `version` installed, in a virtualenv kept in the cache (made once, with pip)."""
    venv = cache_directory() / f"venv-django-{version}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return str(python)
    interpreter = _interpreter_for(version)
    shutil.rmtree(venv, ignore_errors=True)
    for command in ([interpreter, "-m", "venv", str(venv)],
                    [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"django=={version}"]):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"could not make a virtualenv with Django {version}:\n{done.stdout}\n{done.stderr}")
    (venv / ".complete").touch()
    return str(python)


def _interpreter_for(version: str) -> str:
    """This Python, or (for Django 6, which needs 3.12) the first Python 3.12+ on PATH or under pyenv."""
    if int(version.split(".", 1)[0]) < 6 or sys.version_info >= (3, 12):
        return sys.executable
    candidates = [shutil.which(name) for name in ("python3.14", "python3.13", "python3.12")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(str(path) for path in pyenv.glob("3.1[2-9]*/bin/python3"))
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                              capture_output=True)
        if done.returncode == 0:
            return candidate
    raise AssertionError(f"Django {version} needs Python 3.12 or newer, and none was found on PATH or under pyenv")
