"""`migguard demo` tells the seed story and exits 0 only when every step did what it said."""
from __future__ import annotations

import sys
from pathlib import Path

from conftest import run


def test_demo_runs_the_story_and_keeps_the_repository(tmp_path: Path) -> None:
    keep = tmp_path / "story"
    done = run([sys.executable, "-m", "migguard", "demo", "--keep", str(keep)], tmp_path)
    out = done.stdout
    for claim in ("ok: git merge itself wrote 0003_merge_0002_person_country_0002_person_discipline.py",
                  "ok: it is inside the merge commit; nothing left to do",
                  "ok: bob's migration was renumbered to 0003_person_discipline.py, after alice's",
                  "ok: git push is refused: the remote never sees two leaves",
                  "ok: after `migguard fix` the push goes through",
                  "Applying api.0003_person_discipline... OK"):
        assert claim in out
    assert out.rstrip().endswith(f"The repository is in {keep}.")
    assert "  |     dependencies = [\n  |         ('api', '0002_person_country')," in out
    branches = run(["git", "branch", "--format=%(refname:short)"], keep).stdout.split()
    assert sorted(branches) == ["alice", "alice-2", "bob", "bob-2", "carol", "dave", "main"]
    again = run([sys.executable, "-m", "migguard", "demo", "--keep", str(keep)], tmp_path, check=False)
    assert again.returncode == 2 and "is not empty" in again.stdout
