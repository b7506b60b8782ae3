"""mypy --strict on migguard as it is installed, and ruff on the checkout.

mypy cannot follow setuptools' package-dir mapping (hooks/, installer/ and mergedriver/ install
as migguard.hooks, migguard.installer and migguard.mergedriver), and an editable install is an
import hook it cannot see either. So this lays the package out in a scratch folder as the wheel
does, with symbolic links to the checkout's files, and runs mypy there with pyproject.toml's
[tool.mypy]. Needs the `lint` extra (mypy, ruff). Exit 1 when either reports anything.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_layout(destination: Path) -> Path:
    """`destination/migguard/...` as installed: each package folder of the mapping, linked."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(mapping.items()):
        target = destination.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((ROOT / folder).iterdir()):
            if source.name == "__pycache__" or (target / source.name).exists():
                continue
            if source.suffix in (".py", ".pyi") or (source / "__init__.py").exists():
                os.symlink(source, target / source.name)
    return destination / "migguard"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="migguard-typecheck-") as scratch:
        package_layout(Path(scratch))
        mypy = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "migguard"],
                              cwd=scratch, env={**os.environ, "MYPYPATH": scratch})
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], cwd=ROOT)
    return 1 if mypy.returncode or ruff.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
