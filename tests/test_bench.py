"""The benchmark harness runs end to end on a tiny project: its JSON has every figure, and its markdown is
reproduced from that JSON. (No timing is asserted: the figures belong to the README, not to the tests.)"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
