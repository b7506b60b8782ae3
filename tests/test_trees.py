"""`trees.after` computes the tree `git write-tree` writes for an index from HEAD's tree objects and the staged
changes alone: random changes (files edited, added in new nested folders, deleted, whole folders removed,
made executable, symlinks), in SHA-1 and SHA-256 repositories."""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from conftest import git
from migguard import trees
from migguard.blobs import read_objects
from migguard.changes import parse_raw

FOLDERS = ["", "a", "a/b", "a/b/c", "d", "d-e", "d.e", "f/migrations"]


def random_change(root: Path, chance: random.Random) -> None:
    files = [path for path in root.rglob("*") if (path.is_file() or path.is_symlink()) and ".git" not in path.parts]
    kind = chance.choice(["edit", "add", "add", "delete", "executable", "symlink", "new folder", "remove folder"])
    if kind == "remove folder":
        shutil.rmtree(root / chance.choice(FOLDERS[1:]), ignore_errors=True)
    elif kind == "edit" and files:
        chance.choice(files).write_text(f"edited {chance.random()}\n")
    elif kind == "delete" and files:
        chance.choice(files).unlink()
    elif kind == "executable" and files:
        target = chance.choice(files)
        if not target.is_symlink():
            target.chmod(0o755)
    elif kind == "symlink":
        link = root / chance.choice(FOLDERS) / f"link{chance.randrange(100)}"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists() and not link.is_symlink():
            os.symlink("target", link)
    else:
        folder = chance.choice(FOLDERS) if kind == "add" else f"new{chance.randrange(5)}/deeper"
        path = root / folder / chance.choice(["x.py", "0002_b.py", "z", "a-b", "a.b", "ab", "a"])
        if path.is_dir():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{chance.random()}\n")


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_tree_of_an_index_is_computed_as_git_writes_it(tmp_path: Path, object_format: str) -> None:
    for seed in range(12):
        chance = random.Random(seed)
        root = tmp_path / f"{object_format}-{seed}"
        root.mkdir()
        git(root, "init", "-q", f"--object-format={object_format}")
        for folder in FOLDERS:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / "readme").write_text(f"{folder}\n")
            (root / folder / "0001_a.py").write_text("x\n")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "base")
        head = git(root, "rev-parse", "HEAD^{tree}").stdout.strip()
        for _ in range(chance.randrange(1, 8)):
            random_change(root, chance)
        git(root, "add", "-A")
        out = git(root, "diff-index", "--cached", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "HEAD").stdout
        changes = parse_raw(out.encode("utf-8", "surrogateescape"))
        assert changes is not None
        folders = trees.folders([change[4] for change in changes])
        objects = read_objects(root, [trees.object_name(head, folder) for folder in folders], 1 << 20)
        assert objects is not None
        computed = trees.after({folder: objects[trees.object_name(head, folder)][1]
                                if trees.object_name(head, folder) in objects else None for folder in folders},
                               changes, len(head))
        assert computed == git(root, "write-tree").stdout.strip(), (seed, changes)


def test_a_blob_is_named_as_git_names_it(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    for data in ("", "0002_more\n", "ünïcode\n"):
        assert trees.blob_id(data.encode(), 40) == git(tmp_path, "hash-object", "--stdin", input=data).stdout.strip()
