"""The hooks' light reader (`plain_migration`) answers only where `reader` reads a clean migration with only
literal `(app, name)` pairs, and then answers the same: on generated and mutated files, on every migration
file of the real packages installed for the tests (wagtail's are black-formatted), and on Django's own
migration test fixtures."""
from __future__ import annotations

import sysconfig
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from test_reader_property import migration_files, mutated_files

from django_sdist import installed_django_version, migration_fixtures
from migguard import reader
from migguard.plain_migration import plain_dependencies


def agreed(data: bytes) -> list[tuple[str, str]] | None:
    """What the light reader answers, asserted equal to `reader`'s reading whenever it answers."""
    plain = plain_dependencies(data)
    if plain is not None:
        read = reader.read_graph_fields(data)
        assert not read.problems and not reader.lacks_class(read) and not read.replaces and not read.run_before
        assert not [dependency for dependency in read.dependencies if dependency.swappable or dependency.setting]
        assert plain == [(dependency.app, dependency.name) for dependency in read.dependencies]
    return plain


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(migration_files())
def test_generated_files_are_read_as_reader_reads_them(source: str) -> None:
    agreed(source.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_mutated_files_are_read_as_reader_reads_them_or_left_to_it(source: str) -> None:
    agreed(source.encode("utf-8", "surrogatepass"))


def _answered(paths: list[Path]) -> tuple[int, int]:
    """(files the light reader answered, files whose reading by `reader` it could have answered)."""
    answered = possible = 0
    for path in paths:
        data = path.read_bytes()
        read = reader.read_graph_fields(data)
        if not read.problems and not read.replaces and not read.run_before \
                and not [dependency for dependency in read.dependencies if dependency.swappable or dependency.setting]:
            possible += 1
        answered += agreed(data) is not None
    return answered, possible


def test_the_real_packages_black_formatted_ones_included_take_the_light_path() -> None:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    files = [path for path in site_packages.rglob("migrations/*.py") if path.name != "__init__.py"]
    wagtail = [path for path in files if path.relative_to(site_packages).parts[0] == "wagtail"]
    assert len(wagtail) > 100 and len(files) > 500
    assert b'dependencies = [\n        ("' in b"".join(path.read_bytes() for path in wagtail)  # black's double quotes
    for group in (wagtail, files):
        answered, possible = _answered(group)
        assert answered >= 0.95 * possible, (answered, possible)


def test_djangos_own_migration_fixtures_are_read_as_reader_reads_them() -> None:
    fixtures = migration_fixtures(installed_django_version())
    files = [path for path in fixtures.rglob("*.py") if path.name != "__init__.py"]
    answered, possible = _answered(files)
    assert len(files) > 100 and 0 < answered <= possible


def test_blobs_are_read_in_one_call_only_while_each_is_small(tmp_path: Path) -> None:
    """`blobs.read_small`: every blob's bytes when each is within the limit; None, git stopped after little more
    than the limit's worth, when one is larger or missing."""
    from conftest import git
    from migguard.blobs import read_small

    git(tmp_path, "init", "-q")
    small = git(tmp_path, "hash-object", "-w", "--stdin", input="dependencies = []\n").stdout.strip()
    large = git(tmp_path, "hash-object", "-w", "--stdin", input="x" * 5_000_000).stdout.strip()
    assert read_small(tmp_path, [small, small], 100) == {small: b"dependencies = []\n"}
    assert read_small(tmp_path, [small, large], 100) is None
    assert read_small(tmp_path, [small, "0" * 40], 100) is None
    assert read_small(tmp_path, [large], 5_000_000) == {large: b"x" * 5_000_000}
    from migguard.processes import run_git

    status, out, _ = run_git(["cat-file", "--batch"], tmp_path, input=f"{large}\n".encode(), limit=1000)
    assert status < 0 and len(out) <= 1000
