"""The hook shims start Python without `site` (`-S`) where they can: a virtualenv's `.pth` files (an editable
install's finder imports pathlib and re) cost more than a hook with nothing to do. What needs more than the
standard library and migguard in such a hook (the full hook, Django's version) adds `site` first. Any other
Python started with `-S` is left as it was started."""
from __future__ import annotations

import sys

_pending = False  # a hook started without `site`, which has not added it yet


def hook_started() -> None:
    """`migguard hook` started: its shim may have left `site` out."""
    global _pending
    _pending = bool(sys.flags.no_site) and "site" not in sys.modules


def ensure() -> None:
    """In such a hook: what `site` adds at start (site-packages, user site-packages, `.pth` files), once."""
    global _pending
    if _pending:
        _pending = False
        import site

        site.main()
