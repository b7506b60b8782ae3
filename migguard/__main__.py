"""Entry point. Hooks and the merge driver skip click: they run on every git command."""
from __future__ import annotations

import os
import sys


def main() -> None:
    arguments = sys.argv[1:]
    while arguments[:1] and arguments[0] in ("-q", "--quiet") and arguments[1:2] in (["hook"], ["merge-driver"], ["-q"], ["--quiet"]):
        os.environ["MIGGUARD_QUIET"] = "1"
        arguments = arguments[1:]
    if arguments[:1] == ["merge-driver"]:
        from migguard.mergedriver.driver import main as driver_main

        sys.exit(driver_main(arguments[1:]))
    if arguments[:1] == ["hook"]:
        from migguard.hooks.runner import main as hook_main

        sys.exit(hook_main(arguments[1:]))
    from migguard.cli import cli

    cli(prog_name="migguard")


if __name__ == "__main__":
    main()
