"""Adoption as a new user would try it: one git repository laid out from the migrations that wagtail,
django-oscar, django-cms, django-allauth and django-taggit ship (each app's folder as in its package,
`apps.py` along, real `replaces` and cross-app dependencies). `migguard install` then `migguard check`
exits 0, and every app has the label and leaves Django's own loader gives it with those apps installed."""
from __future__ import annotations

import json
import shutil
import sys
import sysconfig
from pathlib import Path

from conftest import LOADER_SCRIPT, clean_env, git, run
from real_projects import SETTINGS

PACKAGES = ("wagtail", "oscar", "cms", "menus", "allauth", "taggit")


def migguard(cwd: Path, *args: str) -> tuple[int, str]:
    done = run([sys.executable, "-m", "migguard", *args], cwd, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout + done.stderr


def lay_out(site_packages: Path, migrations: Path, repository: Path) -> str:
    """Copy one app's migrations package, its `apps.py` and the `__init__.py` files above it; its path."""
    relative = migrations.relative_to(site_packages)
    shutil.copytree(migrations, repository / relative, ignore=shutil.ignore_patterns("__pycache__"))
    app = migrations.parent
    if (app / "apps.py").exists():
        shutil.copy(app / "apps.py", repository / relative.parent / "apps.py")
    for parent in relative.parents:
        if (site_packages / parent / "__init__.py").exists():
            (repository / parent / "__init__.py").touch()
    return relative.as_posix()


def test_wagtail_oscar_cms_allauth_taggit_in_one_repository(tmp_path: Path) -> None:
    (tmp_path / "adopt_settings.py").write_text(SETTINGS)
    done = run([sys.executable, "-c", LOADER_SCRIPT], tmp_path,
               env=clean_env(DJANGO_SETTINGS_MODULE="adopt_settings", PYTHONPATH=str(tmp_path)))
    django = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in django, django
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    repository = tmp_path / "project"
    expected: dict[str, tuple[str, list[str]]] = {}
    for label, path in sorted(django["paths"].items()):
        migrations = Path(path).resolve()
        if label in django["leaves"] and migrations.relative_to(site_packages).parts[0] in PACKAGES:
            expected[label] = (lay_out(site_packages, migrations, repository), sorted(django["leaves"][label]))
    assert {"wagtailcore", "wagtailimages", "catalogue", "order", "cms", "menus", "account", "socialaccount",
            "allauth_idp_oidc", "taggit"} <= set(expected)
    assert len(expected) >= 30
    git(repository, "init", "-q", "-b", "main")
    git(repository, "add", "-A")
    git(repository, "commit", "-qm", "migrations of five packages")
    status, out = migguard(repository, "install")
    assert status == 0 and "several leaves" not in out, out
    assert out.count("lock file ") == len(expected), out
    status, out = migguard(repository, "check")
    assert status == 0, out
    assert out.splitlines()[-1] == f"ok: {len(expected)} apps with migrations, one leaf each, lock files in step."
    git(repository, "add", "-A")
    git(repository, "commit", "-qm", "install migguard")
    status, out = migguard(repository, "check", "--rev", "HEAD", "--format", "json")
    assert status == 0, out
    ours = {app["app"]: (app["path"], app["leaves"]) for app in json.loads(out)["apps"]}
    assert ours == expected
    assert django["conflicts"] == {}
