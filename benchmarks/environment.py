"""The measured installation (a normal `pip install` of a checkout in a fresh virtualenv) and the machine."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DJANGO = "django>=5.2,<5.3"
LINEAR = "django-linear-migrations"
REPORT = """\
import importlib.metadata as metadata, json, platform, sys
found = {}
for name in ("migguard", "django", "django-linear-migrations"):
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    found[name] = {"version": dist.version, "editable": bool(direct.get("dir_info", {}).get("editable"))}
print(json.dumps({"python": platform.python_version(), "implementation": sys.implementation.name, "packages": found}))
"""


def copy_checkout(checkout: Path, destination: Path) -> None:
    """The checkout's files as git sees them (tracked and untracked, ignored left out): what a build of it holds."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=checkout,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = checkout / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def create(venv: Path, checkout: Path, scratch: Path, log: Any = print) -> None:
    """A fresh virtualenv with a normal (non-editable) install of the checkout, Django 5.2 and django-linear-migrations."""
    started = time.monotonic()
    source = scratch / "source"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    copy_checkout(checkout, source)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-input", "--disable-pip-version-check",
                           str(source), DJANGO, LINEAR], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install failed: {done.stderr.strip()[-2000:]}")
    shutil.rmtree(source, ignore_errors=True)
    log(f"virtualenv {venv}: migguard installed from {checkout} (normal install) in {time.monotonic() - started:.0f} s")


def installed(venv: Path) -> dict[str, Any]:
    """Python's version and the packages of interest in the virtualenv, each with whether it is editable."""
    done = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", REPORT], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def checkout_state(checkout: Path) -> dict[str, Any]:
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=checkout, capture_output=True, text=True).stdout.strip()

    return {"path": str(checkout), "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "commit": git("rev-parse", "HEAD"),
            "uncommitted changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> dict[str, Any]:
    """The load averages (1, 5, 15 min) and the time, UTC."""
    one, five, fifteen = os.getloadavg()
    return {"at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load average": [round(one, 2), round(five, 2), round(fifteen, 2)]}


def machine() -> dict[str, Any]:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpus (nproc)": len(os.sched_getaffinity(0)), "cpu model": cpu_model(), "system": platform.platform(),
            "git": git_version}
