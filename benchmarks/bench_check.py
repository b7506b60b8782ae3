"""Time `migguard check` against Django's own commands on generated projects, in one run.

    python benchmarks/bench_check.py [--sizes 1000,5000,20000] [--out results.md]

Each project has apps of 100 chained AddField migrations each, models.py in step, one git commit.
Prints a markdown table of wall times (best of a few runs) and the ratios.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_APP = 100
HEADER = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):\n\n"


def generate(root: Path, total: int) -> list[str]:
    """A Django project with `total` migrations; returns the app labels."""
    apps = [f"app{index:03d}" for index in range(max(1, total // PER_APP))]
    for app in apps:
        migrations = root / app / "migrations"
        migrations.mkdir(parents=True)
        (root / app / "__init__.py").touch()
        (migrations / "__init__.py").touch()
        fields = "".join(f"    f{n:03d} = models.IntegerField(default=0)\n" for n in range(1, PER_APP))
        (root / app / "models.py").write_text(f"from django.db import models\n\n\nclass Item(models.Model):\n{fields}")
        (migrations / "0001_initial.py").write_text(
            HEADER + "    initial = True\n\n    dependencies = []\n\n    operations = [\n"
            "        migrations.CreateModel(\n            name='Item',\n            fields=[\n"
            "                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),\n"
            "            ],\n        ),\n    ]\n"
        )
        previous = "0001_initial"
        for n in range(1, PER_APP):
            name = f"{n + 1:04d}_item_f{n:03d}"
            (migrations / f"{name}.py").write_text(
                HEADER + f"    dependencies = [\n        ('{app}', '{previous}'),\n    ]\n\n    operations = [\n"
                f"        migrations.AddField(\n            model_name='item',\n            name='f{n:03d}',\n"
                f"            field=models.IntegerField(default=0),\n        ),\n    ]\n"
            )
            previous = name
        (migrations / "max_migration.txt").write_text(previous + "\n")
    (root / "settings.py").write_text(
        "SECRET_KEY = 'bench'\nDEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'\n"
        f"INSTALLED_APPS = {apps!r}\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'db.sqlite3'}}\n"
    )
    (root / "manage.py").write_text(
        "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'settings')\n"
        "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n"
    )
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "generated"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)
    return apps


def timed(command: list[str], cwd: Path, runs: int, before: list[str] | None = None, timeout: float = 600) -> float:
    """Best wall time of `runs` runs, in seconds; `before` runs (untimed) ahead of each."""
    times = []
    for _ in range(runs):
        if before:
            subprocess.run(before, cwd=cwd, capture_output=True)
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, timeout=timeout)
        times.append(time.perf_counter() - start)
    return min(times)


def clear_pycache(root: Path) -> None:
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def bench(total: int, runs: int) -> dict[str, float]:
    python = sys.executable
    migguard = [python, "-m", "migguard"]
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        generate(root, total)
        results = {"python -c pass": timed([python, "-c", "pass"], root, runs)}
        results["check (cold)"] = timed([*migguard, "check"], root, runs)
        drop_cache = ["rm", "-rf", ".git/migguard"]
        results["check --rev (cold)"] = timed([*migguard, "check", "--rev", "HEAD"], root, runs, before=drop_cache)
        subprocess.run([*migguard, "check", "--rev", "HEAD"], cwd=root, capture_output=True)
        results["check --rev (warm)"] = timed([*migguard, "check", "--rev", "HEAD"], root, runs)
        env_manage = [python, "manage.py"]
        clear_pycache(root)
        results["showmigrations (first run)"] = timed([*env_manage, "showmigrations"], root, 1)
        results["showmigrations (warm .pyc)"] = timed([*env_manage, "showmigrations"], root, 1)
        clear_pycache(root)
        results["makemigrations --check (first run)"] = timed([*env_manage, "makemigrations", "--check", "--dry-run"], root, 1)
        results["makemigrations --check (warm .pyc)"] = timed([*env_manage, "makemigrations", "--check", "--dry-run"], root, 1)
    return results


def table(all_results: dict[int, dict[str, float]]) -> str:
    sizes = sorted(all_results)
    lines = ["| what | " + " | ".join(f"{size:,} migrations" for size in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for what in all_results[sizes[0]]:
        lines.append(f"| {what} | " + " | ".join(f"{all_results[size][what] * 1000:,.0f} ms" for size in sizes) + " |")
    for django in ("showmigrations (first run)", "makemigrations --check (first run)", "makemigrations --check (warm .pyc)"):
        ratios = [all_results[size][django] / all_results[size]["check (cold)"] for size in sizes]
        lines.append(f"| {django} ÷ check (cold) | " + " | ".join(f"{ratio:,.0f}×" for ratio in ratios) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out")
    arguments = parser.parse_args()
    results = {}
    for size in (int(value) for value in arguments.sizes.split(",")):
        results[size] = bench(size, arguments.runs)
        print(f"{size}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in results[size].items()), file=sys.stderr)
    text = table(results)
    print(text)
    if arguments.out:
        Path(arguments.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
