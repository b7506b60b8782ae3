"""Entry point. Hooks, the merge driver and a plain `check` skip click: they run on every git command
(click alone costs more than answering a repeated `check --rev` from its cache)."""
from __future__ import annotations

import os
import sys

CHECK_FORMATS = ("text", "json", "github")


def main() -> None:
    arguments = sys.argv[1:]
    while arguments[:1] and arguments[0] in ("-q", "--quiet") and arguments[1:2] in (["hook"], ["merge-driver"], ["-q"], ["--quiet"]):
        os.environ["MIGGUARD_QUIET"] = "1"
        arguments = arguments[1:]
    if arguments[:1] == ["merge-driver"]:
        from migguard.mergedriver.driver import main as driver_main

        sys.exit(driver_main(arguments[1:]))
    if arguments[:1] == ["hook"]:
        from migguard.hooks.idle import run as run_hook

        sys.exit(run_hook(arguments[1:], end_process=True))
    status = check_without_click(arguments)
    if status is not None:
        sys.exit(status)
    from migguard.cli import cli

    cli(prog_name="migguard")


def check_options(arguments: list[str]) -> tuple[bool, str | None, str, str | None] | None:
    """(quiet, rev, format, path) of a plain `[-q] check [--rev REV] [--format F] [PATH]`; None for
    anything else (help, other options, a PATH that is not a directory: click answers those)."""
    quiet = False
    while arguments[:1] in (["-q"], ["--quiet"]):
        quiet, arguments = True, arguments[1:]
    if arguments[:1] != ["check"]:
        return None
    rev: str | None = None
    output = "text"
    path: str | None = None
    rest = arguments[1:]
    while rest:
        argument = rest.pop(0)
        name, equals, value = argument.partition("=")
        if name in ("--rev", "--format") and argument.startswith("--"):
            if not equals:
                if not rest:
                    return None
                value = rest.pop(0)
            if name == "--rev":
                rev = value
            elif value in CHECK_FORMATS:
                output = value
            else:
                return None
        elif argument.startswith("-") or path is not None or not os.path.isdir(argument):
            return None
        else:
            path = argument
    return quiet, rev or None, output, path


def check_without_click(arguments: list[str]) -> int | None:
    """`migguard check` as `cli.check` answers it, without importing click; None when click must answer
    (an option it alone knows, or colours for a terminal)."""
    options = check_options(arguments)
    if options is None:
        return None
    quiet, rev, output, path = options
    if not (_plain(sys.stdout) and _plain(sys.stderr)) or "_MIGGUARD_COMPLETE" in os.environ:
        return None
    if quiet:
        os.environ["MIGGUARD_QUIET"] = "1"
    from migguard import results

    if rev:
        result = results.cached_revision(path or ".", rev, None if path else "")
    elif path is None:
        from migguard import snapshot

        result = snapshot.cached_worktree(".")
    else:
        result = None
    if result is None:
        from migguard import checking
        from migguard.errors import InputError

        try:
            result = checking.check(path, rev)
        except InputError as error:
            print(f"migguard: {error}", file=sys.stderr)
            return 2
    from migguard import report

    if output == "text":
        quiet = os.environ.get("MIGGUARD_QUIET", "") not in ("", "0")
        lines = report.as_text(result).splitlines()
        for index, line in enumerate(lines):
            problem = line.startswith("error:") if index < len(lines) - 1 else not result["ok"]
            if problem or not quiet:
                print(line)
    else:
        print(report.FORMATS[output](result))
    sys.stdout.flush()
    return 0 if result["ok"] else 1


def _plain(stream: object) -> bool:
    """Whether click would print to `stream` without colours (NO_COLOR, or no terminal and no FORCE_COLOR)."""
    if os.environ.get("NO_COLOR"):
        return True
    if os.environ.get("FORCE_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    main()
