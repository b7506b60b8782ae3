"""Whether a pre-push certainly passes, found with `os`, `marshal` and two git calls.

The full gate (`hooks.gate`, `hooks.gate_check`) checks each commit new to the remote: a commit whose
changes against its first parent cannot change a finding (`may_change_findings`) inherits its parent's
findings, and a parent outside the push is answered from the gate's cache by its tree. This answers
"passes" only when that same walk, with nothing but inherited findings, reaches no finding at all:
no `migguard.*` git config, the configuration the gate takes for each ref (the remote's tip's, for a new ref
the remote's HEAD's, else the defaults) was recorded by the gate,
every first parent outside the push was checked clean under that configuration, and no new commit
changes a path that matters. Anything else, or anything unexpected, and the full gate decides."""
from __future__ import annotations

from migguard import results
from migguard.changes import may_change_findings
from migguard.processes import run_git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

GATE_VERSION = "3"  # in the gate's cache keys
ZERO = "0" * 40
MAX_COMMITS = 1000  # a longer push takes the full gate (bounded in time there)
HEX = frozenset("0123456789abcdef")


DEFAULTS_KEY = f"gate{GATE_VERSION}-base:defaults"


def base_key(tree: str) -> str:
    """The cache key of what the gate trusts when the remote's tip has this tree: its settings' digest,
    lock file name and configured app paths (written by the full gate, default limits only)."""
    return f"gate{GATE_VERSION}-base:{tree}"


def tree_key(tree: str, settings: str) -> str:
    """The cache key of a tree's findings under the settings with this digest."""
    return f"gate{GATE_VERSION}-tree:{tree}:{settings}"


def passes(arguments: list[str], root: str, stdin: str) -> bool:
    """True only when the full pre-push gate would accept and print nothing."""
    updates = [parts for parts in (line.split() for line in stdin.splitlines()) if len(parts) == 4 and parts[1] != ZERO]
    if not updates:
        return True
    if any(not _is_id(parts[1]) or not _is_id(parts[3]) for parts in updates):
        return False
    status, out, _ = run_git(["config", "-z", "--get-regexp", r"^migguard\."], root)
    if status != 1 or out:
        return False  # migguard.* set (limits, or a configuration overriding the commits'), or git failed
    common = results.find_common_dir(root)
    if common is None:
        return False
    remote = arguments[0] if arguments else ""
    fallback = f"refs/remotes/{remote}/HEAD" if remote and "/" not in remote and ":" not in remote else None
    return all(_update_passes(root, common, new, old, fallback) for _, new, _, old in updates)


def _is_id(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= HEX


def _fallback_base(root: str, fallback: str | None) -> str | None:
    """For a new ref, the key of the base the gate takes: the configuration at the remote's HEAD, else the
    defaults; None when unsure."""
    if fallback is None:
        return DEFAULTS_KEY
    status, out, _ = run_git(["rev-parse", "--verify", "-q", "--end-of-options", f"{fallback}^{{commit}}^{{tree}}"], root)
    tree = out.decode("utf-8", "surrogateescape").strip()
    if status == 0 and _is_id(tree):
        return base_key(tree)
    return DEFAULTS_KEY if status == 1 and not tree else None


def _update_passes(root: str, common: str, new: str, old: str, fallback: str | None) -> bool:
    commits = _new_commits(root, new, old)
    if commits is None:
        return False
    order, boundary = commits
    if not order:
        return True  # nothing new to the other side: the full gate checks nothing either
    if old != ZERO:
        if old not in boundary:
            return False  # the remote's tip is no parent of the pushed commits (or is not a commit): the full gate
        key: str | None = base_key(boundary[old])
    else:
        key = _fallback_base(root, fallback)
    base = results.load(common, key, "") if key is not None else None
    if key is None or base is None:
        return False
    results.touch(common, key, "")  # kept among the newest cached results while in use
    settings, lockfile, app_paths = base.get("settings"), base.get("lockfile"), base.get("apps")
    if not (isinstance(settings, str) and isinstance(lockfile, str) and isinstance(app_paths, list)):
        return False
    packages: dict[str, frozenset[str]] = {}
    from_old: set[str] = {old} if old != ZERO else set()  # commits whose first parents lead to the remote's tip
    for commit, _, parents, changes in order:
        if not parents:
            return False
        parent = parents[0]
        found = packages.get(parent)
        if found is None:
            if parent not in boundary:
                return False
            checked = results.load(common, tree_key(boundary[parent], settings), "")
            if checked is None or checked.get("problems") != [] or not isinstance(checked.get("packages"), list) \
                    or "django" in checked:  # decided by the installed Django's version: the full gate records it
                return False
            results.touch(common, tree_key(boundary[parent], settings), "")
            found = packages[parent] = frozenset(checked["packages"])
        if any(may_change_findings(old_mode, new_mode, path, found, lockfile, app_paths)
               for old_mode, new_mode, path in changes):
            return False
        packages[commit] = found
        if parent in from_old:
            from_old.add(commit)
    tip, tree, _, _ = order[-1]  # after the push, the other side's tip: what the next push starts from
    _remember(common, tree_key(tree, settings), {"problems": [], "packages": sorted(packages[tip])})
    if tip in from_old:  # no root configuration file changed on the way: the tip's configuration is the same
        _remember(common, base_key(tree), base)
    return True


def _remember(common: str, key: str, value: dict[str, Any]) -> None:
    """Store `value` under `key` unless it is there already (then only marked as recently used)."""
    if results.load(common, key, "") == value:
        results.touch(common, key, "")
    else:
        results.store(common, key, "", value)


Changes = list[tuple[str, str, str]]


def _new_commits(root: str, new: str, old: str) -> tuple[list[tuple[str, str, list[str], Changes]], dict[str, str]] | None:
    """The commits of `new` on no remote-tracking ref and not in `old` (parents first), each with its parents
    and its changes against its first parent; and the boundary commits' trees. None when unsure."""
    status, out, _ = run_git(
        ["-c", "log.showRoot=false", "log", "-z", "--topo-order", "--boundary", "--no-renames", "--raw",
         "--diff-merges=first-parent", "--no-show-signature", "--ignore-submodules=none", "--no-relative",
         f"--max-count={MAX_COMMITS + 1}", "--format=%m%H %T %P", new, "--not", "--remotes",
         *([old] if old != ZERO else []), "--"], root)
    if status != 0:
        return None
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    order: list[tuple[str, str, list[str], Changes]] = []
    boundary: dict[str, str] = {}
    changes: Changes | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip("\n")
        index += 1
        if token.startswith(":"):
            fields = token[1:].split(" ")
            if changes is None or len(fields) != 5 or index >= len(tokens):
                return None
            changes.append((fields[0], fields[1], tokens[index]))
            index += 1
            continue
        if not token:
            continue
        ids = token[1:].split()
        if token[0] not in "->" or len(ids) < 2 or not all(_is_id(part) for part in ids):
            return None
        if token[0] == "-":
            boundary[ids[0]] = ids[1]
            changes = []  # a boundary commit's own changes are of no interest
        else:
            changes = []
            order.append((ids[0], ids[1], ids[2:], changes))
    if len(order) > MAX_COMMITS:
        return None
    order.reverse()
    return order, boundary
