"""Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is crossed.
With the render, meter, import and background threads allocating all the time, that was usually one of them:
in the GUI tests, 8,000-object full collections ran on worker threads. A collection there can free Qt objects
off their own thread, which Qt does not allow (crashes, or hangs: the likeliest cause found for a CI run that
stopped for 80 minutes inside a GUI test). So while the app runs, automatic collection is off and the GUI
thread collects on a timer, with Python's own thresholds checked once a second (pyqtgraph's GarbageCollector)."""

from __future__ import annotations

import gc

_collector = None


def collect_in_gui_thread() -> None:
    """Idempotent; call from the GUI thread once a QApplication exists."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector
        _collector = GarbageCollector(interval=1.0)
    gc.disable()  # again, should anything have turned it back on
