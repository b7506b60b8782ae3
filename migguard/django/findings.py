"""What is wrong with a database's recorded migrations, from the rows, the files and git; no Django here."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from migguard.django import history

Key = tuple[str, str]
REPAIRABLE = ("renamed", "both_names")
STOPS_MIGRATE = (*REPAIRABLE, "superseded")  # the guarded migrate stops before any SQL for these


class Facts(NamedTuple):
    """What the database and Django's loader said: rows, each app's migration folder and files."""

    recorded: list[Key]
    folders: dict[str, str]
    on_disk: dict[str, list[str]]
    replaced: list[Key]


class Finding(NamedTuple):
    code: str
    app: str
    migrations: list[str]
    message: str
    branch: str = ""

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {"code": self.code, "app": self.app, "migrations": self.migrations, "message": self.message}
        if self.branch:
            found["branch"] = self.branch
        return found


def classify(facts: Facts, root: str) -> list[Finding]:
    """One finding per recorded migration that this checkout does not have."""
    recorded = set(facts.recorded)
    replaced = set(facts.replaced)
    disk = {app: set(names) for app, names in facts.on_disk.items()}
    strays = sorted(key for key in recorded
                    if key[0] in facts.folders and key[1] not in disk.get(key[0], ()) and key not in replaced)
    if not strays:
        return []
    renames = history.journal(root)
    findings: list[Finding] = []
    left: list[Key] = []
    for key in strays:
        chain = history.follow(renames, key, disk.get(key[0], set()))
        if chain:
            findings.append(_renamed(key[0], chain, (key[0], chain[-1]) in recorded))
        else:
            left.append(key)
    paths = {key: _repository_path(root, facts.folders[key[0]], key[1]) for key in left}
    holders = history.branches_holding(root, [path for path in paths.values() if path])
    for key in left:
        path = paths[key]
        branches = holders.get(path, []) if path else []
        if branches:
            findings.append(Finding(
                "other_branch", key[0], [key[1]],
                f"{key[0]}.{key[1]} is recorded but exists only on {', '.join(branches)}: this database holds "
                f"that branch's schema; on {branches[0]}, reverse it (`manage.py migrate {key[0]} <previous>`) "
                f"before switching, or switch back", branches[0]))
            continue
        new = _same_operations(root, path, facts, key, recorded) if path else None
        if new:
            findings.append(_renamed(key[0], [key[1], new], (key[0], new) in recorded, " (found in git history)"))
            continue
        findings.append(Finding("unknown", key[0], [key[1]],
                                f"{key[0]}.{key[1]} is recorded but found nowhere: not in this checkout, "
                                f"the rename journal or any branch, and no migration here has its operations"))
    return findings


def _renamed(app: str, chain: list[str], new_recorded: bool, how: str = "") -> Finding:
    old, new = chain[0], chain[-1]
    via = f" (via {', '.join(chain[1:-1])})" if len(chain) > 2 else ""
    if new_recorded:
        return Finding("both_names", app, [old, new],
                       f"{app}.{old} and {app}.{new} are both recorded: one migration under its old and new "
                       f"name{via}{how}; the stale row {old} can go (`migguard db repair`)")
    return Finding("renamed", app, [old, new],
                   f"{app}.{old} is recorded but was renamed to {new}{via}{how}; `migguard db repair` renames "
                   f"the row and applies what it now stands on")


def _repository_path(root: str, folder: str, name: str) -> str | None:
    relative = os.path.relpath(os.path.join(folder, f"{name}.py"), root)
    return None if relative.startswith("..") else relative.replace(os.sep, "/")


def _same_operations(root: str, path: str, facts: Facts, key: Key, recorded: set[Key]) -> str | None:
    """The one migration of this checkout with the old name's operations (none when empty or ambiguous)."""
    old = history.operations_in_history(root, path)
    if not old:
        return None
    matches = [name for name in facts.on_disk.get(key[0], []) if name != key[1]
               and history.operations_on_disk(Path(facts.folders[key[0]]) / f"{name}.py") == old]
    if len(matches) > 1:
        unrecorded = [name for name in matches if (key[0], name) not in recorded]
        matches = unrecorded if len(unrecorded) == 1 else matches
    return matches[0] if len(matches) == 1 else None
