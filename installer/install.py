"""`migguard install`, `uninstall` and `status`: the merge driver, .gitattributes and hook shims."""
from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

from migguard import gitio
from migguard.errors import InputError
from migguard.installer import managers
from migguard.repository import config_value, open_repository

SHIM_MARKER = managers.MARKER
PREVIOUS = ".pre-migguard"
CLIENT_HOOKS = ("post-merge", "pre-commit", "post-rewrite", "pre-push", "post-checkout")
SERVER_HOOKS = ("pre-receive",)
STDIN_HOOKS = managers.STDIN_HOOKS
GATE_HOOKS = managers.GATES
DRIVER_NAME = "migguard: merge max_migration.txt as sets of migration names"

SHIM = """#!/bin/sh
{marker}: installed by `migguard install`, removed by `migguard uninstall`.
# Runs the hook that was here before (saved as {hook}{previous}), then migguard.
hook={hook}
python={python}
here=$(dirname "$0")
stdin_hook={stdin_hook}
gate={gate}
if [ "$stdin_hook" = 1 ]; then
    input=$(mktemp "${{TMPDIR:-/tmp}}/migguard-hook.XXXXXX") || exit 1
    trap 'rm -f "$input"' EXIT
    if [ -t 0 ]; then : > "$input"; else cat > "$input"; fi
fi
feed() {{ if [ "$stdin_hook" = 1 ]; then "$@" < "$input"; else "$@"; fi; }}
if [ -x "$here/$hook{previous}" ]; then
    feed "$here/$hook{previous}" "$@"
    status=$?
    if [ "$status" -ne 0 ] && [ "$hook" != post-merge ] && [ "$hook" != post-rewrite ]; then exit "$status"; fi
fi
if [ -x "$python" ]; then
    feed "$python" -I -m migguard hook "$hook" "$@"
elif command -v migguard >/dev/null 2>&1; then
    feed migguard hook "$hook" "$@"
else
    echo "migguard: not installed (no $python, no migguard on PATH); the $hook hook checked nothing." >&2
    if [ "$gate" = 1 ]; then
        echo "migguard: refusing. Reinstall migguard, or push with --no-verify to skip this check." >&2
        exit 1
    fi
fi
"""


def driver_command(python: str) -> str:
    """The driver, falling back to git's own text merge when migguard is gone (%P is quoted by git)."""
    quoted = shlex.quote(python)
    return (f"if [ -x {quoted} ]; then {quoted} -I -m migguard merge-driver %O %A %B %P; "
            f"elif command -v migguard >/dev/null 2>&1; then migguard merge-driver %O %A %B %P; "
            f"else git merge-file -L ours -L base -L theirs %A %O %B; fi")


def shim(hook: str, python: str) -> str:
    return SHIM.format(marker=SHIM_MARKER, hook=hook, previous=PREVIOUS, python=shlex.quote(python),
                       stdin_hook=int(hook in STDIN_HOOKS), gate=int(hook in GATE_HOOKS))


def is_ours(path: Path) -> bool:
    try:
        return SHIM_MARKER in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def hooks_directory(cwd: str | Path) -> Path:
    """Where git looks for hooks here (core.hooksPath respected)."""
    try:
        return gitio.git_path(cwd, "hooks")
    except gitio.GitError as error:
        raise InputError(str(error)) from None


def attributes_line(lockfile: str) -> str:
    return f"**/{lockfile} merge=migguard"


def _repository(cwd: str | Path) -> tuple[Path | None, bool]:
    """The work tree's top (None when bare) and whether the repository is bare."""
    repo = open_repository(cwd)
    return (None if repo.bare else Path(repo.working_tree_dir)), repo.bare  # type: ignore[arg-type]


def install_hook(directory: Path, hook: str, python: str) -> str:
    """Write the shim; an earlier hook is kept and run first. Behind the pre-commit framework's
    hook, the shim takes the `<hook>.legacy` slot that pre-commit runs before its own."""
    path = directory / hook
    if managers.is_pre_commit_hook(path):
        legacy = directory / f"{hook}.legacy"
        if is_ours(legacy):
            return _write_shim(legacy, hook, python, f"hook {hook}: already installed (run by pre-commit as {legacy.name})")
        note = _install_at(legacy, directory / f"{hook}{PREVIOUS}", hook, python)
        return f"hook {hook}: installed behind pre-commit as {legacy.name}{note}"
    if is_ours(path):
        return _write_shim(path, hook, python, f"hook {hook}: already installed")
    return f"hook {hook}: installed{_install_at(path, directory / f'{hook}{PREVIOUS}', hook, python)}"


def _write_shim(path: Path, hook: str, python: str, unchanged: str) -> str:
    text = shim(hook, python)
    if path.read_text(encoding="utf-8") == text:
        return unchanged
    path.write_text(text, encoding="utf-8")
    return f"hook {hook}: updated"


def _install_at(path: Path, previous: Path, hook: str, python: str) -> str:
    """Put the shim at `path`, moving what was there to `previous`; a note saying so."""
    note = ""
    if path.exists() or path.is_symlink():
        os.replace(path, previous)
        note = f" (runs the earlier hook first, kept as {previous.name})"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(shim(hook, python), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return note


def uninstall_hook(directory: Path, hook: str) -> str | None:
    for slot in (directory / hook, directory / f"{hook}.legacy"):
        if is_ours(slot):
            slot.unlink()
            previous = directory / f"{hook}{PREVIOUS}"
            if previous.exists() or previous.is_symlink():
                os.replace(previous, slot)
                return f"hook {hook}: removed, earlier hook restored"
            return f"hook {hook}: removed"
    return None


def hook_installed(directory: Path, hook: str) -> str | None:
    """How migguard's hook is installed here, or None."""
    if is_ours(directory / hook):
        return "installed" + (" (chained to an earlier hook)" if (directory / f"{hook}{PREVIOUS}").exists() else "")
    if is_ours(directory / f"{hook}.legacy") and managers.is_pre_commit_hook(directory / hook):
        return "installed (run by pre-commit)"
    return None


def install(cwd: str | Path = ".", server: bool = False, python: str | None = None) -> list[str]:
    """Install everything; a second run changes nothing. Returns what it did, a line each."""
    python = python or sys.executable
    top, bare = _repository(cwd)
    if server:
        if not bare:
            raise InputError("`migguard install --server` belongs in a bare repository (the one people push to).")
        directory = hooks_directory(cwd)
        return [install_hook(directory, hook, python) for hook in SERVER_HOOKS]
    if top is None:
        raise InputError("this is a bare repository: use `migguard install --server`.")
    from migguard.checking import write_locks
    from migguard.project import load_worktree

    project = load_worktree(top)
    lines = []
    created: list[str] = []
    if project.config.lockfile:
        attributes_existed = (top / ".gitattributes").exists()
        lines.append(_install_attributes(top, attributes_line(project.config.lockfile)))
        if not attributes_existed:
            created.append(".gitattributes")
        lines.append(_install_driver(top, python))
    directory = hooks_directory(top)
    mode = managers.layout(top, directory)
    if mode == "husky":
        lines += [managers.husky_install(top, hook, python) for hook in CLIENT_HOOKS]
    elif mode == "lefthook":
        lines += managers.lefthook_install(top, CLIENT_HOOKS, python)
    else:
        lines += [install_hook(directory, hook, python) for hook in CLIENT_HOOKS]
    if not project.apps:
        lines.append("no Django migrations found here yet: the hooks wait for the first one.")
    for path, before, leaf in write_locks(project):
        lines.append(f"lock file {path}: created ({leaf})" if before == "missing" else f"lock file {path}: {before}, now {leaf}")
        if before == "missing":
            created.append(path)
    _remember_created(top, created)
    for label in sorted(project.conflicts()):
        lines.append(f"app {label!r} has several leaves already ({', '.join(project.leaves(label))}): run `migguard fix`.")
    return lines


def _install_attributes(top: Path, line: str) -> str:
    path = top / ".gitattributes"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if line in text.splitlines():
        return ".gitattributes: already routes lock files to the migguard driver"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")
    return f".gitattributes: added `{line}` (commit it so every clone uses the driver)"


def _install_driver(top: Path, python: str) -> str:
    repo = open_repository(top)
    command = driver_command(python)
    if config_value(repo, 'merge "migguard"', "driver") == command:
        return "git config merge.migguard: already set"
    repo.git.config("merge.migguard.name", DRIVER_NAME)
    repo.git.config("merge.migguard.driver", command)
    return "git config merge.migguard: merge driver set"


RECORD = "installed-files.txt"


def _record_path(top: Path) -> Path:
    return gitio.common_dir(top) / "migguard" / RECORD


def _remember_created(top: Path, paths: list[str]) -> None:
    """Note in `<git-dir>/migguard/` the work-tree files `install` created, so `uninstall` can tell them
    from files the team committed."""
    if not paths:
        return
    record = _record_path(top)
    known = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("".join(f"{path}\n" for path in dict.fromkeys([*known, *paths])), encoding="utf-8")


def _tracked(top: Path, path: str) -> bool:
    return bool(gitio.run(["ls-files", "--", path], top).strip())


def uninstall(cwd: str | Path = ".") -> list[str]:
    """Remove the hooks, the git config and `<git-dir>/migguard/`, and only the untracked files
    `install` added; tracked files are never changed (the lines say which ones are left)."""
    top, bare = _repository(cwd)
    directory = hooks_directory(top or cwd)
    lines = [line for hook in (*CLIENT_HOOKS, *SERVER_HOOKS) if (line := uninstall_hook(directory, hook))]
    if top is not None:
        lines += [line for hook in CLIENT_HOOKS if (line := managers.husky_uninstall(top, hook))]
        if (line := managers.lefthook_uninstall(top)) is not None:
            lines.append(line)
        repo = open_repository(top)
        if repo.config_reader().has_section('merge "migguard"'):
            repo.git.config("--remove-section", "merge.migguard")
            lines.append("git config merge.migguard: removed")
        record = _record_path(top)
        created = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
        left = []
        path = top / ".gitattributes"
        if path.exists():
            lines_before = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines_before if not line.endswith(" merge=migguard")]
            if len(kept) != len(lines_before):
                if _tracked(top, ".gitattributes"):
                    if ".gitattributes" in created:
                        left.append(".gitattributes")
                else:
                    if any(line.strip() for line in kept):
                        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
                    else:
                        path.unlink()
                    lines.append(".gitattributes: migguard line removed")
        for lock in [p for p in created if p != ".gitattributes"]:
            if _tracked(top, lock):
                left.append(lock)
            elif (top / lock).is_file():
                (top / lock).unlink()
                lines.append(f"lock file {lock}: removed (install created it)")
        if left:
            lines.append(f"left as they are, tracked by git: {', '.join(left)} (install created them; remove the "
                         f"`merge=migguard` line and the lock files and commit, once the team stops using migguard)")
    cache = gitio.common_dir(top or cwd) / "migguard"
    if cache.is_dir():
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
        lines.append(f"{cache.name}/ in the git directory: removed (caches and the rename journal)")
    return lines or ["migguard was not installed here."]


def status(cwd: str | Path = ".") -> tuple[bool, list[str]]:
    """(everything installed, a line per part)."""
    top, bare = _repository(cwd)
    directory = hooks_directory(top or cwd)
    hooks = SERVER_HOOKS if bare else CLIENT_HOOKS
    mode = "plain" if top is None else managers.layout(top, directory)
    lines, complete = [], True
    for hook in hooks:
        if mode == "husky":
            how = "installed in .husky/" + hook if managers.husky_installed(top, hook) else None  # type: ignore[arg-type]
        elif mode == "lefthook":
            how = "installed as a lefthook job" if managers.lefthook_installed(top) else None  # type: ignore[arg-type]
        else:
            how = hook_installed(directory, hook)
        complete &= how is not None
        lines.append(f"hook {hook}: {how or 'missing'}")
    if top is not None:
        driver = config_value(open_repository(top), 'merge "migguard"', "driver")
        complete &= bool(driver)
        lines.append(f"merge driver: {'configured' if driver else 'missing'}")
        attributes = top / ".gitattributes"
        routed = attributes.exists() and any(l.endswith(" merge=migguard") for l in attributes.read_text(encoding="utf-8").splitlines())
        complete &= routed
        lines.append(f".gitattributes: {'routes lock files to migguard' if routed else 'missing the migguard line'}")
    return complete, lines
