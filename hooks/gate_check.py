"""What the push gates find wrong with each new commit, strictly and within bounds.

A long push stays cheap: each commit's tree listing is its first parent's plus `git diff-tree`, and
a commit that changes nothing a migration graph depends on (no Python file in or around a migration
package, no lock file, configuration, link or `.pyc`) inherits its parent's findings. Findings are
also cached by tree id in the git directory."""
from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path
from typing import Any, NamedTuple

from migguard import cache, discovery, gitio
from migguard.config import Config, ConfigError
from migguard.errors import InputError
from migguard.files import MAX_BYTES
from migguard.gitio import TreeEntry
from migguard.changes import may_change_findings
from migguard.hooks.idle_push import GATE_VERSION, tree_key

LOCK = "\0lock:"  # marks a lock-file finding: it refuses the tip only (history before lock files stays pushable)
UNREAD = ("cannot be read statically", "is not a literal list", "not checked")  # warnings the gates refuse


class Limits(NamedTuple):
    """What one push may cost the gate; past any of these it refuses."""

    seconds: float = 60.0
    file_size: int = MAX_BYTES  # the reading side's own limit; migguard.maxFileSize can only lower it
    files: int = 50_000


class Checked(NamedTuple):
    """One commit's findings, the package folders they cover, and its tree listing while still needed."""

    problems: tuple[str, ...]
    packages: frozenset[str]
    entries: dict[str, TreeEntry] | None
    django: str | None = None  # the installed Django's version, when it decided the findings

    def cached(self) -> dict[str, Any]:
        """What the cache keeps by tree (the Django marker only where there is one: `results.load` checks it)."""
        kept: dict[str, Any] = {"problems": list(self.problems), "packages": sorted(self.packages)}
        if self.django is not None:
            kept["django"] = self.django
        return kept


class Change(NamedTuple):
    old_mode: str
    new_mode: str
    new_oid: str
    path: str


def shown(problems: tuple[str, ...], tip: bool) -> list[str]:
    """The findings that refuse this commit: lock files count for the tip only."""
    return [problem[len(LOCK):] if problem.startswith(LOCK) else problem
            for problem in problems if tip or not problem.startswith(LOCK)]


def _own_config(root: str, entries: list[TreeEntry]) -> tuple[Config | None, str | None]:
    from migguard.revision import config_in

    try:
        return config_in(root, entries), None
    except (InputError, ConfigError) as error:
        return None, f"its configuration cannot be used: {error}"


def _linked_folders(root: str, entries: list[TreeEntry], package_paths: set[str], limits: Limits) -> list[str]:
    """Symbolic links to a folder that holds migrations: Django would load them through the link too.

    (A `migrations` link, links inside a package and `.pyc` files are the reading side's findings.)"""
    links = [entry for entry in entries if entry.mode == "120000"]
    if len(links) > limits.files:
        return [f"the commit holds {len(links)} symbolic links, more than the gate reads ({limits.files})"]
    problems = []
    targets = gitio.cat_blobs(root, [entry.oid for entry in links])
    for entry in links:
        directory, _, name = entry.path.rpartition("/")
        if name == "migrations" or directory in package_paths:
            continue
        target_text = targets.get(entry.oid, b"").decode("utf-8", "replace")
        resolved = target_text if target_text.startswith("/") else posixpath.normpath(posixpath.join(directory, target_text))
        resolved = "" if resolved == "." else resolved
        if any(resolved == "" or path == resolved or path.startswith(resolved + "/") for path in package_paths):
            problems.append(f"{entry.path} is a symbolic link (to {target_text}) to a folder that holds migrations: "
                            f"Django would load them through it too, migguard does not follow it")
    return problems


class _PushParseCache(cache.ParseCache):
    """The parse cache, read once and written once per push (not once per commit)."""

    def save(self) -> None:
        pass

    def save_now(self) -> None:
        cache.ParseCache.save(self)


class Memo:
    """What the checks of one push share: the parse cache, blob sizes, and results by cache key."""

    def __init__(self) -> None:
        self.parse_cache: _PushParseCache | None = None
        self.sizes: dict[str, int] = {}
        self.results: dict[str, dict[str, Any]] = {}


def parse_cache(memo: Memo, common: Path) -> cache.ParseCache:
    if memo.parse_cache is None:
        memo.parse_cache = _PushParseCache.for_common_dir(common)
    return memo.parse_cache


def finish(memo: Memo) -> None:
    """Write what this push parsed to the parse cache."""
    if memo.parse_cache is not None:
        memo.parse_cache.save_now()


def _skipped_by_check(path: str, venvs: set[str]) -> bool:
    """Whether `migguard check` leaves this package out (a folder skipped by name, or inside a virtualenv)."""
    parts = path.split("/")
    if any(part in discovery.SKIPPED_DIRECTORIES or part.endswith(".egg-info") for part in parts):
        return True
    return any("/".join(parts[:depth]) in venvs for depth in range(1, len(parts) + 1))


def _check_with(root: str, common: Path, tree: str, entries: list[TreeEntry], config: Config,
                limits: Limits, memo: Memo) -> tuple[list[str], set[str], str | None]:
    """Findings under `config`, strictly: no folder skipped by name, warnings refused; and the installed
    Django's version when it decided them."""
    from migguard.revision import RevisionInputs

    found: list[tuple[str, str]] = []
    packages = discovery.in_tree(entries, config, "", found, strict=True)
    venvs = {entry.path.rpartition("/")[0] for entry in entries if entry.path.rpartition("/")[2] == "pyvenv.cfg"}
    problems = [f"{package.path} holds migrations in a folder `migguard check` skips; the gate checks it: "
                f"remove it, or list it under `exclude` in the configuration the server uses"
                for package in packages if _skipped_by_check(package.path, venvs)]
    paths = {package.path for package in packages}
    count = sum(len(package.modules) for package in packages)
    if count > limits.files:
        return problems + [f"the commit holds {count} migration files, more than the gate reads ({limits.files}; "
                           f"git config migguard.maxFiles)"], paths, None
    inputs = RevisionInputs(common, config, packages, tuple(found))
    key = f"gate{GATE_VERSION}:{limits.file_size}:{inputs.content_key()}"
    result = memo.results.get(key) or cache.load_result(common, key, "")
    if result is None:
        sizes = memo.sizes
        oids = [oid for package in packages for oid in (*package.modules.values(), *([package.lock] if package.lock else []))]
        sizes.update(gitio.blob_sizes(root, [oid for oid in oids if oid not in sizes]))
        names = {oid: f"{package.path}/{name}.py".lstrip("/") for package in packages for name, oid in package.modules.items()}
        names.update({package.lock: f"{package.path}/{config.lockfile}".lstrip("/") for package in packages if package.lock})
        large = sorted({names[oid] for oid in oids if sizes.get(oid, 0) > limits.file_size})
        if large:
            result = {"errors": [{"message": f"{path} is larger than the gate reads ({limits.file_size:,} bytes; "
                                             f"git config migguard.maxFileSize)"} for path in large], "warnings": []}
        else:
            from migguard.project import load_revision_projects
            from migguard.report import check_results

            result = check_results(load_revision_projects(root, tree, under="", inputs=inputs,
                                                          parse_cache=parse_cache(memo, common)))
        memo.results[key] = result
        cache.store_result(common, key, "", result)
    problems += [LOCK + error["message"] if error.get("path", "").rsplit("/", 1)[-1] == config.lockfile else error["message"]
                 for error in result["errors"]]
    problems += [f"{warning['message']} (the gate refuses what it cannot read)" for warning in result["warnings"]
                 if any(words in warning["message"] for words in UNREAD)]
    return problems, paths, result.get("django")


def evaluate(root: str, common: Path, tree: str, entries: dict[str, TreeEntry] | None, base: Config,
             limits: Limits, memo: Memo) -> Checked:
    """Everything wrong with one commit's tree, under the trusted configuration and its own
    (`entries`: the tree's listing, None to list it only if the findings are not cached)."""
    key = tree_key(tree, settings_digest(base, limits))
    cached = memo.results.get(key) or cache.load_result(common, key, "")
    if cached is not None:
        return Checked(tuple(cached["problems"]), frozenset(cached["packages"]), entries, cached.get("django"))
    if entries is None:
        entries = _listing(root, tree)
    listing = list(entries.values())
    own, own_problem = _own_config(root, listing)
    problems = [own_problem] if own_problem else []
    packages: set[str] = set()
    decided: str | None = None
    if own is not None and own.projects and not base.projects:
        # `projects` only splits label namespaces; a package outside them is a warning, which the gate refuses
        base = base._replace(projects=own.projects)
    for config in [base] + ([own] if own is not None and own != base else []):
        found, paths, django = _check_with(root, common, tree, listing, config, limits, memo)
        problems += found
        packages |= paths
        decided = decided if django is None else django
    problems += _linked_folders(root, listing, packages, limits)
    checked = Checked(tuple(dict.fromkeys(problems)), frozenset(packages), entries, decided)
    memo.results[key] = checked.cached()
    cache.store_result(common, key, "", memo.results[key])
    return checked


def settings_digest(base: Config, limits: Limits) -> str:
    """What a tree's findings depend on besides the tree, as a digest (a cache key `idle_push` reads unhashed)."""
    return hashlib.sha1(repr((base, limits)).encode("utf-8", "surrogateescape")).hexdigest()


def matters(change: Change, parent: Checked, configs: list[Config]) -> bool:
    """Whether a changed path can change what the gate finds (conservative: when unsure, yes)."""
    return any(may_change_findings(change.old_mode, change.new_mode, change.path, parent.packages, config.lockfile,
                                   [path.strip("/") for _, path in config.apps]) for config in configs)


def first_parent_changes(root: str, pairs: list[tuple[str, str]]) -> dict[str, list[Change]]:
    """What each commit changed against the given parent, for many commits in one `git diff-tree --stdin`."""
    if not pairs:
        return {}
    out = gitio.run(["diff-tree", "--stdin", "-r", "-z", "--no-renames"], root,
                    input="".join(f"{commit} {parent}\n" for commit, parent in pairs).encode())
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    changes: dict[str, list[Change]] = {}
    current: list[Change] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith(":"):
            old_mode, new_mode, _, new_oid, _ = token[1:].split(" ", 4)
            current.append(Change(old_mode, new_mode, new_oid, tokens[index + 1]))
            index += 2
            continue
        if token.strip():
            current = changes.setdefault(token.strip(), [])
        index += 1
    return changes


def _apply(entries: dict[str, TreeEntry], changes: list[Change]) -> dict[str, TreeEntry]:
    updated = dict(entries)
    for change in changes:
        if change.new_mode == "000000":
            updated.pop(change.path, None)
        else:
            kind = "commit" if change.new_mode == "160000" else "blob"
            updated[change.path] = TreeEntry(change.new_mode, kind, change.new_oid, change.path)
    return updated


def walk(root: str, common: Path, commits: list[tuple[str, str, list[str]]], base: Config,
         limits: Limits, states: dict[str, Checked], memo: Memo) -> list[tuple[str, Checked]]:
    """Check `commits` ((commit, tree, parents), the tip first); each one's findings, parents first."""
    order = list(reversed(commits))
    changes = first_parent_changes(root, [(commit, parents[0]) for commit, _, parents in order if parents])
    waiting: dict[str, int] = {}
    for _, _, parents in order:
        if parents:
            waiting[parents[0]] = waiting.get(parents[0], 0) + 1
    configs = [base]
    results = []
    for commit, tree, parents in order:
        parent = states.get(parents[0]) if parents else None
        if parents and parent is None:
            parent_tree = gitio.text(["rev-parse", f"{parents[0]}^{{tree}}"], root)
            parent = evaluate(root, common, parent_tree, None, base, limits, memo)  # listed only if not cached
            states[parents[0]] = parent
        if parent is not None:
            changed = changes.get(commit, [])
            entries = _apply(parent.entries, changed) if parent.entries is not None else None
            if any(matters(change, parent, configs) for change in changed):
                checked = evaluate(root, common, tree, entries, base, limits, memo)
            else:
                checked = parent._replace(entries=entries)
            waiting[parents[0]] -= 1
            if waiting[parents[0]] == 0:  # no other child needs its listing
                states[parents[0]] = parent._replace(entries=None)
        else:
            checked = evaluate(root, common, tree, None, base, limits, memo)
        states[commit] = checked if waiting.get(commit) else checked._replace(entries=None)
        results.append((commit, checked))
    return results


def _listing(root: str, tree: str) -> dict[str, TreeEntry]:
    return {entry.path: entry for entry in gitio.ls_tree(root, tree)}
