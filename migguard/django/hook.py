"""The post-rewrite hook's questions to the databases, asked only when migrations are about to be renamed.

`before_renaming` runs before any file changes: it asks each database of the settings (in a Django
subprocess) which of the migrations it recorded, and names the apps that must get a merge migration
instead (applied on a database that is not on this machine, or one that cannot be asked).
`bring_along` runs after the rename: each local database that applied a renamed migration is repaired
(rows renamed, upstream migrations applied, schema proven) or left untouched with the reason."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

Key = tuple[str, str]
_PENDING: dict[str, list[str]] = {}


def _say(line: str) -> None:
    print(f"migguard: {line}", file=sys.stderr)


def before_renaming(root: str, plans: Iterable[Any], say: Callable[[str], None] = _say) -> dict[str, str]:
    """App label -> why it must not be renamed. Remembers the local databases to bring along afterwards."""
    _PENDING.clear()
    renames = {(plan.app, old): new for plan in plans for old, new in (plan.renames or [])}
    if not renames:
        return {}
    from migguard.django import locate

    try:
        where = locate.target(root)
    except locate.NoSettings:
        return {}
    answers, problem = None, f"{where.python} did not start"
    try:
        done = locate.run_worker(where, {"command": "applied", "names": sorted(renames)}, capture=True)
        problem = _last_line(done.stderr)
        answers = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError):
        pass
    apps = sorted({app for app, _ in renames})
    if answers is None:
        reason = f"could not ask the databases of {where.settings} which migrations they applied ({problem})"
        for app in apps:
            say(f"{app}: not renumbered: {reason}; writing a merge migration instead")
        return {app: reason for app in apps}
    refused: dict[str, str] = {}
    along: dict[str, list[Key]] = {}
    for answer in answers:
        alias, applied = answer["database"], [(key[0], key[1]) for key in answer["applied"]]
        if answer["error"]:
            for app in apps:
                refused.setdefault(app, f"database {alias!r} could not be asked ({answer['error']})")
            continue
        for app, name in applied:
            if not answer["local"]:
                refused.setdefault(app, f"{app}.{name} is applied in database {alias!r}, which is not on this "
                                        f"machine (a hook never writes it)")
            elif answer["findings"]:
                refused.setdefault(app, f"{app}.{name} is applied in database {alias!r}, which already holds "
                                        f"{', '.join(answer['findings'])} (`migguard db status`), so bringing it "
                                        f"along could not be proven")
            else:
                along.setdefault(alias, []).append((app, name))
    packages = _packages_after(root, plans) if along else {}
    for alias, applied in sorted(along.items()):
        if any(app in refused for app, _ in applied):  # all of this database's renames, or none
            for app, _ in applied:
                refused.setdefault(app, f"database {alias!r} also holds migrations that are not renamed")
            continue
        request: dict[str, object] = {"command": "prove", "database": alias, "packages": packages,
                   "renames": [[app, name, renames[(app, name)]] for app, name in applied]}
        done = locate.run_worker(where, request, capture=True)
        if done.returncode != 0:
            why = (done.stdout.strip() or _last_line(done.stderr)).splitlines()[-1:] or ["no answer"]
            for app, _ in applied:
                refused.setdefault(app, f"bringing database {alias!r} along would fail ({why[0]})")
            continue
        _PENDING[alias] = sorted({app for app, _ in applied})
    for alias in list(_PENDING):
        _PENDING[alias] = [app for app in _PENDING[alias] if app not in refused]
        if not _PENDING[alias]:
            del _PENDING[alias]
    for alias, applied in sorted(along.items()):
        for app in _PENDING.get(alias, []):
            names = ", ".join(sorted(name for key_app, name in applied if key_app == app))
            say(f"{app}: {names} applied in database {alias!r}: renumbering, and bringing the database along")
    for app, reason in sorted(refused.items()):
        say(f"{app}: not renumbered: {reason}; writing a merge migration instead")
    return refused


def _packages_after(root: str, plans: Iterable[Any]) -> dict[str, dict[str, str]]:
    """Every migrations folder the plans touch, as it will be after the rename: file name -> text."""
    changes = [change for plan in plans for change in plan.changes if change.path.endswith(".py")]
    folders = sorted({os.path.dirname(change.path) for change in changes}
                     | {os.path.dirname(change.old_path) for change in changes if change.old_path})
    packages: dict[str, dict[str, str]] = {}
    for folder in folders:
        files = {}
        for path in sorted(Path(root, folder).glob("*.py")):
            files[path.name] = path.read_text(encoding="utf-8")
        packages[folder] = files
    for change in changes:
        if change.old_path:
            packages[os.path.dirname(change.old_path)].pop(os.path.basename(change.old_path), None)
        packages[os.path.dirname(change.path)][os.path.basename(change.path)] = change.after
    return packages


def bring_along(root: str, say: Callable[[str], None] = _say) -> None:
    """Repair each local database that applied a migration the hook just renamed; one line each."""
    pending = dict(_PENDING)
    _PENDING.clear()
    if not pending:
        return
    from migguard.django import locate

    try:
        where = locate.target(root)
    except locate.NoSettings:
        return
    for alias in sorted(pending):
        done = locate.run_worker(where, {"command": "repair", "database": alias, "apply": True, "brief": True},
                                 capture=True)
        text = (done.stdout.strip() or _last_line(done.stderr)).splitlines()
        if done.returncode == 0:
            say(f"database {alias!r} brought along: {text[-1] if text else 'repaired'}")
        else:
            say(f"database {alias!r} NOT brought along, nothing in it changed: {text[-1] if text else 'failed'}; "
                f"see `migguard db repair --database {alias}` before you run migrate")


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1].removeprefix("migguard: ") if lines else "no answer"
