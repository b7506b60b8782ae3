"""The push gates (pre-push, pre-receive): every commit new to the other side is checked from git
objects, within bounds; what cannot be checked is refused, with the reason.

pre-receive trusts nothing in the push: its configuration comes from the server's git config
(`migguard.*`), else from the updated branch's current tip on the server (the default branch for a
new ref), else the defaults; the pushed commit's own configuration must be valid and may add
checks, never remove them. Folders that `check` skips by name (build/, venv/, ...) are reported."""
from __future__ import annotations

import os
import posixpath
import re
import sys
import time
from typing import Callable, NamedTuple

from migguard import cache, discovery, gitio
from migguard.config import Config, ConfigError
from migguard.errors import InputError
from migguard.gitio import TreeEntry

ZERO = "0" * 40
REPORTED_COMMITS = 5
GATE_VERSION = "1"
LOCK = "\0lock:"  # marks a lock-file problem: it refuses the tip only (history before lock files stays pushable)


class Limits(NamedTuple):
    """What one push may cost the gate; past any of these it refuses."""

    seconds: float = 60.0
    file_size: int = 1 << 20
    files: int = 50_000


class Update(NamedTuple):
    """One pushed ref: its name, the other side's current tip (ZERO when new) and the pushed commit."""

    ref: str
    old: str
    new: str


class Failure(NamedTuple):
    commit: str
    tip: bool
    problems: list[str]


def say(line: str) -> None:
    print(f"migguard: {line}", file=sys.stderr)


def pre_push_updates(stdin: str) -> list[Update]:
    """`<local ref> <local sha> <remote ref> <remote sha>` per line; deletions left out."""
    lines = (line.split() for line in stdin.splitlines())
    return [Update(parts[2], parts[3], parts[1]) for parts in lines if len(parts) == 4 and parts[1] != ZERO]


def pre_receive_updates(stdin: str) -> list[Update]:
    """`<old sha> <new sha> <ref>` per line; deletions left out."""
    lines = (line.split() for line in stdin.splitlines())
    return [Update(parts[2], parts[0], parts[1]) for parts in lines if len(parts) == 3 and parts[1] != ZERO]


# --- settings -------------------------------------------------------------------------------

def _size(value: str, key: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", value)
    if match is None:
        raise InputError(f"git config {key} must be a number (with k, m or g), not {value!r}.")
    return int(match[1]) << {"": 0, "k": 10, "m": 20, "g": 30}[match[2].lower()]


def git_settings(root: str) -> tuple[Limits, Config | None]:
    """Limits, and a configuration when the repository's own git config sets `migguard.exclude`,
    `migguard.lockfile` or `migguard.apps.<label>` (on a server: the admin's, not the pusher's)."""
    done = gitio.run(["config", "-z", "--get-regexp", r"^migguard\."], root, check=False)
    values: dict[str, list[str]] = {}
    for record in done.decode("utf-8", "replace").split("\0"):
        if record:
            key, _, value = record.partition("\n")
            values.setdefault(key, []).append(value)
    limits = Limits()
    if "migguard.timeout" in values:
        try:
            seconds = float(values["migguard.timeout"][-1])
        except ValueError:
            raise InputError(f"git config migguard.timeout must be a number of seconds, not {values['migguard.timeout'][-1]!r}.") from None
        limits = limits._replace(seconds=seconds)
    if "migguard.maxfilesize" in values:
        limits = limits._replace(file_size=_size(values["migguard.maxfilesize"][-1], "migguard.maxFileSize"))
    if "migguard.maxfiles" in values:
        limits = limits._replace(files=_size(values["migguard.maxfiles"][-1], "migguard.maxFiles"))
    apps = {key[len("migguard.apps."):]: value[-1].strip("/") for key, value in values.items() if key.startswith("migguard.apps.")}
    if not ({"migguard.exclude", "migguard.lockfile"} & set(values) or apps):
        return limits, None
    lockfile = values.get("migguard.lockfile", ["max_migration.txt"])[-1]
    if "/" in lockfile:
        raise InputError("git config migguard.lockfile must be a file name.")
    config = Config(exclude=tuple(values.get("migguard.exclude", ())), lockfile=lockfile, apps=tuple(sorted(apps.items())))
    return limits, config


def _commit_of(root: str, rev: str) -> str | None:
    done = gitio.run(["rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}"], root, check=False)
    sha = done.decode().strip()
    return sha or None


def base_config(root: str, update: Update, fallback: str | None, server: Config | None) -> tuple[Config, str]:
    """The configuration the gate trusts for this ref, and where it came from."""
    from migguard.revision import config_at

    if server is not None:
        return server, "the repository's git config (migguard.*)"
    for rev in (update.old if update.old != ZERO else None, fallback):
        commit = _commit_of(root, rev) if rev else None
        if commit is None:
            continue
        try:
            return config_at(root, commit), f"{rev if rev == fallback else update.ref} at {commit[:10]}"
        except InputError:
            return Config(), f"the defaults (the configuration at {commit[:10]} cannot be read)"
    return Config(), "the defaults"


# --- which commits ----------------------------------------------------------------------------

def new_commits(root: str, tip: str, known: list[str]) -> list[tuple[str, str]]:
    """(commit, tree) of `tip` and its ancestors not reachable from `known`, the tip first."""
    commit = _commit_of(root, tip)
    if commit is None:
        return []  # a tag of a tree or a blob: no migrations to check
    out = gitio.text(["rev-list", "--topo-order", "--format=%T", commit, "--not", *known], root)
    lines = out.splitlines()
    pairs = []
    for header, tree in zip(lines[::2], lines[1::2]):
        pairs.append((header.split()[-1], tree.strip()))
    return pairs


# --- one commit --------------------------------------------------------------------------------

def _own_config(root: str, entries: list[TreeEntry]) -> tuple[Config | None, str | None]:
    from migguard.revision import config_in

    try:
        return config_in(root, entries), None
    except (InputError, ConfigError) as error:
        return None, f"its configuration cannot be used: {error}"


def _layout_problems(root: str, entries: list[TreeEntry], packages: list[discovery.Package], limits: Limits) -> list[str]:
    """What Django would load that migguard cannot read: compiled-only migrations, symbolic links."""
    problems = []
    package_paths = {package.path for package in packages}
    by_directory: dict[str, set[str]] = {}
    for entry in entries:
        directory, _, name = entry.path.rpartition("/")
        by_directory.setdefault(directory, set()).add(name)
    for directory, names in sorted(by_directory.items()):
        if directory not in package_paths and directory.rsplit("/", 1)[-1] != "migrations":
            continue
        for name in sorted(names):
            stem = name[:-4]
            if name.endswith(".pyc") and stem and stem[0] not in "_~" and "." not in stem and f"{stem}.py" not in names:
                path = f"{directory}/{name}".lstrip("/")
                problems.append(f"{path} is a compiled migration without its source: Django loads it, migguard cannot read it")
    links = [entry for entry in entries if entry.mode == "120000"]
    if len(links) > limits.files:
        return problems + [f"the commit holds {len(links)} symbolic links, more than the gate reads ({limits.files})"]
    targets = gitio.cat_blobs(root, [entry.oid for entry in links])
    for entry in links:
        directory, _, name = entry.path.rpartition("/")
        target_text = targets.get(entry.oid, b"").decode("utf-8", "replace")
        resolved = posixpath.normpath(posixpath.join(directory, target_text)) if not target_text.startswith("/") else target_text
        resolved = "" if resolved == "." else resolved
        holds = any(path == resolved or path.startswith(resolved + "/") or resolved == "" for path in package_paths)
        if name == "migrations" or directory in package_paths or holds:
            problems.append(f"{entry.path} is a symbolic link (to {target_text}): Django would follow it, "
                            f"migguard does not; commit the files themselves")
    return problems


def _check_with(root: str, common: "os.PathLike[str]", tree: str, entries: list[TreeEntry], config: Config,
                limits: Limits, memo: dict[str, dict]) -> tuple[list[str], list[discovery.Package]]:
    """Problems of the commit under `config`, strictly: no folder skipped by name, warnings refused."""
    from migguard.revision import RevisionInputs

    packages = discovery.in_tree(entries, config, "", strict=True)
    usual = {package.path for package in discovery.in_tree(entries, config, "")}
    problems = [f"{package.path} holds migrations in a folder `migguard check` skips; the gate checks it: "
                f"remove it, or list it under `exclude` in the configuration the server uses"
                for package in packages if package.path not in usual]
    count = sum(len(package.modules) for package in packages)
    if count > limits.files:
        return problems + [f"the commit holds {count} migration files, more than the gate reads ({limits.files}; "
                           f"git config migguard.maxFiles)"], packages
    inputs = RevisionInputs(common, config, packages)  # type: ignore[arg-type]
    key = f"gate{GATE_VERSION}:{limits.file_size}:{inputs.content_key()}"
    result = memo.get(key) or cache.load_result(common, key, "")  # type: ignore[arg-type]
    if result is None:
        oids = [oid for package in packages for oid in (*package.modules.values(), *([package.lock] if package.lock else []))]
        sizes = gitio.blob_sizes(root, oids)
        paths = {oid: f"{package.path}/{name}.py".lstrip("/") for package in packages for name, oid in package.modules.items()}
        paths.update({package.lock: f"{package.path}/{config.lockfile}".lstrip("/") for package in packages if package.lock})
        large = sorted({paths[oid] for oid in oids if sizes.get(oid, 0) > limits.file_size})
        if large:
            result = {"errors": [{"message": f"{path} is larger than the gate reads ({limits.file_size:,} bytes; "
                                             f"git config migguard.maxFileSize)"} for path in large], "warnings": []}
        else:
            from migguard.project import load_revision
            from migguard.report import check_result

            result = check_result(load_revision(root, tree, under="", inputs=inputs))
        memo[key] = result
        cache.store_result(common, key, "", result)  # type: ignore[arg-type]
    problems += [LOCK + error["message"] if error.get("path", "").rsplit("/", 1)[-1] == config.lockfile else error["message"]
                 for error in result["errors"]]
    problems += [f"{warning['message']} (the gate refuses what it cannot read)" for warning in result["warnings"]]
    return problems, packages


def check_commit(root: str, common: "os.PathLike[str]", tree: str, base: Config, limits: Limits,
                 memo: dict[str, dict], tip: bool = True) -> list[str]:
    """Everything wrong with one commit (its tree), under the trusted and its own configuration.

    Lock files are the tip's business: an earlier commit is refused for its graph, not its lock files."""
    return [problem[len(LOCK):] if problem.startswith(LOCK) else problem
            for problem in _commit_problems(root, common, tree, base, limits, memo) if tip or not problem.startswith(LOCK)]


def _commit_problems(root: str, common: "os.PathLike[str]", tree: str, base: Config, limits: Limits,
                     memo: dict[str, dict]) -> list[str]:
    key = f"gate{GATE_VERSION}-tree:{tree}:{base!r}:{limits!r}"
    if key in memo:
        return memo[key]["problems"]
    cached = cache.load_result(common, key, "")  # type: ignore[arg-type]
    if cached is not None:
        return cached["problems"]
    entries = gitio.ls_tree(root, tree)
    own, own_problem = _own_config(root, entries)
    problems = [own_problem] if own_problem else []
    checked_packages: list[discovery.Package] = []
    for config in [base] + ([own] if own is not None and own != base else []):
        found, packages = _check_with(root, common, tree, entries, config, limits, memo)
        problems += found
        checked_packages += packages
    problems += _layout_problems(root, entries, checked_packages, limits)
    problems = list(dict.fromkeys(problems))
    memo[key] = {"problems": problems}
    cache.store_result(common, key, "", {"problems": problems})  # type: ignore[arg-type]
    return problems


# --- the gate --------------------------------------------------------------------------------

def run_gate(root: str, updates: list[Update], known: Callable[[Update], list[str]], fallback: str | None,
             server_side: bool) -> int:
    """Check every new commit of every update; print what is wrong; 0 accept, 1 refuse."""
    limits, server_config = git_settings(root)
    common = gitio.common_dir(root)
    memo: dict[str, dict] = {}
    refused = False
    for update in updates:
        commits = new_commits(root, update.new, known(update))
        if not commits:
            continue
        base, origin = base_config(root, update, fallback, server_config)
        failures = []
        for index, (commit, tree) in enumerate(commits):
            problems = check_commit(root, common, tree, base, limits, memo, tip=index == 0)
            if problems:
                failures.append(Failure(commit, index == 0, problems))
        if not failures:
            continue
        refused = True
        failures.reverse()
        for failure in failures[:REPORTED_COMMITS]:
            where = "the tip" if failure.tip else f"one of {len(commits)} new commits, below the tip"
            say(f"refusing {update.ref} ({failure.commit[:10]}, {where}):")
            for problem in failure.problems:
                say(f"  {problem}")
        if len(failures) > REPORTED_COMMITS:
            say(f"  ... and {len(failures) - REPORTED_COMMITS} more commits of {update.ref} that cannot pass")
        say(f"  (checked with the configuration of {origin})")
    if refused:
        say("every pushed commit must pass, not only the tip: run `migguard fix` and amend the commit "
            "(`git commit --amend`; `git rebase -i` for an earlier one), then push again"
            + ("." if server_side else " (or `git push --no-verify` to skip this check)."))
        return 1
    return 0


def pre_push(arguments: list[str], root: str, stdin: str) -> int:
    """stdin: `<local ref> <local sha> <remote ref> <remote sha>` per ref; checks commits on no remote-tracking ref."""
    updates = pre_push_updates(stdin)
    if not updates:
        return 0
    remote = arguments[0] if arguments else ""
    fallback = f"refs/remotes/{remote}/HEAD" if remote and "/" not in remote and ":" not in remote else None

    def known(update: Update) -> list[str]:
        old = [update.old] if update.old != ZERO and _commit_of(root, update.old) else []
        return ["--remotes", *old]

    return run_gate(root, updates, known, fallback, server_side=False)


def pre_receive(arguments: list[str], root: str, stdin: str) -> int:
    """stdin: `<old sha> <new sha> <ref>` per ref; checks every commit new to this repository, bounded in time."""
    updates = pre_receive_updates(stdin)
    if not updates:
        return 0
    try:
        limits, _ = git_settings(root)
    except InputError as error:
        say(f"refusing the push: {error}")
        return 1
    return within(limits.seconds, lambda: run_gate(root, updates, lambda update: ["--all"], "HEAD", server_side=True))


def within(seconds: float, work: Callable[[], int]) -> int:
    """Run `work` in a child process; past `seconds`, stop it and refuse with a sentence."""
    if not hasattr(os, "fork"):
        return work()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.setpgid(0, 0)
            code = work()
        except InputError as error:
            say(f"refusing the push: {error}")
        except BaseException as error:  # never a traceback inside git
            say(f"refusing the push: internal error ({type(error).__name__}: {error}); please report it")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    import signal

    deadline = time.monotonic() + seconds
    pause = 0.002
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                say(f"refusing the push: the check was stopped by signal {-code} (out of memory?).")
                return 1
            return code
        if time.monotonic() > deadline:
            for target in (-child, child):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            os.waitpid(child, 0)
            say(f"refusing the push: checking it took longer than the gate allows ({seconds:g} s; "
                f"git config migguard.timeout on the server); push fewer commits at once, or ask for a higher limit.")
            return 1
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
