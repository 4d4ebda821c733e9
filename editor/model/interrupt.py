"""Stopping a render part-way once its result is no longer wanted.

A drag frame takes 80-190 ms on a 2-core CPU. When the user releases the slider, the full render cannot
start until the frame under way is finished, and that frame will never be shown: it is waited for for
nothing (half a frame on average, 40-95 ms of the release -> full time). The networks call `checkpoint()`
between blocks; the render thread installs a check (`interruptible`) that says whether a request now
waiting makes the current one pointless, and `Superseded` unwinds the render (context managers included:
photo weight deltas are removed as usual). Per thread, so renders on other threads are never stopped.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

_local = threading.local()


class Superseded(Exception):
    """The render was stopped because a newer request replaced it; nothing to report."""


def checkpoint() -> None:
    check = getattr(_local, "check", None)
    if check is not None and check():
        raise Superseded("a newer request replaced this render")


@contextmanager
def interruptible(check: Callable[[], bool]) -> Iterator[None]:
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous
