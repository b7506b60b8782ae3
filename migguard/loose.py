"""What git keeps plainly on disk, read without starting git: this work tree's git directories, HEAD's commit
from a loose ref, loose objects (each checked against its id), and from them the changes between two commits.
A hook that just saw git write them (a commit, a merge, `git add`) finds them so; anything else (packed refs or
objects, alternates, reftable, replace refs, grafts, a shallow history, a moved GIT_DIR) gives None, and the
caller asks git."""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from migguard.changes import Change

HEX = frozenset("0123456789abcdef")
MAX_OBJECT = 4 << 20  # larger loose objects are left to git (a hook never needs one)


def git_dirs(root: str) -> tuple[str, str] | None:
    """(this work tree's git directory, the common one) when nothing in the environment moves them and
    `root/.git` is the directory (or, in a linked worktree or a submodule, names it); None when unsure."""
    if any(name in os.environ for name in ("GIT_DIR", "GIT_COMMON_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY")):
        return None
    found = dirs_at(root)
    return found if found is not None and os.path.isdir(found[0]) and os.path.isdir(found[1]) else None


def dirs_at(top: str) -> tuple[str, str] | None:
    """(the git directory `top/.git` is or names, its common directory), as written on disk (not checked to exist)."""
    git_dir = os.path.join(top, ".git")
    if not os.path.isdir(git_dir):
        line = _first_line(git_dir)
        if line is None or not line.startswith("gitdir:"):
            return None
        git_dir = os.path.join(top, line[len("gitdir:"):].strip())
    common = _first_line(os.path.join(git_dir, "commondir"))
    return git_dir, os.path.normpath(os.path.join(git_dir, common)) if common else git_dir


def head_commit(git_dir: str, common_dir: str) -> str | None:
    """HEAD's commit id when HEAD is detached or names a branch with a loose ref."""
    head = _first_line(os.path.join(git_dir, "HEAD"))
    if head is not None and head.startswith("ref: refs/heads/"):
        head = _first_line(os.path.join(common_dir, *head[len("ref: "):].split("/")))
    return head if head is not None and _is_id(head) else None


def commit_tree(common_dir: str, commit: str) -> tuple[str, str | None] | None:
    """A loose commit's tree and first parent (None for a root commit)."""
    found = read_object(common_dir, commit)
    if found is None or found[0] != "commit":
        return None
    lines = found[1].split(b"\n", 2)
    if not lines[0].startswith(b"tree "):
        return None
    tree = lines[0][5:].decode("ascii", "replace")
    parent = lines[1][7:].decode("ascii", "replace") if len(lines) > 1 and lines[1].startswith(b"parent ") else None
    if not _is_id(tree) or parent is not None and not _is_id(parent):
        return None
    return tree, parent


def first_parent_trees(root: str, count: int) -> list[str]:
    """The trees of HEAD and its first parents, nearest first, at most `count`, as far as HEAD is plainly on disk
    and the commits are loose objects (possibly none)."""
    dirs = git_dirs(root)
    commit = head_commit(*dirs) if dirs else None
    found: list[str] = []
    while dirs and commit and len(found) < count:
        read = commit_tree(dirs[1], commit)
        if read is None:
            break
        found.append(read[0])
        commit = read[1]
    return found


def tree_changes(root: str, old: str, new: str) -> list[Change] | None:
    """What `git diff-tree -r --raw --no-renames OLD NEW` prints, from loose objects (`trees.changes_between`);
    None when a revision or an object is not plainly on disk."""
    dirs = git_dirs(root)
    if dirs is None or not _plain_history(dirs[1]):
        return None
    old_tree, new_tree = tree_of(*dirs, old), tree_of(*dirs, new)
    if old_tree is None or new_tree is None or len(old_tree) != len(new_tree):
        return None
    from migguard.trees import changes_between

    return changes_between(lambda oid: read_object(dirs[1], oid), old_tree, new_tree)


def tree_of(git_dir: str, common_dir: str, revision: str) -> str | None:
    """The tree of a commit or tree id, HEAD, HEAD^1 or ORIG_HEAD, read from loose objects; None for anything else."""
    if revision in ("HEAD", "HEAD^1"):
        commit = head_commit(git_dir, common_dir)
        if commit is not None and revision == "HEAD^1":
            read = commit_tree(common_dir, commit)
            commit = read[1] if read is not None else None
        revision = commit or ""
    elif revision == "ORIG_HEAD":
        revision = _first_line(os.path.join(git_dir, "ORIG_HEAD")) or ""
    found = read_object(common_dir, revision) if _is_id(revision) else None
    if found is None or found[0] not in ("commit", "tree"):
        return None
    if found[0] == "tree":
        return revision
    read = commit_tree(common_dir, revision)
    return read[0] if read is not None else None


def _plain_history(common_dir: str) -> bool:
    """No replace refs, grafts or shallow history, which make git see other objects or parents than those on disk."""
    if "GIT_REPLACE_REF_BASE" in os.environ or any(
            os.path.exists(os.path.join(common_dir, *name)) for name in (("shallow",), ("info", "grafts"))):
        return False
    try:
        if os.listdir(os.path.join(common_dir, "refs", "replace")):
            return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        with open(os.path.join(common_dir, "packed-refs"), "rb") as stream:
            packed = stream.read(MAX_OBJECT + 1)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return len(packed) <= MAX_OBJECT and b" refs/replace/" not in packed


READ: dict[tuple[str, str], tuple[str, bytes]] = {}  # what this process has read, by directory and id: an id names its bytes
MAX_READ = 16 << 20  # bytes kept at most


def read_object(common_dir: str, oid: str) -> tuple[str, bytes] | None:
    """A loose object's kind and bytes, when its file holds exactly the object with this id; each is read once per
    process (a hook reads HEAD's trees for the staged changes and again for the commit's tree)."""
    found = READ.get((common_dir, oid))
    if found is None:
        found = _read_object(common_dir, oid)
        if found is not None:
            if sum(len(data) for _, data in READ.values()) + len(found[1]) > MAX_READ:
                READ.clear()
            READ[(common_dir, oid)] = found
    return found


def _read_object(common_dir: str, oid: str) -> tuple[str, bytes] | None:
    if not _is_id(oid):
        return None
    try:
        with open(os.path.join(common_dir, "objects", oid[:2], oid[2:]), "rb") as stream:
            data = stream.read(MAX_OBJECT + 1)
    except OSError:
        return None
    if len(data) > MAX_OBJECT:
        return None
    import zlib

    try:
        raw = zlib.decompressobj().decompress(data, MAX_OBJECT + 64)
    except zlib.error:
        return None
    header, nul, body = raw.partition(b"\0")
    kind, _, size = header.partition(b" ")
    if not nul or not size.isdigit() or int(size) != len(body) or _name(raw, len(oid)) != oid:
        return None
    return kind.decode("ascii", "replace"), body


def _name(raw: bytes, length: int) -> str:
    """The id git gives an object whose header and bytes are `raw`."""
    from migguard.trees import object_digest

    return object_digest(length)(raw)


def _is_id(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= HEX


def _first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.readline(4096).strip()
    except (OSError, UnicodeDecodeError):
        return None
