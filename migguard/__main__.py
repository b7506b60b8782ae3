"""Entry point. Hooks and the merge driver skip click: they run on every git command."""
from __future__ import annotations

import sys


def main() -> None:
    arguments = sys.argv[1:]
    if arguments[:1] == ["merge-driver"]:
        from migguard.mergedriver.driver import main as driver_main

        sys.exit(driver_main(arguments[1:]))
    if arguments[:1] == ["hook"]:
        from migguard.hooks.runner import main as hook_main

        sys.exit(hook_main(arguments[1:]))
    from migguard.cli import cli

    cli()


if __name__ == "__main__":
    main()
