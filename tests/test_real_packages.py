"""The migrations shipped by wagtail and django-oscar: migguard's leaves equal Django's, app by app."""
from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

from conftest import LOADER_SCRIPT, run, clean_env

from migguard.project import load_worktree

SETTINGS = """
from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *  # noqa: F401,F403  (settings oscar reads at import time)
SECRET_KEY = "x"
INSTALLED_APPS = OSCAR_APPS + [
    "wagtail.contrib.forms", "wagtail.contrib.redirects", "wagtail.contrib.settings",
    "wagtail.contrib.search_promotions", "wagtail.contrib.simple_translation",
    "wagtail.embeds", "wagtail.sites", "wagtail.users", "wagtail.snippets", "wagtail.documents",
    "wagtail.images", "wagtail.search", "wagtail.admin", "wagtail.locales", "wagtail",
    "modelcluster", "taggit",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SITE_ID = 1
STATIC_URL = "/static/"
"""


def test_wagtail_and_oscar_leaves_equal_djangos(tmp_path: Path) -> None:
    (tmp_path / "real_settings.py").write_text(SETTINGS)
    done = run([sys.executable, "-c", LOADER_SCRIPT], tmp_path,
               env=clean_env(DJANGO_SETTINGS_MODULE="real_settings", PYTHONPATH=str(tmp_path)))
    django = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in django, django
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    project = load_worktree(site_packages)
    ours = {str((site_packages / app.path).resolve()): label for label, app in project.apps.items()}
    compared = 0
    for label, path in django["paths"].items():
        if label not in django["leaves"]:
            continue
        our_label = ours[str(Path(path).resolve())]
        assert project.leaves(our_label) == sorted(django["leaves"][label]), label
        assert our_label == label
        compared += 1
    assert compared >= 30
    assert django["conflicts"] == {}
    assert not [label for label in project.conflicts() if str((site_packages / project.apps[label].path).resolve())
                in {str(Path(p).resolve()) for p in django["paths"].values()}]
    assert [issue for issue in project.issues if issue.fatal and "/wagtail/" in "/" + issue.path] == []


def test_fast_reader_equals_full_parse_on_every_installed_migration() -> None:
    from migguard import reader

    site_packages = Path(sysconfig.get_paths()["purelib"])
    paths = [p for p in site_packages.rglob("migrations/*.py") if p.name != "__init__.py"]
    assert len(paths) > 300
    for path in paths:
        text = path.read_text(encoding="utf-8")
        fast, full = reader.read_graph_fields(text), reader.read_full(text)
        assert fast[:4] == full[:4], path
