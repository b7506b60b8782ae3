"""`migguard check` and `migguard lock` as a user runs them: output, exit status, bad input."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import DjangoProject, diverge, git, run

from test_odd_shapes import EMPTY_MODELS, migration, write


def migguard(cwd: Path, *args: str) -> tuple[int, str, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def merged(seed: DjangoProject) -> DjangoProject:
    diverge(seed, ["country = models.CharField(max_length=50, default='')"],
            ["discipline = models.CharField(max_length=50, default='')"])
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    return seed


def test_clean_project_after_lock_exits_zero(seed: DjangoProject) -> None:
    status, out, _ = migguard(seed.root, "check")
    assert status == 1 and "max_migration.txt is missing" in out
    status, out, _ = migguard(seed.root, "lock")
    assert status == 0 and "wrote api/migrations/max_migration.txt: 0002_prev (was missing)" in out
    assert (seed.root / "api/migrations/max_migration.txt").read_text() == "0002_prev\n"
    status, out, _ = migguard(seed.root, "lock", "--check")
    assert status == 0 and "in step" in out
    status, out, _ = migguard(seed.root, "check")
    assert (status, out.strip()) == (0, "ok: 1 app with migrations, one leaf each, lock files in step.")


def test_conflict_in_every_format(merged: DjangoProject) -> None:
    status, out, _ = migguard(merged.root, "check", "--format", "json")
    result = json.loads(out)
    assert status == 1
    assert result["ok"] is False and result["conflicts"] == ["api"]
    assert result["version"] == 1
    assert result["apps"] == [{"app": "api", "project": "", "path": "api/migrations",
                               "leaves": ["0003_person_country", "0003_person_discipline"], "lock": "missing"}]
    assert result["errors"][0]["path"] == "api/migrations/0003_person_discipline.py"
    status, out, _ = migguard(merged.root, "check", "--format", "github")
    assert status == 1
    assert out.splitlines()[0].startswith("::error file=api/migrations/0003_person_discipline.py,line=1::app 'api' has 2 leaf")
    status, out, _ = migguard(merged.root, "check")
    assert "app 'api' has 2 leaf migrations (0003_person_country, 0003_person_discipline)" in out


def test_rev_reads_git_objects_not_the_worktree(merged: DjangoProject) -> None:
    migguard(merged.root, "lock")
    (merged.root / "api/migrations/0003_person_country.py").unlink()
    status, out, _ = migguard(merged.root, "check", "--rev", "HEAD", "--format", "json")
    assert status == 1 and json.loads(out)["conflicts"] == ["api"]
    status, out, _ = migguard(merged.root, "check", "--rev", "HEAD~1", "--format", "json")
    assert json.loads(out)["apps"][0]["leaves"] == ["0003_person_discipline"]
    again = migguard(merged.root, "check", "--rev", "HEAD", "--format", "json")
    assert json.loads(again[1]) == json.loads(migguard(merged.root, "check", "--rev", "HEAD", "--format", "json")[1])
    assert (merged.root / ".git/migguard/results").is_dir()
    git(merged.root, "diff", "--cached", "--exit-code")


def test_cache_deleted_gives_the_same_answer(merged: DjangoProject) -> None:
    first = migguard(merged.root, "check", "--rev", "HEAD", "--format", "json")
    run(["rm", "-rf", ".git/migguard"], merged.root)
    assert migguard(merged.root, "check", "--rev", "HEAD", "--format", "json") == first


def test_input_errors_exit_two(tmp_path: Path, seed: DjangoProject) -> None:
    status, _, err = migguard(tmp_path, "check", "--rev", "HEAD")
    assert status == 2 and "is not inside a git repository" in err and "Traceback" not in err
    status, _, err = migguard(seed.root, "check", "--rev", "no-such-branch")
    assert (status, err.strip()) == (2, "migguard: 'no-such-branch' is not a commit in this repository.")
    status, _, err = migguard(seed.root, "check", str(tmp_path / "missing"))
    assert status == 2 and "is not a directory" in err


BROKEN = {
    "syntax": ("dependencies = [('shop', '0001_initial')\n", "0002_bad.py:1", "is not valid Python"),
    "markers": ("<<<<<<< HEAD\nx = 1\n=======\nx = 2\n>>>>>>> other\n", "0002_bad.py:1", "conflict markers"),
    "no class": ("from django.db import migrations\n", "0002_bad.py:1", "has no top-level `class Migration`"),
    "missing parent": (migration("[('shop', '0001_nope')]"), "0002_bad.py:5", "depends on shop.0001_nope, which does not exist"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_migration_files_name_file_and_line(tmp_path: Path, case: str) -> None:
    project = DjangoProject(tmp_path / "p")
    text, where, message = BROKEN[case]
    write(project.add_app("shop", EMPTY_MODELS), {"0001_initial": migration(), "0002_bad": text})
    status, out, err = migguard(project.root, "check", ".")
    assert status == 1 and "Traceback" not in out + err
    line = next(line for line in out.splitlines() if message in line)
    assert line.startswith("error: shop/migrations/0002_bad.py ") and line.endswith(f"(shop/migrations/{where})")


def test_dynamic_dependency_warns_and_goes_on(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "p")
    write(project.add_app("shop", EMPTY_MODELS), {
        "0001_initial": migration(),
        "0002_dynamic": migration("[('shop', '0001_initial'), get_parent()]"),
        "max_migration": "",
    })
    (project.root / "shop/migrations/max_migration.py").unlink()
    (project.root / "shop/migrations/max_migration.txt").write_text("0002_dynamic\n")
    status, out, _ = migguard(project.root, "check", ".")
    assert status == 0
    assert "warning: shop/migrations/0002_dynamic.py dynamic entry in dependencies cannot be read statically; ignored" \
           " (shop/migrations/0002_dynamic.py:5)" in out


def test_cycle(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "p")
    write(project.add_app("shop", EMPTY_MODELS), {
        "0001_initial": migration("[('shop', '0002_b')]"), "0002_b": migration("[('shop', '0001_initial')]")})
    status, out, _ = migguard(project.root, "check", ".")
    assert status == 1
    assert "is part of a dependency cycle: shop.0001_initial -> shop.0002_b -> shop.0001_initial" in out


def test_two_packages_with_one_label(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "p")
    write(project.add_app("shop", EMPTY_MODELS), {"0001_initial": migration()})
    write(project.add_app("legacy.shop", EMPTY_MODELS), {"0001_initial": migration()})
    status, out, _ = migguard(project.root, "check", ".")
    assert status == 1
    assert ("error: shop/migrations and legacy/shop/migrations both hold migrations of app 'shop'; "
            "set one app's path under `apps` in [tool.migguard] (shop/migrations:1)") in out
    (project.root / "pyproject.toml").write_text('[tool.migguard]\napps = {old_shop = "legacy/shop"}\nlockfile = ""\n')
    status, out, _ = migguard(project.root, "check", ".", "--format", "json")
    assert status == 0 and [app["app"] for app in json.loads(out)["apps"]] == ["old_shop", "shop"]


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe0002\n", "is not UTF-8 text"),
    (b"0001_initial\nthis is not a name!\n", "line 2 is not a migration name"),
    (b"<<<<<<< HEAD\n0002_a\n=======\n0002_b\n>>>>>>> b\n", "holds git conflict markers"),
    (b"0001_initial\n0002_b\n", "names 2 migrations (0001_initial, 0002_b); run `migguard fix`"),
    (b"0009_gone\n", "names 0009_gone, which does not exist"),
    (b"0001_initial\n", "names 0001_initial, but the leaf is 0002_b"),
])
def test_bad_lock_files(tmp_path: Path, content: bytes, expected: str) -> None:
    project = DjangoProject(tmp_path / "p")
    write(project.add_app("shop", EMPTY_MODELS), {"0001_initial": migration(), "0002_b": migration("[('shop', '0001_initial')]")})
    (project.root / "shop/migrations/max_migration.txt").write_bytes(content)
    status, out, err = migguard(project.root, "check", ".")
    assert status == 1 and "Traceback" not in err
    assert f"shop/migrations/max_migration.txt {expected}" in out


def test_no_migration_is_ever_imported(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "p")
    canary = tmp_path / "imported"
    write(project.add_app("shop", EMPTY_MODELS), {
        "0001_initial": f"open({str(canary)!r}, 'w').write('ran')\nraise SystemExit(3)\n" + migration(),
        "0002_b": migration("[('shop', '0001_initial')]",
                            header=f"from django.db import migrations\nopen({str(canary)!r}, 'w')\n"),
    })
    (project.root / "shop/migrations/__init__.py").write_text(f"open({str(canary)!r}, 'w')\n")
    status, out, _ = migguard(project.root, "check", ".", "--format", "json")
    assert json.loads(out)["apps"][0]["leaves"] == ["0002_b"]
    assert not canary.exists()


@pytest.mark.parametrize("args", [["--help"], ["check"], ["check", "--rev", "HEAD"]])
def test_help_and_check_import_neither_libcst_nor_django(seed: DjangoProject, args: list[str]) -> None:
    done = run([sys.executable, "-X", "importtime", "-m", "migguard", *args], seed.root, check=False)
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "migguard" in imported
    assert "libcst" not in imported and "django" not in imported


def test_two_cold_checks_at_once_agree_and_leave_a_good_cache(merged: DjangoProject) -> None:
    import subprocess

    from conftest import clean_env

    command = [sys.executable, "-m", "migguard", "check", "--rev", "HEAD", "--format", "json"]
    runs = [subprocess.Popen(command, cwd=merged.root, stdout=subprocess.PIPE, text=True, env=clean_env()) for _ in range(4)]
    outputs = [process.communicate()[0] for process in runs]
    assert len(set(outputs)) == 1 and json.loads(outputs[0])["conflicts"] == ["api"]
    assert not list((merged.root / ".git/migguard").rglob(".tmp-*"))
    assert migguard(merged.root, "check", "--rev", "HEAD", "--format", "json")[1] == outputs[0]


def test_a_mangled_operations_list_is_reported(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "p")
    text = migration("[('shop', '0001_initial')]").replace("operations = []", "operations = [\n        migrations.RunSQL('x',\n")
    write(project.add_app("shop", EMPTY_MODELS), {"0001_initial": migration(), "0002_bad": text})
    status, out, _ = migguard(project.root, "check", ".")
    assert status == 1
    assert "error: shop/migrations/0002_bad.py is not valid Python" in out
