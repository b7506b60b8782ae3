"""What git knows about migration names a database recorded: the rename journal, other branches, history.

Plain git through subprocess and migguard's static reader; no Django."""
from __future__ import annotations

from pathlib import Path

from migguard import gitio, reader

Key = tuple[str, str]


def journal(root: str) -> dict[Key, str]:
    """`<git-dir>/migguard/renames.tsv` as (app, old name) -> new name; a later line wins."""
    try:
        path = gitio.common_dir(root) / "migguard" / "renames.tsv"
        lines = path.read_text(encoding="utf-8").splitlines()
    except (gitio.GitError, OSError, UnicodeDecodeError):
        return {}
    renames: dict[Key, str] = {}
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 4 and parts[2] != parts[3]:
            renames[(parts[1], parts[2])] = parts[3]
    return renames


def follow(renames: dict[Key, str], key: Key, exists: set[str]) -> list[str] | None:
    """The names `key` went through to a name in `exists` (old first), or None when the chain ends elsewhere."""
    chain = [key[1]]
    while (key[0], chain[-1]) in renames and len(chain) <= len(renames):
        chain.append(renames[(key[0], chain[-1])])
        if chain[-1] in exists:
            return chain
    return None


def branches_holding(root: str, paths: list[str]) -> dict[str, list[str]]:
    """For each path, the local and remote-tracking branches whose tip holds it (one git call per question)."""
    try:
        refs = gitio.text(["for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/remotes"], root).split()
    except gitio.GitError:
        return {}
    refs = [ref for ref in refs if not ref.endswith("/HEAD")]
    questions = [(ref, path) for path in paths for ref in refs]
    if not questions:
        return {}
    try:
        out = gitio.run(["cat-file", "--batch-check"], root,
                        input="".join(f"{ref}:{path}\n" for ref, path in questions).encode()).decode()
    except gitio.GitError:
        return {}
    found: dict[str, list[str]] = {}
    for (ref, path), answer in zip(questions, out.splitlines(), strict=False):
        if not answer.endswith("missing"):
            found.setdefault(path, []).append(ref)
    return found


def operations_in_history(root: str, path: str) -> tuple[str, ...] | None:
    """The operations of the last version of `path` that any commit (branches, reflogs) held; None if never."""
    try:
        sha = gitio.text(["log", "--all", "--reflog", "--no-renames", "--diff-filter=AM", "-n", "1",
                          "--format=%H", "--", path], root)
        if not sha:
            return None
        text = gitio.run(["show", f"{sha}:{path}"], root).decode("utf-8")
    except (gitio.GitError, UnicodeDecodeError):
        return None
    return operations_of(text)


def operations_of(text: str) -> tuple[str, ...] | None:
    """A migration's operations, each as its parsed form (names, fields, options), or None when unreadable."""
    source = reader.read_full(text)
    if source.operations is None or any(problem.fatal for problem in source.problems):
        return None
    return tuple(operation.fingerprint for operation in source.operations)


def operations_on_disk(path: Path) -> tuple[str, ...] | None:
    try:
        return operations_of(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
