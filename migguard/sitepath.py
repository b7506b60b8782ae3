"""The hook shims start Python without `site` (`-S`) where they can: a virtualenv's `.pth` files (an editable
install's finder imports pathlib and re) cost more than a hook with nothing to do. What needs more than the
standard library and migguard in such a hook (the full hook, Django's version) adds `site` first. Any other
Python started with `-S` is left as it was started."""
from __future__ import annotations

import sys


def ensure() -> None:
    """In a hook (`<python> -S ... -c BOOT hook NAME ...`, as the shims start it) without `site`: what `site`
    adds at start (site-packages, user site-packages, `.pth` files), once."""
    if sys.flags.no_site and "site" not in sys.modules and sys.argv[1:2] == ["hook"]:
        import site

        site.main()
