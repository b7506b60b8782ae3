"""Find a project's Django settings and Python without importing Django, and run Django in that Python."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from migguard import gitio

SETDEFAULT = re.compile(
    r"""os\.environ\.setdefault\(\s*["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']\s*\)"""
)
VENV_DIRS = (".venv", "venv", "env")
WORKER_BOOT = """
import sys
try:
    from migguard.django.worker import main
except ImportError as error:
    print(f"migguard: cannot start in {sys.executable} ({error}).", file=sys.stderr)
    sys.exit(2)
sys.exit(main())
"""


class NoSettings(Exception):
    """No Django settings could be found; the message is one sentence."""


class Target(NamedTuple):
    """Where Django runs: the git work tree, the folder holding manage.py, the settings, the Python."""

    root: str
    project_dir: str
    settings: str
    python: str


def repository_root(cwd: str) -> str:
    try:
        return str(gitio.top_level(cwd))
    except gitio.GitError:
        return str(Path(cwd).resolve())


def find_manage_py(root: str) -> Path | None:
    """`manage.py` at the top of the work tree, else one folder down (a `src/` layout)."""
    top = Path(root) / "manage.py"
    if top.is_file():
        return top
    found = sorted(Path(root).glob("*/manage.py"))
    return found[0] if found else None


def settings_from_manage_py(path: Path) -> str | None:
    """The module manage.py names in `os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`, read as text."""
    try:
        match = SETDEFAULT.search(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return match[1] if match else None


def find_settings(root: str, explicit: str | None = None) -> tuple[str, str]:
    """(settings module, folder Django runs in): --settings, DJANGO_SETTINGS_MODULE, [tool.migguard], manage.py."""
    manage = find_manage_py(root)
    project_dir = str(manage.parent) if manage else root
    if explicit:
        return explicit, project_dir
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        return os.environ["DJANGO_SETTINGS_MODULE"], project_dir
    from migguard.config import ConfigError, load_directory

    try:
        configured = load_directory(root).django_settings
    except ConfigError:
        configured = ""
    if configured:
        return configured, project_dir
    named = settings_from_manage_py(manage) if manage else None
    if named:
        return named, project_dir
    raise NoSettings("no Django settings found: pass --settings, set DJANGO_SETTINGS_MODULE, "
                     "set django_settings in [tool.migguard], or add a manage.py that names them.")


def project_python(project_dir: str, root: str) -> str:
    """The Python that runs manage.py: the project's virtualenv when there is one, else this one."""
    for folder in dict.fromkeys((project_dir, root)):
        for name in VENV_DIRS:
            candidate = Path(folder) / name / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return sys.executable


def target(cwd: str, explicit: str | None = None) -> Target:
    root = repository_root(cwd)
    settings, project_dir = find_settings(root, explicit)
    return Target(root, project_dir, settings, project_python(project_dir, root))


def run_worker(where: Target, request: dict[str, object], capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `migguard.django.worker` with the project's Python and settings; `request` goes in as JSON."""
    env = gitio.git_env()
    env["DJANGO_SETTINGS_MODULE"] = where.settings
    paths = [where.project_dir]
    shim = None
    if os.path.abspath(where.python) != os.path.abspath(sys.executable):  # a venv's python links to the same binary
        shim = tempfile.TemporaryDirectory(prefix="migguard-")
        os.symlink(Path(__file__).resolve().parent.parent, Path(shim.name) / "migguard")
        paths.append(shim.name)
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    request = dict(request, root=where.root)
    try:
        return subprocess.run([where.python, "-c", WORKER_BOOT], cwd=where.project_dir, env=env,
                              input=json.dumps(request), text=True, capture_output=capture)
    finally:
        if shim is not None:
            shim.cleanup()
