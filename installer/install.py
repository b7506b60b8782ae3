"""`migguard install`, `uninstall` and `status`: the merge driver, .gitattributes and hook shims."""
from __future__ import annotations

import contextlib
import os
import shlex
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from migguard import gitio, safewrite
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
case $0 in */*) here=${{0%/*}} ;; *) here=. ;; esac
stdin_hook={stdin_hook}
gate={gate}
input=
if [ "$stdin_hook" = 1 ] && [ -x "$here/$hook{previous}" ]; then  # both read what git writes: keep a copy
    input=$(mktemp "${{TMPDIR:-/tmp}}/migguard-hook.XXXXXX") || exit 1
    trap 'rm -f "$input"' EXIT
    if [ -t 0 ]; then : > "$input"; else cat > "$input"; fi
fi
feed() {{ if [ -n "$input" ]; then "$@" < "$input"; else "$@"; fi; }}
if [ -x "$here/$hook{previous}" ]; then
    feed "$here/$hook{previous}" "$@"
    status=$?
    if [ "$status" -ne 0 ] && [ "$hook" != post-merge ] && [ "$hook" != post-rewrite ]; then exit "$status"; fi
fi
if [ -x "$python" ]; then
    feed "$python" {run} hook "$hook" "$@"
elif command -v migguard >/dev/null 2>&1; then
    feed migguard hook "$hook" "$@"
else
    echo "migguard: not installed (no $python, no migguard on PATH); the $hook hook checked nothing." >&2
    if [ "$gate" = 1 ]; then
        if [ "$hook" = pre-receive ]; then
            echo "migguard: refusing the push until migguard is reinstalled on the server." >&2
        else
            echo "migguard: refusing. Reinstall migguard, or push with --no-verify to skip this check." >&2
        fi
        exit 1
    fi
fi
"""


def driver_command(python: str) -> str:
    """The driver, falling back to git's own text merge when migguard is gone (%P is quoted by git)."""
    quoted = shlex.quote(python)
    return (f"if [ -x {quoted} ]; then {quoted} {managers.run_arguments()} merge-driver %O %A %B %P; "
            f"elif command -v migguard >/dev/null 2>&1; then migguard merge-driver %O %A %B %P; "
            f"else git merge-file -L ours -L base -L theirs %A %O %B; fi")


def shim(hook: str, python: str) -> str:
    return SHIM.format(marker=SHIM_MARKER, hook=hook, previous=PREVIOUS, python=shlex.quote(python),
                       run=managers.hook_arguments(python), stdin_hook=int(hook in STDIN_HOOKS), gate=int(hook in GATE_HOOKS))


def is_ours(path: Path) -> bool:
    try:
        return SHIM_MARKER.encode() in (safewrite.read(str(path)) or b"")
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
    if safewrite.read(str(path)) == text.encode():
        return unchanged
    _write_hook(path, text)
    return f"hook {hook}: updated"


def _write_hook(path: Path, text: str) -> None:
    """Write a hook file atomically inside its hooks directory (never through a symlink leaving it), executable."""
    mode = 0o777 & ~safewrite.UMASK
    safewrite.write(path.parent, path.name, text.encode(),
                    mode=mode | stat.S_IXUSR | (stat.S_IXGRP if mode & stat.S_IRGRP else 0)
                    | (stat.S_IXOTH if mode & stat.S_IROTH else 0))


def _install_at(path: Path, previous: Path, hook: str, python: str) -> str:
    """Put the shim at `path`, moving what was there to `previous`; a note saying so."""
    note = ""
    if path.exists() or path.is_symlink():
        os.replace(path, previous)
        note = f" (runs the earlier hook first, kept as {previous.name})"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_hook(path, shim(hook, python))
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
    with _one_sentence("installing", "; run `migguard install` again once that is fixed.", "."):
        return _install(cwd, server, python)


def _install(cwd: str | Path, server: bool, python: str | None) -> list[str]:
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
    from migguard.project import load_projects

    projects = load_projects(top)
    project = projects[0]
    _refuse_read_only([top / ".git" if (top / ".git").is_dir() else None, hooks_directory(top)], "install")
    locks = [path for each in projects for path, _, _ in write_locks(each, check_only=True)]
    for path in [".gitattributes", *locks]:
        try:
            safewrite.target(top, path)
        except safewrite.UnsafePath as error:
            raise InputError(f"{error} Nothing was installed.") from None
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
        lines += [managers.husky_install(top, hook) for hook in CLIENT_HOOKS]
    elif mode == "lefthook":
        lines += managers.lefthook_install(top, CLIENT_HOOKS, python)
    else:
        lines += [install_hook(directory, hook, python) for hook in CLIENT_HOOKS]
    if not any(project.apps for project in projects):
        lines.append("no Django migrations found here yet: the hooks wait for the first one.")
    for project in projects:
        for path, before, leaf in write_locks(project):
            lines.append(f"lock file {path}: created ({leaf})" if before == "missing" else f"lock file {path}: {before}, now {leaf}")
            if before == "missing":
                created.append(path)
        for label in sorted(project.conflicts()):
            lines.append(f"app {label!r} has several leaves already ({', '.join(project.leaves(label))}): run `migguard fix`.")
    _remember_created(top, created)
    _check_head(top)
    return lines


def _check_head(top: Path) -> None:
    """Check the commit checked out, so its result is cached: the hooks then answer the next merge or commit
    adding a migration from it and the files that commit adds (a repository with no commit yet has none)."""
    from migguard import gitio
    from migguard.checking import check_revision

    try:
        check_revision(top, "HEAD", under="")
    except (InputError, gitio.GitError, OSError):  # only a cache warmed: the hooks check again whatever this could not
        pass


def _install_attributes(top: Path, line: str) -> str:
    try:
        added = safewrite.append_line(top, ".gitattributes", line.encode())
    except safewrite.UnsafePath as error:
        raise InputError(str(error)) from None
    except OSError as error:
        raise InputError(f"could not write .gitattributes: {_reason(error)}.") from None
    if not added:
        return ".gitattributes: already routes lock files to the migguard driver"
    return f".gitattributes: added `{line}` (commit it so every clone uses the driver)"


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _attribute_lines(top: Path) -> list[bytes] | None:
    """The lines of `.gitattributes` as bytes (any encoding), None when there is none."""
    try:
        data = safewrite.read(str(top / ".gitattributes"))
    except OSError as error:
        raise InputError(f"could not read .gitattributes: {_reason(error)}.") from None
    return None if data is None else data.splitlines(keepends=True)


def _routes_to_migguard(line: bytes) -> bool:
    return line.rstrip().endswith(b" merge=migguard")


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
    `install` added; tracked files are never changed (the lines say which ones are left). Stops with
    one sentence (InputError) at what it cannot change."""
    top, bare = _repository(cwd)
    directory = hooks_directory(top or cwd)
    with _one_sentence("uninstalling",
                       " (is the repository read-only?); run `migguard uninstall` again once it is writable.",
                       "; run `migguard uninstall` again once the repository is writable."):
        return _uninstall(top, directory)


@contextlib.contextmanager
def _one_sentence(doing: str, after_os_error: str, after_git_error: str) -> Iterator[None]:
    """Turn what can go wrong half-way through (an unsafe path, the file system, git config) into one InputError."""
    try:
        yield
    except safewrite.UnsafePath as error:
        raise InputError(f"could not finish {doing}: {error}") from None
    except OSError as error:
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        raise InputError(f"could not finish {doing}:{where} {_reason(error)}{after_os_error}") from None
    except git_errors() as error:
        raise InputError(f"could not finish {doing}: git config failed ({_git_reason(error)}){after_git_error}") from None


def git_errors() -> tuple[type[Exception], ...]:
    from git.exc import GitCommandError

    return (GitCommandError,)


def _git_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(getattr(error, "stderr", "") or error).splitlines() if line.strip()]
    last = lines[-1].removeprefix("stderr:").strip().strip("'\"").strip() if lines else ""
    return last.removeprefix("error: ").removeprefix("fatal: ") or "unknown error"


def _uninstall(top: Path | None, directory: Path) -> list[str]:
    if top is not None:
        _refuse_read_only([top / ".git" if (top / ".git").is_dir() else None, directory], "uninstall")
    else:
        _refuse_read_only([directory], "uninstall")
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
        lines_before = _attribute_lines(top)
        if lines_before is not None:
            kept = [line for line in lines_before if not _routes_to_migguard(line)]
            if len(kept) != len(lines_before):
                if _tracked(top, ".gitattributes"):
                    if ".gitattributes" in created:
                        left.append(".gitattributes")
                else:
                    if any(line.strip() for line in kept):
                        safewrite.write(top, ".gitattributes", b"".join(kept))
                    else:
                        safewrite.remove(top, ".gitattributes")
                    lines.append(".gitattributes: migguard line removed")
        for lock in [p for p in created if p != ".gitattributes"]:
            if _tracked(top, lock):
                left.append(lock)
            elif (top / lock).is_file() and not (top / lock).is_symlink():
                safewrite.remove(top, lock)
                lines.append(f"lock file {lock}: removed (install created it)")
        if left:
            lines.append(f"left as they are, tracked by git: {', '.join(left)} (install created them; remove the "
                         f"`merge=migguard` line and the lock files and commit, once the team stops using migguard)")
    cache = gitio.common_dir(top or directory) / "migguard"
    if cache.is_dir():
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
        lines.append(f"{cache.name}/ in the git directory: removed (caches and the rename journal)")
    return lines or ["migguard was not installed here."]


def _refuse_read_only(directories: list[Path | None], command: str) -> None:
    """InputError before anything changes when a directory `command` writes in is read-only."""
    for directory in directories:
        if directory is not None and directory.is_dir() and not os.access(directory, os.W_OK):
            raise InputError(f"cannot {command}: {directory} is read-only; nothing was changed.")


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
        routed = any(_routes_to_migguard(line) for line in _attribute_lines(top) or [])
        complete &= routed
        lines.append(f".gitattributes: {'routes lock files to migguard' if routed else 'missing the migguard line'}")
    return complete, lines
