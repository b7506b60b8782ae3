"""Every migration package of Django's own test suite (the installed Django's sdist): migguard equals Django.

For each package: the same apps, the same nodes and leaves, the same conflicts; where Django's
`MigrationLoader(None, ignore_no_migrations=True)` raises, `migguard check` reports an error in one
sentence (exit 1 or 2), never "ok" and never a traceback. The same sweep runs over Django 6.0's own
fixtures with Django 6.0 (a virtualenv made once and cached) and `django_version = "6.0"`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from django_sdist import django_python, installed_django_version, migration_fixtures
from django_sweep import Case, FixturePackage, ask_django, fixture_packages, lay_out

from migguard.project import load_worktree
from migguard.report import check_result

# Where migguard deliberately differs from Django: (case, the error Django raises, why).
DOCUMENTED_EXCEPTIONS = {
    "test_migrations_first": (
        "NodeNotFoundError",
        "depends on ('migrations2', '0002_second'), an app that is not in the repository: migguard cannot "
        "see apps outside the repository (installed packages, Django's own apps), so it skips such "
        "dependencies instead of failing on every project that depends on a third-party app"),
}

VERSION = installed_django_version()
FIXTURES = migration_fixtures(VERSION)
PACKAGES = fixture_packages(FIXTURES)
DJANGO_6 = "6.0.10"
FIXTURES_6 = migration_fixtures(DJANGO_6)
PACKAGES_6 = fixture_packages(FIXTURES_6)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Case], dict[str, dict]]:
    """Every case laid out once, and Django's answers for all of them from one process."""
    workspace = tmp_path_factory.mktemp("django-sweep")
    cases = lay_out(FIXTURES, workspace)
    return {case.name: case for case in cases}, ask_django(cases, workspace)


@pytest.fixture(scope="module")
def sweep_6(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Case], dict[str, dict]]:
    workspace = tmp_path_factory.mktemp("django-6-sweep")
    cases = lay_out(FIXTURES_6, workspace, 'django_version = "6.0"\n')
    return {case.name: case for case in cases}, ask_django(cases, workspace, python=django_python(DJANGO_6))


def migguard_view(root: Path) -> tuple[dict, dict[str, list[str]]]:
    """What `check` says about a case, and each app's nodes."""
    project = load_worktree(root)
    nodes = {label: sorted(name for _, name in project.graph.app_nodes(label)) for label in project.apps}
    return check_result(project), nodes


@pytest.mark.parametrize("fixtures, packages", [(FIXTURES, PACKAGES), (FIXTURES_6, PACKAGES_6)], ids=["installed", "6.0"])
def test_the_sweep_covers_every_package(fixtures: Path, packages: list[FixturePackage]) -> None:
    on_disk = {p.parent.relative_to(fixtures).as_posix() for p in fixtures.rglob("*")
               if p.is_file() and p.name != "__init__.py"}
    on_disk = {path for path in on_disk if path.startswith("test_migrations") or path.endswith("/migrations")}
    covered = {package.path for package in packages}
    assert on_disk <= covered
    assert len(packages) >= 40, [p.path for p in packages]


@pytest.mark.parametrize("package", PACKAGES, ids=[p.path for p in PACKAGES])
def test_migguard_equals_djangos_loader(package: FixturePackage, sweep: tuple[dict[str, Case], dict[str, dict]]) -> None:
    assert_equal(package, *sweep)


@pytest.mark.parametrize("package", PACKAGES_6, ids=[p.path for p in PACKAGES_6])
def test_migguard_equals_django_6_loader(package: FixturePackage, sweep_6: tuple[dict[str, Case], dict[str, dict]]) -> None:
    assert_equal(package, *sweep_6)


def assert_equal(package: FixturePackage, cases: dict[str, Case], answers: dict[str, dict]) -> None:
    case, django = cases[package.case], answers[package.case]
    result, nodes = migguard_view(case.root)
    ours = {app["app"]: app for app in result["apps"]}
    if "error" in django:
        if package.case in DOCUMENTED_EXCEPTIONS:
            expected_error, _ = DOCUMENTED_EXCEPTIONS[package.case]
            assert django["error"] == expected_error, django  # the exception is still needed
            assert_clear_answer(case.root)
            return
        assert not result["ok"], (django, result)
        assert result["errors"], result
        assert_clear_answer(case.root, must_fail=True)
        return
    assert package.case not in DOCUMENTED_EXCEPTIONS, f"Django no longer raises on {package.case}: drop the exception"
    label = package.label
    migrated = label in django["leaves"]
    assert (label in ours) == migrated, (label, sorted(ours), django["migrated_apps"])
    if migrated:
        assert ours[label]["path"] == package.path
        assert sorted(ours[label]["leaves"]) == sorted(django["leaves"][label])
        assert nodes[label] == sorted(django["nodes"][label])
    assert (label in result["conflicts"]) == (label in django["conflicts"])
    labels_here = {p.label for p in case.packages}
    assert sorted(result["conflicts"]) == sorted(c for c in django["conflicts"] if c in labels_here)
    if not django["conflicts"]:
        assert result["ok"], result["errors"]


def assert_clear_answer(root: Path, must_fail: bool = False) -> None:
    """`migguard check` through the command line, in a git repository: exit 0 or 1 with a JSON answer whose
    errors are one line each (1 when it must fail), never a traceback."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    done = subprocess.run([sys.executable, "-m", "migguard", "check", "--format", "json"], cwd=root,
                          capture_output=True, text=True)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode in ((1,) if must_fail else (0, 1)), done
    result = json.loads(done.stdout)
    assert all(error["message"].count("\n") == 0 for error in result["errors"])
    assert result["ok"] is (done.returncode == 0)
