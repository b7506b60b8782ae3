"""migguard's leaves and conflicts equal Django's MigrationLoader(None) on Django-written migrations."""
from __future__ import annotations

from pathlib import Path

from conftest import DjangoProject, diverge, git, person_models

from migguard.checking import check_worktree


def leaves_by_path(result: dict, root: Path) -> dict[str, list[str]]:
    return {str((root / app["path"]).resolve()): sorted(app["leaves"]) for app in result["apps"]}


def assert_agrees(project: DjangoProject) -> dict:
    django = project.loader()
    assert "error" not in django, django
    ours = check_worktree(project.root)
    ours_by_label = {app["app"]: sorted(app["leaves"]) for app in ours["apps"]}
    theirs = {label: sorted(names) for label, names in django["leaves"].items() if label in ours_by_label}
    assert ours_by_label == theirs
    assert sorted(ours["conflicts"]) == sorted(django["conflicts"])
    by_path = leaves_by_path(ours, project.root)
    for label, path in django["paths"].items():
        if label in django["leaves"] and str(Path(path).resolve()) in by_path:
            assert by_path[str(Path(path).resolve())] == sorted(django["leaves"][label])
    return ours


def test_diverged_branches_merged_have_two_leaves(seed: DjangoProject) -> None:
    diverge(seed, ["country = models.CharField(max_length=50, default='')"],
            ["discipline = models.CharField(max_length=50, default='')"])
    assert_agrees(seed)
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    result = assert_agrees(seed)
    assert result["conflicts"] == ["api"]
    assert sorted(result["apps"][0]["leaves"]) == ["0003_person_country", "0003_person_discipline"]
    assert result["ok"] is False


def test_chains_on_both_sides(seed: DjangoProject) -> None:
    diverge(seed, ["country = models.CharField(max_length=50, default='')", "city = models.CharField(max_length=50, default='')"],
            ["discipline = models.CharField(max_length=50, default='')", "team = models.CharField(max_length=50, default='')",
             "age = models.IntegerField(default=0)"])
    git(seed.root, "merge", "-q", "--no-edit", "feature")
    result = assert_agrees(seed)
    assert sorted(result["apps"][0]["leaves"]) == ["0004_person_city", "0005_person_age"]


def test_cross_app_dependencies_and_squash(seed: DjangoProject) -> None:
    seed.add_app("shop", """
        from django.db import models
        from api.models import Person


        class Order(models.Model):
            buyer = models.ForeignKey(Person, on_delete=models.CASCADE)
    """)
    seed.makemigrations("shop")
    seed.models("api", person_models("email = models.EmailField(blank=True)", "age = models.IntegerField(default=0)"))
    seed.makemigrations("api")
    seed.manage("squashmigrations", "api", "0003", "--no-input")
    result = assert_agrees(seed)
    assert result["ok"] is False  # no lock files yet
    assert {app["lock"] for app in result["apps"]} == {"missing"}
    # the replaced files removed: Django and migguard still agree
    for name in ("0001_initial", "0002_prev"):
        (seed.root / "api" / "migrations" / f"{name}.py").unlink()
    squashed = next((seed.root / "api" / "migrations").glob("0001_squashed_*.py"))
    result = assert_agrees(seed)
    leaves = {app["app"]: app["leaves"] for app in result["apps"]}
    assert leaves["api"] == [squashed.stem]
    assert squashed.exists()
