"""`python -m editor bench-ui`: slider-to-pixels latency through the real window, worker and model.

Drags the coarse mixing slider at a steady rate (a value change every `interval_ms`, as a mouse drag
produces) and records, for each preview that reaches the screen, the time since the change it shows;
then releases and records the time until the full-resolution image is on screen.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time


def run_bench_ui(args) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = tempfile.mkdtemp(prefix="face-editor-bench-")
    os.environ["XDG_DATA_HOME"] = tmp  # keep autosave and user directions out of the user's home
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from ..model import load_generator
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    gen = load_generator(device=args.device)
    window = MainWindow(gen, settings=QSettings(os.path.join(tmp, "s.ini"), QSettings.IniFormat))
    window.resize(1400, 900)
    window.show()

    def wait(pred, timeout=60.0):
        """Run the event loop until pred() holds (polled by a timer: a busy processEvents() loop leaks
        references to None in PySide6 6.12 and crashes Python 3.11 after a few million calls)."""
        loop, poll = QEventLoop(), QTimer(interval=2)
        end = time.perf_counter() + timeout
        poll.timeout.connect(lambda: loop.quit() if pred() or time.perf_counter() > end else None)
        poll.start()
        if not pred():
            loop.exec()
        poll.stop()
        if not pred():
            raise TimeoutError("no render in time")

    wait(lambda: window.last_full is not None)
    shown: list[tuple[float, object]] = []

    def on_rendered(result) -> None:
        if result.kind == "view":
            shown.append((time.perf_counter(), result))

    window.worker.rendered.connect(on_rendered)
    slider = window.mix.groups["coarse"]
    changed_at: dict = {}  # EditState -> time of the change that made it
    steps, interval = args.steps, args.interval_ms / 1000
    window.doc.begin_gesture()
    t0 = time.perf_counter()
    done = [0]

    def step() -> None:
        done[0] += 1
        slider.slider.setValue(round(100 * done[0] / steps))
        changed_at[window.doc.state] = time.perf_counter()
        if done[0] == steps:
            ticker.stop()

    ticker = QTimer(interval=round(interval * 1000))
    ticker.setTimerType(Qt.PreciseTimer)
    ticker.timeout.connect(step)
    ticker.start()
    wait(lambda: done[0] == steps)
    drag_end = time.perf_counter()
    wait(lambda: any(r.state == window.doc.state for _, r in shown))
    release_at = time.perf_counter()
    window.doc.end_gesture()
    wait(lambda: window.last_full is not None and window.last_full.state == window.doc.state)
    full_ms = (time.perf_counter() - release_at) * 1000
    previews = [(t, r) for t, r in shown if r.size != gen.resolution and r.state in changed_at]
    latencies = [(t - changed_at[r.state]) * 1000 for t, r in previews]
    during = [t for t, _ in previews if t <= drag_end]
    result = {"preview_size": previews[0][1].size if previews else None, "changes": steps,
              "drag_s": round(drag_end - t0, 2), "previews_shown": len(previews),
              "previews_per_s": round(len(during) / (drag_end - t0), 1),
              "preview_latency_ms_median": round(statistics.median(latencies), 1) if latencies else None,
              "preview_latency_ms_max": round(max(latencies), 1) if latencies else None,
              "preview_render_ms_median": round(statistics.median(r.ms for _, r in previews), 1) if previews else None,
              "full_after_release_ms": round(full_ms, 1), "device": str(gen.device),
              "dtype": str(gen.dtype).removeprefix("torch.")}
    window.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"drag: {steps} changes over {result['drag_s']} s -> {result['previews_shown']} previews "
              f"({result['preview_size']}²), {result['previews_per_s']}/s (target >= 10/s)")
        print(f"change -> preview on screen: median {result['preview_latency_ms_median']} ms, "
              f"max {result['preview_latency_ms_max']} ms (render alone: {result['preview_render_ms_median']} ms)")
        print(f"release -> full resolution on screen: {result['full_after_release_ms']} ms (target <= 600 ms)")
    return 0
