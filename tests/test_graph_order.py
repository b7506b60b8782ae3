"""`migguard graph` and the renumber order: parents first, ties by name, the same order as ever, in linear time;
a cycle is one sentence, never a traceback."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from migguard import graph as graph_module
from migguard.graph import Graph, Key
from migguard.reader import Dependency, MigrationSource

MIGRATION = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    dependencies = {}\n    operations = []\n"


def reference_order(graph: Graph, keys: set[Key]) -> list[Key]:
    """The order migguard has always printed (its first, quadratic implementation): rounds of ready keys, sorted."""
    remaining = {key: {p for p in graph.parents[key] if p in keys} for key in keys}
    ordered: list[Key] = []
    while remaining:
        ready = sorted(key for key, parents in remaining.items() if not parents)
        assert ready, "cycle"
        for key in ready:
            ordered.append(key)
            del remaining[key]
        for parents in remaining.values():
            parents.difference_update(ready)
    return ordered


def random_project(seed: int, size: int) -> dict[Key, MigrationSource]:
    """Apps with branches, merges, cross-app dependencies and run_before, named so names do not follow order."""
    chooser = random.Random(seed)
    made: list[Key] = []
    parents: dict[Key, list[Key]] = {}
    run_before: dict[Key, list[Key]] = {}
    for index in range(size):
        app = chooser.choice(["blog", "shop", "users"])
        key = (app, f"{chooser.randint(1, 60):04d}_{index}")
        earlier = [k for k in made if k[0] == app]
        parents[key] = chooser.sample(earlier, min(len(earlier), chooser.choice([1, 1, 1, 2])))
        if made and chooser.random() < 0.2:
            parents[key].append(chooser.choice(made))
        if earlier and chooser.random() < 0.1:  # an earlier migration says it runs before this one
            run_before.setdefault(chooser.choice(earlier), []).append(key)
        made.append(key)
    return {key: MigrationSource(tuple(Dependency(*parent, 1) for parent in dict.fromkeys(parents[key])), (),
                                 tuple(Dependency(*child, 1) for child in run_before.get(key, ())), None, None, ())
            for key in made}


@pytest.mark.parametrize("seed", range(30))
def test_order_is_unchanged(seed: int) -> None:
    graph, errors = graph_module.build(random_project(seed, 150))
    assert errors == []
    for app in ("blog", "shop", "users"):
        nodes = set(graph.app_nodes(app))
        assert graph_module.topological(graph, nodes) == reference_order(graph, nodes)
        part = {key for key in nodes if sum(map(ord, key[1])) % 3}
        assert graph_module.topological(graph, part) == reference_order(graph, part)


def write_app(root: Path, names_and_parents: list[tuple[str, list[str]]], app: str = "shop") -> None:
    package = root / app / "migrations"
    package.mkdir(parents=True)
    (package / "__init__.py").touch()
    for name, parents in names_and_parents:
        (package / f"{name}.py").write_text(MIGRATION.format([(app, parent) for parent in parents]))


def migguard(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    return subprocess.run([sys.executable, "-m", "migguard", *args], cwd=root, capture_output=True, text=True)


def test_graph_of_a_5000_migration_chain(tmp_path: Path) -> None:
    names = [f"{number:04d}_step" for number in range(1, 5001)]
    write_app(tmp_path, [(name, names[i - 1:i]) for i, name in enumerate(names)])
    done = migguard(tmp_path, "graph", "shop")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "0001_step"
    assert lines[1:] == [f"{name}{'  (leaf)' if name == names[-1] else ''}  <- {parent}"
                         for parent, name in zip(names, names[1:], strict=False)]


def test_graph_on_a_cycle_is_one_sentence(tmp_path: Path) -> None:
    write_app(tmp_path, [("0001_initial", []), ("0002_a", ["0001_initial", "0003_b"]), ("0003_b", ["0002_a"]),
                         ("0004_c", ["0003_b"])])
    done = migguard(tmp_path, "graph", "shop")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == ("migguard: cannot put app 'shop' in order: dependency cycle: "
                           "shop.0002_a -> shop.0003_b -> shop.0002_a.\n")
    check = migguard(tmp_path, "check")
    assert check.returncode == 1 and "Traceback" not in check.stderr
    assert "is part of a dependency cycle: shop.0002_a -> shop.0003_b -> shop.0002_a" in check.stdout
    dot = migguard(tmp_path, "graph", "shop", "--format", "dot")
    assert dot.returncode == 0 and '"shop.0003_b" -> "shop.0002_a";' in dot.stdout
