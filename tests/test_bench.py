"""The benchmark harness runs end to end on a tiny project: its JSON has every figure, and its markdown is
reproduced from that JSON. (No timing is asserted: the figures belong to the README, not to the tests.)"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from django_sdist import cache_directory

ROOT = Path(__file__).resolve().parent.parent


def test_a_quick_run_reports_cpu_and_wall_for_every_command(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--venv", sys.prefix, "--work", str(tmp_path / "work"),
                           "--sizes", "200", "--pairs", "1", "--groups", "check", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert [(group["group"], group["size"], group["pairs"]) for group in results["groups"]] == [("check", 200, 1)]
    check, = results["groups"]
    assert {"check (cold)", "check (warm)", "check --rev (cold)", "check --rev (warm)", "python -I -c pass"} <= set(check["steps"])
    for step in check["steps"].values():
        assert step["cpu_ms"]["min"] > 0 and step["wall_ms"]["min"] > 0
        assert len(step["cpu_ms"]["values"]) == 1
    assert {comparison["label"] for comparison in check["comparisons"]} >= {"check --rev (warm) over Python's start",
                                                                            "check (warm) over git status"}
    for comparison in check["comparisons"]:
        assert len(comparison["cpu"]["values"]) == 1 and len(comparison["wall"]["values"]) == 1
    assert results["machine"]["cpus (nproc)"] >= 1 and results["load before"]["load average"] and results["load after"]
    assert "migguard" in results["installed"]["packages"]
    assert "### check" in done.stdout and "### Targets" in done.stdout
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--report", str(out)],
                           capture_output=True, text=True, check=True)
    assert again.stdout == done.stdout


BLACK = "black==26.10.1"  # pinned: the generator's black style is compared byte for byte with what this release writes


def bench_module(name: str) -> ModuleType:
    """A module of benchmarks/ loaded under its own name (benchmarks/ is not put on sys.path for the whole session)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def black_path() -> Path:
    """The pinned black installed once with pip into the tests' cache (a test tool only, not a dependency)."""
    target = cache_directory() / BLACK.replace("==", "-")
    if not (target / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="black-", dir=cache_directory()))
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-input",
                            "--target", str(staging), BLACK], check=True, capture_output=True, text=True)
            (staging / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def test_the_black_style_project_is_what_black_makes_of_the_makemigrations_one(tmp_path: Path, black_path: Path) -> None:
    projects = bench_module("projects")
    plain, black = tmp_path / "plain", tmp_path / "black"
    assert projects.generate(plain, 100) == projects.generate(black, 100, "black") == ["app0000"]
    projects.Migrations(plain, "app0000", "incremental").add()  # the migration the incremental runs commit, too
    projects.Migrations(black, "app0000", "incremental", "black").add()
    done = subprocess.run([sys.executable, "-m", "black", "-q", str(plain / "app0000")], env={**os.environ, "PYTHONPATH": str(black_path)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    files = sorted(path.relative_to(black) for path in black.rglob("*") if path.is_file())
    assert len([path for path in files if path.parent.name == "migrations" and path.suffix == ".py"]) == 102
    assert [path for path in files if (plain / path).read_bytes() != (black / path).read_bytes()] == []
    assert sorted(path.relative_to(plain) for path in plain.rglob("*") if path.is_file()) == files
    made = projects.generate(tmp_path / "again", 100)  # the makemigrations style is not black's: black changed it above
    assert made == ["app0000"]
    initial = (tmp_path / "again" / "app0000" / "migrations" / "0001_initial.py").read_text()
    assert "name='Item'" in initial and initial != (black / "app0000" / "migrations" / "0001_initial.py").read_text()
    assert '                    "id",\n' in (black / "app0000" / "migrations" / "0001_initial.py").read_text()
    assert '        ("app0000", "0001_initial"),\n' in (black / "app0000" / "migrations" / "0002_item_f001.py").read_text()


def test_the_formatting_group_pairs_black_with_makemigrations_style_and_wagtails_real_migrations(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "MIGGUARD_BENCH_CACHE": str(cache_directory() / "bench")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--venv", sys.prefix, "--work", str(tmp_path / "work"),
                           "--sizes", "100", "--pairs", "1", "--groups", "formatting", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    wagtail, generated = results["groups"]
    assert (generated["group"], generated["size"], generated["pairs"]) == ("formatting", 100, 1)
    assert (wagtail["group"], wagtail["pairs"]) == ("formatting: wagtail", 1)
    assert generated["facts"]["variants"]["makemigrations style"]["migrations"] == 100
    assert generated["facts"]["variants"]["black-formatted"]["migrations"] == 100
    shipped = wagtail["facts"]["variants"]["wagtail as shipped (black)"]
    assert wagtail["size"] == shipped["migrations"] >= 250 and shipped["apps"] >= 15
    assert shipped["bytes"] > 1000 * shipped["migrations"]  # real migrations: larger than the generated ones
    for group, variants in ((generated, ("makemigrations style", "black-formatted")),
                            (wagtail, ("wagtail via ast.unparse (no black)", "wagtail as shipped (black)"))):
        for kind in ("check (cold)", "check (warm)", "check --rev (cold)", "check --rev (warm)"):
            for variant in variants:
                assert len(group["steps"][f"{kind} · {variant}"]["cpu_ms"]["values"]) == 1
            label = f"{kind}: {variants[1]} ÷ {variants[0]}"
            comparison, = [found for found in group["comparisons"] if found["label"] == label]
            assert len(comparison["cpu"]["values"]) == 1 and comparison["cpu"]["min"] > 0
    incremental = "check --rev (incremental: one new commit with a migration)"
    assert {f"{incremental} · makemigrations style", f"{incremental} · black-formatted"} <= set(generated["steps"])
    assert not [step for step in wagtail["steps"] if step.startswith(incremental)]
    assert "### formatting: CPU µs per migration" in done.stdout
    assert "| 100 | black-formatted | 323, 40 |" in done.stdout
    assert "black-formatted migrations on the same path" in done.stdout
    assert "- wagtail as shipped (black): cold − warm " in done.stdout and "the generated black-formatted project's" in done.stdout
    assert not (tmp_path / "work" / "wagtail").exists() and not (tmp_path / "work" / "size-100").exists()


def test_every_other_round_runs_the_two_repositories_in_the_reverse_order() -> None:
    script = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from formatting import alternating
from measure import Step
step = {name: Step(name, ["true"], Path("."), {}) for name in ("start", "cold A", "warm A", "cold B", "warm B", "rev A", "rev B")}
order = alternating(step["start"], [[[step["cold A"], step["warm A"]], [step["cold B"], step["warm B"]]], [[step["rev A"]], [step["rev B"]]]])
print([[found.name for found in order(index)] for index in range(3)])
"""
    done = subprocess.run([sys.executable, "-c", script, str(ROOT / "benchmarks")], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str([["start", "cold A", "warm A", "cold B", "warm B", "rev A", "rev B"],
                                       ["start", "cold B", "warm B", "cold A", "warm A", "rev B", "rev A"],
                                       ["start", "cold A", "warm A", "cold B", "warm B", "rev A", "rev B"]])
