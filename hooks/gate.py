"""The push gates (pre-push, pre-receive): every commit new to the other side is checked from git
objects, within bounds; what cannot be checked is refused, with the reason.

pre-receive trusts nothing in the push: its configuration comes from the server's git config
(`migguard.*`), else from the updated branch's current tip on the server (the default branch for a
new ref), else the defaults; the pushed commit's own configuration must be valid and may add
checks, never remove them. Folders that `check` skips by name (build/, venv/, ...) are reported."""
from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from migguard import cache, gitio
from migguard.config import Config
from migguard.errors import InputError
from migguard.hooks import gate_check, idle_push
from migguard.hooks.gate_check import Limits

ZERO = "0" * 40
REPORTED_COMMITS = 5


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


def git_settings(root: str, local: bool = False) -> tuple[Limits, Config | None]:
    """Limits, and a configuration when the repository's git config sets `migguard.exclude`,
    `migguard.lockfile` or `migguard.apps.<label>`. `local`: the repository's own config file only
    (on a server: the admin's; never `-c`, `GIT_CONFIG_*` or a HOME the pusher chose)."""
    done = gitio.run(["config", *(["--local"] if local else []), "-z", "--get-regexp", r"^migguard\."], root, check=False)
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


def base_config(root: str, update: Update, fallback: str | None, server: Config | None) -> tuple[Config, str, str | None]:
    """The configuration the gate trusts for this ref, where it came from, and the commit it was read from
    ("" for the defaults, no commit being there; None for the git config's, or one that cannot be read)."""
    from migguard.revision import config_at

    if server is not None:
        return server, "the repository's git config (migguard.*)", None
    for rev in (update.old if update.old != ZERO else None, fallback):
        commit = _commit_of(root, rev) if rev else None
        if commit is None:
            continue
        try:
            config = config_at(root, commit)
        except InputError:
            return Config(), f"the defaults (the configuration at {commit[:10]} cannot be read)", None
        return config, f"{rev if rev == fallback else update.ref} at {commit[:10]}", commit
    return Config(), "the defaults", ""


def remember_tip(root: str, common: Path, tree: str, found: gate_check.Checked, base: Config, limits: Limits) -> None:
    """The pushed tip's findings and configuration, by its tree: the next push on top of it (it is then the other
    side's tip) starts from them, in `idle_push` too."""
    from migguard.revision import config_in

    cache.store_result(common, idle_push.tree_key(tree, gate_check.settings_digest(base, limits)), "",
                       found.cached())
    try:
        own = config_in(root, gitio.ls_tree(root, tree, recursive=False))
    except (InputError, gitio.GitError):
        return
    record_base(root, common, tree, own, limits, is_tree=True)


def record_base(root: str, common: Path, commit: str, base: Config, limits: Limits, is_tree: bool = False) -> None:
    """What `idle_push` needs to answer a later push whose configuration comes from `commit` ("": the defaults)
    without this module: the digest of the settings its parents' findings are cached under, the lock file's
    name and the configured apps."""
    if commit:
        tree = commit if is_tree else gitio.text(["rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}"], root)
    key = idle_push.base_key(tree) if commit else idle_push.DEFAULTS_KEY
    cache.store_result(common, key, "", {
        "settings": gate_check.settings_digest(base, limits), "lockfile": base.lockfile,
        "apps": [path.strip("/") for _, path in base.apps]})


# --- which commits ----------------------------------------------------------------------------

def new_commits(root: str, tip: str, known: list[str]) -> list[tuple[str, str, list[str]]]:
    """(commit, tree, parents) of `tip` and its ancestors not reachable from `known`, the tip first."""
    commit = _commit_of(root, tip)
    if commit is None:
        return []  # a tag of a tree or a blob: no migrations to check
    out = gitio.text(["rev-list", "--topo-order", "--parents", "--format=%T", commit, "--not", *known], root)
    lines = out.splitlines()
    found = []
    for header, tree in zip(lines[::2], lines[1::2], strict=False):
        ids = header.split()[1:]
        found.append((ids[0], tree.strip(), ids[1:]))
    return found


# --- the gate --------------------------------------------------------------------------------

def run_gate(root: str, updates: list[Update], known: Callable[[Update], list[str]], fallback: str | None,
             server_side: bool) -> int:
    """Check every new commit of every update; print what is wrong; 0 accept, 1 refuse."""
    limits, server_config = git_settings(root, local=server_side)
    common = gitio.common_dir(root)
    memo = gate_check.Memo()
    states: dict[str, dict[str, gate_check.Checked]] = {}
    refused = False
    for update in updates:
        commits = new_commits(root, update.new, known(update))
        if not commits:
            continue
        base, origin, read_from = base_config(root, update, fallback, server_config)
        if read_from is not None and server_config is None and limits == Limits() and not server_side:
            record_base(root, common, read_from, base, limits)
        checked = gate_check.walk(root, common, commits, base, limits, states.setdefault(repr(base), {}), memo)
        tip = commits[0][0]
        if server_config is None and limits == Limits() and not server_side:
            remember_tip(root, common, commits[0][1], dict(checked)[tip], base, limits)
        failures = [Failure(commit, commit == tip, problems) for commit, found in checked
                    if (problems := gate_check.shown(found.problems, tip=commit == tip))]
        if not failures:
            continue
        refused = True
        for failure in failures[:REPORTED_COMMITS]:
            where = "the tip" if failure.tip else f"one of {len(commits)} new commits, below the tip"
            say(f"refusing {update.ref} ({failure.commit[:10]}, {where}):")
            for problem in failure.problems:
                say(f"  {problem}")
        if len(failures) > REPORTED_COMMITS:
            say(f"  ... and {len(failures) - REPORTED_COMMITS} more commits of {update.ref} that cannot pass")
        say(f"  (checked with the configuration of {origin})")
    gate_check.finish(memo)
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

    limits, _ = git_settings(root)
    return within(limits.seconds, lambda: run_gate(root, updates, known, fallback, server_side=False), server_side=False)


def pre_receive(arguments: list[str], root: str, stdin: str) -> int:
    """stdin: `<old sha> <new sha> <ref>` per ref; checks every commit new to this repository, bounded in time."""
    updates = pre_receive_updates(stdin)
    if not updates:
        return 0
    try:
        limits, _ = git_settings(root, local=True)
    except InputError as error:
        say(f"refusing the push: {error}")
        return 1
    return within(limits.seconds, lambda: run_gate(root, updates, lambda update: ["--all"], "HEAD", server_side=True),
                  server_side=True)


def within(seconds: float, work: Callable[[], int], server_side: bool) -> int:
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

    def stop() -> None:
        for target in (-child, child):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        os.waitpid(child, 0)

    deadline = time.monotonic() + seconds
    pause = 0.002
    try:
        while True:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    say(f"refusing the push: the check was stopped by signal {-code} (out of memory?).")
                    return 1
                return code
            if time.monotonic() > deadline:
                stop()
                if server_side:
                    say(f"refusing the push: checking it took longer than the gate allows ({seconds:g} s; "
                        f"git config migguard.timeout on the server); push fewer commits at once, or ask for a higher limit.")
                else:
                    say(f"refusing the push: checking it took longer than {seconds:g} s (git config migguard.timeout); "
                        f"raise the limit, or push with --no-verify to skip this check.")
                return 1
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
    except BaseException:  # Ctrl-C: the check goes too, and the push is refused
        stop()
        say("refusing the push: the check was interrupted.")
        return 1
