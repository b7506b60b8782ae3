"""Pause Python's cyclic garbage collector around work that builds many objects and no cycles (tens of
thousands of tuples and sets for a large repository): its passes over them would cost more than the work."""
from __future__ import annotations

import gc


class paused:  # noqa: N801 - used as `with paused():`
    """`with paused():` the collector is off inside, and back as it was after."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exception: object) -> None:
        if self.was_enabled:
            gc.enable()
