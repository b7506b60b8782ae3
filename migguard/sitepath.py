"""The hook shims start Python without `site` (`-S`) where they can: a virtualenv's `.pth` files (an editable
install's finder imports pathlib and re) cost more than a hook with nothing to do. What needs more than the
standard library and migguard (the full hook, Django's version) adds `site` first."""
from __future__ import annotations

import sys

_added = False


def ensure() -> None:
    """What `site` adds at start (site-packages, user site-packages, `.pth` files), once, when Python started
    without it."""
    global _added
    if sys.flags.no_site and not _added and "site" not in sys.modules:
        _added = True
        import site

        site.main()
