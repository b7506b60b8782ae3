"""The migrations shipped by wagtail, django-oscar, django-cms and django-allauth, read where pip installed
them: migguard's leaves equal Django's, app by app."""
from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

from conftest import LOADER_SCRIPT, run, clean_env
from real_projects import SETTINGS

from migguard.project import load_worktree


def test_installed_packages_leaves_equal_djangos(tmp_path: Path) -> None:
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
