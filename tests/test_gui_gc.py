"""Garbage is collected on the GUI thread only (editor.qt.gui_gc): a collection on a render or meter thread can
free Qt objects off their own thread."""

from __future__ import annotations

import gc
import threading

import pytest

pytest.importorskip("pytestqt")


def test_while_a_window_is_open_collections_run_on_the_gui_thread_only(qtbot, make_default_window):
    gc.enable()  # as in a fresh process: opening the window must turn automatic collection off
    threads: list[threading.Thread] = []

    def seen(phase, info):
        if phase == "stop":
            threads.append(threading.current_thread())
    gc.callbacks.append(seen)
    try:
        w = make_default_window(seed_a=3, seed_b=4)
        assert not gc.isenabled()
        qtbot.waitUntil(lambda: w.last_full is not None, timeout=60_000)
        slider = w.mix.groups["coarse"].slider
        for step in range(1, 6):  # the render thread allocates for each frame
            slider.setValue(slider.minimum() + step * (slider.maximum() - slider.minimum()) // 6)
            qtbot.waitUntil(lambda: w.last_full is not None and w.last_full.state == w.doc.state, timeout=60_000)
        garbage = [[] for _ in range(3000)]  # cycles, over gen 0's threshold of 700
        for g in garbage:
            g.append(g)
        del garbage
        qtbot.waitUntil(lambda: bool(threads), timeout=3000)  # the GUI thread's timer collects within a second
    finally:
        gc.callbacks.remove(seen)
    assert all(t is threading.main_thread() for t in threads), {t.name for t in threads}
