"""`trees.after` computes the tree `git write-tree` writes for an index from HEAD's tree objects and the staged
changes alone: random changes (files edited, added in new nested folders, deleted, whole folders removed,
made executable, symlinks), in SHA-1 and SHA-256 repositories; and `loose.tree_changes` reads the changes between
two commits as `git diff-tree` prints them, or leaves them to git."""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from conftest import git
from migguard import changes, indextree, loose, trees
from migguard.blobs import read_objects
from migguard.changes import Change, parse_raw

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


def committed_base(root: Path, object_format: str) -> Path:
    """A repository whose one commit holds a readme and a migration-like file in each of FOLDERS."""
    root.mkdir()
    git(root, "init", "-q", f"--object-format={object_format}")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "readme").write_text(f"{folder}\n")
        (root / folder / "0001_a.py").write_text("x\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def randomly_staged(tmp_path: Path, object_format: str, seed: int) -> Path:
    """`committed_base` with one to seven random changes staged (`git add -A`), the same for the same seed."""
    chance = random.Random(seed)
    root = committed_base(tmp_path / f"{object_format}-{seed}", object_format)
    for _ in range(chance.randrange(1, 8)):
        random_change(root, chance)
    git(root, "add", "-A")
    return root


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_tree_of_an_index_is_computed_as_git_writes_it(tmp_path: Path, object_format: str) -> None:
    for seed in range(12):
        root = randomly_staged(tmp_path, object_format, seed)
        head = git(root, "rev-parse", "HEAD^{tree}").stdout.strip()
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


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_changes_between_two_commits_are_read_as_git_diff_tree_prints_them(tmp_path: Path, object_format: str) -> None:
    answered = 0
    for seed in range(100, 116):
        root = randomly_staged(tmp_path, object_format, seed)
        git(root, "commit", "-qm", "changed", "--allow-empty")
        out = git(root, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "HEAD^1", "HEAD").stdout
        expected = parse_raw(out.encode("utf-8", "surrogateescape"))
        found = loose.tree_changes(str(root), "HEAD^1", "HEAD")
        assert found is None or found == expected, (seed, found, expected)
        answered += found is not None
        assert changes.tree_changes(root, "HEAD^1", "HEAD") == expected
        backwards = parse_raw(git(root, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "HEAD",
                                  "HEAD^1").stdout.encode("utf-8", "surrogateescape"))
        assert loose.tree_changes(str(root), "HEAD", "HEAD^1") in (None, backwards)
        tree, parent_tree = (git(root, "rev-parse", name).stdout.strip() for name in ("HEAD^{tree}", "HEAD^1^{tree}"))
        assert loose.tree_changes(str(root), parent_tree, tree) == found
    assert answered >= 12


def test_history_git_sees_otherwise_is_left_to_git(tmp_path: Path) -> None:
    """Replace refs (loose or packed), grafts and a shallow clone make git see other objects than those on disk;
    packed objects cannot be read: git is asked."""
    root = tmp_path / "repo"
    (root / "a").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for number in range(3):
        (root / "a" / f"{number}.py").write_text(f"{number}\n")
        git(root, "add", "-A")
        git(root, "commit", "-qm", str(number))
    expected = [("000000", "100644", git(root, "rev-parse", "HEAD:a/2.py").stdout.strip(), "A", "a/2.py")]
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") == expected
    git(root, "replace", "HEAD~1", "HEAD~2")
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") is None
    assert len(changes.tree_changes(root, "HEAD^1", "HEAD") or []) == 2  # git sees HEAD~2 as the parent
    git(root, "pack-refs", "--all")
    (root / ".git/refs/heads/main").write_text(git(root, "rev-parse", "HEAD").stdout)  # the branch loose again
    assert not list((root / ".git/refs/replace").iterdir()) and (root / ".git/refs/heads/main").is_file()
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") is None
    git(root, "replace", "-d", git(root, "rev-parse", "HEAD~1").stdout.strip())
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") == expected
    (root / ".git/info").mkdir(exist_ok=True)
    (root / ".git/info/grafts").write_text("")
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") is None
    (root / ".git/info/grafts").unlink()
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{root}", str(shallow))
    assert loose.tree_changes(str(shallow), "HEAD^1", "HEAD") is None
    assert changes.tree_changes(shallow, "HEAD^1", "HEAD") == expected
    git(root, "gc", "-q")
    assert loose.tree_changes(str(root), "HEAD^1", "HEAD") is None
    assert changes.tree_changes(root, "HEAD^1", "HEAD") == expected


def recorded(root: Path) -> list[Change] | None:
    return indextree.staged_changes(str(root))


def diff_index(root: Path) -> list[Change] | None:
    out = git(root, "diff-index", "--cached", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", "HEAD").stdout
    return parse_raw(out.encode("utf-8", "surrogateescape"))


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_the_changes_git_commit_is_about_to_commit_are_read_from_the_index_as_diff_index_prints_them(
        tmp_path: Path, object_format: str) -> None:
    """What the pre-commit hook reads instead of starting `git diff-index`: the tree the index records for itself
    once `git commit` (here `git write-tree`) has brought that record up to date; none before."""
    answered = 0
    for seed in range(200, 212):
        root = randomly_staged(tmp_path, object_format, seed)
        if diff_index(root):
            assert recorded(root) is None  # `git add` left the record out of date
        git(root, "write-tree")
        found = recorded(root)
        assert found is None or found == diff_index(root), seed
        answered += found is not None
    assert answered >= 10


@pytest.mark.parametrize("shape", ["index version 4", "named after the extension", "intent to add", "split index"])
def test_an_index_of_another_shape_is_read_as_diff_index_prints_it_or_left_to_git(tmp_path: Path, shape: str) -> None:
    root = committed_base(tmp_path / "repo", "sha1")
    (root / "a" / "0002_b.py").write_text("new\n")
    if shape == "named after the extension":
        for name in ("TREE", "TREEx", "REUC", "TREE\n1 2"):
            (root / "d" / name).mkdir()
            (root / "d" / name / "TREE").write_text(name + "\n")
    git(root, "add", "-A")
    if shape == "index version 4":
        git(root, "update-index", "--index-version", "4")
    if shape == "intent to add":
        (root / "a" / "later.py").write_text("later\n")
        git(root, "add", "--intent-to-add", "a/later.py")
    if shape == "split index":
        git(root, "update-index", "--split-index")
    git(root, "write-tree")
    expected = diff_index(root)
    assert expected and any(change[4] == "a/0002_b.py" for change in expected)
    if shape == "split index":
        assert recorded(root) is None
    elif shape == "intent to add":
        assert recorded(root) in (None, expected)
    else:
        assert recorded(root) == expected


@pytest.mark.parametrize("damage", ["top entry counts fewer entries", "extensions not framed up to the checksum"])
def test_an_index_record_that_does_not_add_up_is_left_to_git(tmp_path: Path, damage: str) -> None:
    root = committed_base(tmp_path / "repo", "sha1")
    (root / "a" / "0002_b.py").write_text("new\n")
    git(root, "add", "-A")
    git(root, "write-tree")
    assert recorded(root) == diff_index(root)
    index = root / ".git" / "index"
    data = index.read_bytes()
    extension = data.rindex(b"TREE")
    entries = int.from_bytes(data[8:12], "big")
    if damage == "top entry counts fewer entries":
        top = b"\0%d " % entries
        assert data[extension + 8:].startswith(top)
        data = data[:extension + 8] + b"\0%d " % (entries - 1) + data[extension + 8 + len(top):]
        if len(str(entries - 1)) < len(str(entries)):  # keep the extension's size right
            data = data[:extension + 7] + bytes([data[extension + 7] - 1]) + data[extension + 8:]
    else:
        data = data[:-20] + b"JUNK\0\0\0\x09" + data[-20:]
    index.write_bytes(data)
    assert recorded(root) is None


def test_an_index_record_larger_than_the_first_read_is_found(tmp_path: Path) -> None:
    root = committed_base(tmp_path / "repo", "sha1")
    for number in range(3000):  # a folder each: the index's record of its trees outgrows indextree's first read
        (root / "many" / f"folder{number}").mkdir(parents=True)
        (root / "many" / f"folder{number}" / "0001_a.py").write_text(f"{number}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "many folders")
    (root / "many" / "folder7" / "0002_b.py").write_text("new\n")
    git(root, "add", "-A")
    git(root, "write-tree")
    index = (root / ".git" / "index").read_bytes()
    assert len(index) - index.rindex(b"TREE") > indextree.TAILS[0]
    found = recorded(root)
    assert found is not None and found == diff_index(root) and [change[4] for change in found] == ["many/folder7/0002_b.py"]
