"""Real black-formatted migrations: wagtail's, from its wheel on PyPI (fetched once with `pip download --no-deps`,
cached), laid out as a git repository; and the same migrations written back by `ast.unparse` (no black)."""
from __future__ import annotations

import ast
import os
import subprocess
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

WAGTAIL = "8.0.1"  # pinned: the figures of two runs are of the same files
KEPT_APP_FILES = ("__init__.py", "apps.py")  # what `check` reads of an app besides its migrations (apps.py: the label)


def cache_directory() -> Path:
    """`$MIGGUARD_BENCH_CACHE`, else `~/.cache/migguard-bench/`."""
    configured = os.environ.get("MIGGUARD_BENCH_CACHE")
    directory = Path(configured) if configured else Path.home() / ".cache" / "migguard-bench"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def wagtail_wheel(python: str, version: str = WAGTAIL) -> Path:
    """wagtail's wheel, downloaded by pip into the cache on first use (pip's own cache and settings apply)."""
    cache = cache_directory()
    found = sorted(cache.glob(f"wagtail-{version}-*.whl"))
    if found:
        return found[0]
    done = subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
                           "--no-input", "-d", str(cache), f"wagtail=={version}"], capture_output=True, text=True)
    found = sorted(cache.glob(f"wagtail-{version}-*.whl"))
    if done.returncode != 0 or not found:
        raise RuntimeError(f"pip download wagtail=={version} failed: {(done.stderr or done.stdout).strip()[-1000:]}")
    return found[0]


def is_migration(name: str) -> bool:
    """A module of a folder named `migrations` (the wheel's candidates; `check` decides which are apps)."""
    path = PurePosixPath(name)
    return path.parent.name == "migrations" and path.suffix == ".py" and path.name != "__init__.py"


def extract_migration_packages(wheel: Path, root: Path) -> None:
    """Every `migrations` package of the wheel with its app's `__init__.py` and `apps.py` (the label), under `root`."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        apps = {str(PurePosixPath(name).parent.parent) for name in names if is_migration(name)}
        for name in names:
            path = PurePosixPath(name)
            in_migrations = path.parent.name == "migrations" and str(path.parent.parent) in apps and path.suffix == ".py"
            if in_migrations or (str(path.parent) in apps and path.name in KEPT_APP_FILES):
                destination = root / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(archive.read(name))


def migration_files(root: Path, packages: Iterable[str]) -> list[Path]:
    """The migration modules of the given migration packages (as Django names them: `.py`, not `_` or `~` first)."""
    return sorted(path for package in packages for path in (root / package).glob("*.py") if path.name[0] not in "_~")


def facts(root: Path, packages: list[str]) -> dict[str, int]:
    """How many apps and migrations, the migrations' bytes and syntax tree nodes (what parsing them costs, whatever the layout)."""
    files = migration_files(root, packages)
    nodes = sum(sum(1 for _ in ast.walk(ast.parse(path.read_bytes()))) for path in files)
    return {"apps": len(packages), "migrations": len(files), "bytes": sum(path.stat().st_size for path in files), "nodes": nodes}


def unformat(root: Path, packages: list[str]) -> None:
    """Rewrite every migration of `packages` as `ast.unparse` prints it: the same module without black's layout
    (single quotes, each statement on one line, no trailing commas; comments dropped)."""
    for path in migration_files(root, packages):
        path.write_text(ast.unparse(ast.parse(path.read_bytes())) + "\n")
