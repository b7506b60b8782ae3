"""The merge driver: the set rule, its properties, and git's own fallback."""
from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, strategies as st
from conftest import clean_env, run

from migguard.mergedriver.driver import merge_names

names = st.frozensets(st.from_regex(r"\A[0-9]{4}_[a-z]{1,8}\Z"), max_size=5)


def lock(values: frozenset[str]) -> bytes:
    return "".join(f"{v}\n" for v in sorted(values)).encode()


@given(names, names, names)
def test_equals_the_set_rule_and_is_symmetric(o: frozenset[str], a: frozenset[str], b: frozenset[str]) -> None:
    merged = merge_names(lock(o), lock(a), lock(b))
    assert merged == lock((o - (o - a) - (o - b)) | (a - o) | (b - o))
    assert merged == merge_names(lock(o), lock(b), lock(a))


@given(names, names, names)
def test_idempotent(o: frozenset[str], a: frozenset[str], b: frozenset[str]) -> None:
    merged = merge_names(lock(o), lock(a), lock(b))
    assert merged is not None
    assert merge_names(lock(o), merged, lock(b)) == merged
    assert merge_names(lock(o), lock(a), merged) == merged


@given(names, names)
def test_add_add_with_empty_base(a: frozenset[str], b: frozenset[str]) -> None:
    assert merge_names(b"", lock(a), lock(b)) == lock(a | b)


def test_typical_lock_files() -> None:
    assert merge_names(b"0002_prev\n", b"0003_person_country\n", b"0003_person_discipline\n") == \
        b"0003_person_country\n0003_person_discipline\n"


def driver(tmp_path: Path, o: bytes, a: bytes, b: bytes, **env: str) -> tuple[int, bytes, str]:
    for name, data in (("O", o), ("A", a), ("B", b)):
        (tmp_path / name).write_bytes(data)
    done = run([sys.executable, "-m", "migguard", "merge-driver", "O", "A", "B", "api/migrations/max_migration.txt"],
               tmp_path, check=False, env=clean_env(**env))
    return done.returncode, (tmp_path / "A").read_bytes(), done.stderr


def test_driver_writes_only_a(tmp_path: Path) -> None:
    status, result, err = driver(tmp_path, b"0002_prev\n", b"0003_a\n", b"0003_b\n")
    assert (status, result) == (0, b"0003_a\n0003_b\n")
    assert err.strip() == ("migguard: api/migrations/max_migration.txt now names 2 leaves (0003_a, 0003_b); "
                           "a migguard hook resolves them when the merge or rebase completes, "
                           "else (cherry-pick, revert, hooks off) run `migguard fix`")
    assert (tmp_path / "O").read_bytes() == b"0002_prev\n" and (tmp_path / "B").read_bytes() == b"0003_b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A", "B", "O"]


def test_unexpected_input_falls_back_to_git_conflict(tmp_path: Path) -> None:
    for a in (b"not a name!\n", b"\xff\xfe\n", b"<<<<<<< ours\n0003_a\n=======\n0003_b\n>>>>>>> theirs\n"):
        status, result, _ = driver(tmp_path, b"0002_prev\n", a, b"0003_b\n")
        assert status == 1 and b"<<<<<<< ours" in result and b">>>>>>> theirs" in result


def test_migguard_zero_falls_back(tmp_path: Path) -> None:
    status, result, _ = driver(tmp_path, b"0002_prev\n", b"0003_a\n", b"0003_b\n", MIGGUARD="0")
    assert status == 1 and result.startswith(b"<<<<<<< ours\n0003_a\n=======\n0003_b\n>>>>>>> theirs")
