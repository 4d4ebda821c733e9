"""`python -m editor bench-ui`: what a drag looks like through the real window, worker and model.

For each mixing group (coarse, middle, fine) it drags the slider 0 -> 1 at a steady rate (a value change
every `interval_ms`, as a mouse drag produces), records every frame that reaches the screen and the time
since the change it shows, then releases and records the time until the full-resolution image is on
screen. Afterwards each frame shown during the drag is compared with the full render of its own edit at
the frame's size (a frame that *is* that full render counts as identical, reported as 99 dB).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

import numpy as np

from editor.defaults import DEFAULT_PSI

IDENTICAL_DB = 99.0


def _psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return IDENTICAL_DB if mse == 0 else min(IDENTICAL_DB, 10 * np.log10(255.0 ** 2 / mse))


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image
    if image.shape[0] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BOX))


def run_bench_ui(args) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = tempfile.mkdtemp(prefix="face-editor-bench-")
    os.environ["XDG_DATA_HOME"] = tmp  # keep autosave and user directions out of the user's home
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from editor.model import load_generator
    from editor.render import RenderRequest, render
    from editor.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])  # noqa: F841 - keeps Qt alive
    gen = load_generator(device=args.device)
    window = MainWindow(gen, settings=QSettings(os.path.join(tmp, "s.ini"), QSettings.IniFormat))
    width, height = (int(v) for v in getattr(args, "window", "1400x900").lower().split("x"))
    window.resize(width, height)
    window.show()

    def wait(pred, timeout=120.0):
        """Run the event loop until pred() holds, polled by a timer (a busy processEvents() loop would burn
        a core the renderer needs; it also drained None's refcount under PySide6 6.12.0, now excluded)."""
        loop, poll = QEventLoop(), QTimer(interval=2)
        end = time.perf_counter() + timeout
        poll.timeout.connect(lambda: loop.quit() if pred() or time.perf_counter() > end else None)
        poll.start()
        if not pred():
            loop.exec()
        poll.stop()
        if not pred():
            raise TimeoutError("no render in time")

    def settled():
        return window.last_full is not None and window.last_full.state == window.doc.state

    wait(settled)
    page = window._gallery_page
    wait(lambda: len(page["images"]) == len(page["seeds"]))  # start-up thumbnails done: measure a steady app
    shown: list[tuple[float, object]] = []
    window.worker.rendered.connect(lambda r: shown.append((time.perf_counter(), r)) if r.kind == "view" else None)
    drags = {}
    base = window.doc.state
    for name, slider, state in _drag_plan(window, gen, base, getattr(args, "all_drags", False)):
        window.doc.set_state(state, "bench reset")
        wait(settled)
        shown.clear()
        drags[name] = _drag(window, slider, args, wait, settled, shown, gen)

    # Fidelity of what was on screen: each frame against the full render of its own edit.
    for group, d in drags.items():
        scores = []
        for r in d.pop("frames"):
            full = r.images[0] if r.size == gen.resolution else render(
                gen, RenderRequest(0, r.state), window.directions).images[0]
            scores.append(_psnr_uint8(r.images[0], _shrink(full, r.size)))
        d["psnr_db"] = scores
    window.doc.undo_stack.setClean()  # the bench edit is not the user's: close without asking
    window.close()
    every = [s for d in drags.values() for s in d["psnr_db"]]
    result = {
        "device": str(gen.device), "dtype": str(gen.dtype).removeprefix("torch."),
        "previews_per_s": round(statistics.median(d["per_s"] for d in drags.values()), 1),
        "change_to_screen_ms": round(statistics.median(x for d in drags.values() for x in d["latency"]), 1),
        "release_to_full_ms": round(max(d["release_to_full_ms"] for d in drags.values()), 1),
        "preview_psnr_db_mean": round(float(np.mean(every)), 2) if every else None,
        "preview_psnr_db_min": round(float(min(every)), 2) if every else None,
        "preview_size": sorted({s for d in drags.values() for s in d["sizes"]}),
        "exact_sizes": list(gen.exact_sizes), "window": f"{width}x{height}",
        "face_on_screen_px": round(window.view.shown_pixels()),
        "trusted_preview_sizes": list(gen.trusted_preview_sizes),
        "drags": {g: {"frames": len(d["psnr_db"]), "per_s": round(d["per_s"], 1),
                      "change_to_screen_ms_median": round(statistics.median(d["latency"]), 1) if d["latency"] else None,
                      "release_to_full_ms": round(d["release_to_full_ms"], 1),
                      "psnr_db_min": round(min(d["psnr_db"]), 2) if d["psnr_db"] else None}
                  for g, d in drags.items()},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'drag':<16}{'frames':>7}{'per s':>7}{'change->screen ms':>19}{'release->full ms':>18}{'worst dB':>10}")
    for g, d in result["drags"].items():
        print(f"{g:<16}{d['frames']:>7}{d['per_s']:>7}{d['change_to_screen_ms_median']!s:>19}"
              f"{d['release_to_full_ms']:>18}{d['psnr_db_min']!s:>10}")
    print(f"window {result['window']}, face {result['face_on_screen_px']} px on screen; frames shown at "
          f"{result['preview_size']}² (exact sizes: {result['exact_sizes'] or 'none'}; "
          f"trusted previews: {result['trusted_preview_sizes'] or 'none'}); "
          f"every frame vs the full render of its edit: mean {result['preview_psnr_db_mean']} dB, worst "
          f"{result['preview_psnr_db_min']} dB ({IDENTICAL_DB:.0f} = identical). Targets: >= 10/s, >= 30 dB, "
          f"release -> full <= 400 ms")
    return 0


def _drag_plan(window, gen, base, every: bool) -> list:
    """(name, QSlider, state to start from): the three mixing groups; with `every`, also truncation, each
    direction, and coarse mixing of a W+ latent whose rows disagree, as a projected photo's do."""
    plan = [(g, window.mix.groups[g].slider, base) for g in ("coarse", "middle", "fine")]
    if not every:
        return plan
    from editor.edit import Source
    plan.append(("psi", window.adjust.psi.slider, base))
    plan += [(name, s.slider, base) for name, s in sorted(window.directions_panel.sliders.items())]
    rng = np.random.default_rng(2024)
    w = gen.mapping(gen.z_from_seed(7), psi=DEFAULT_PSI).float().cpu().numpy().reshape(1, -1)
    sigma = float((gen.mapping(gen.z_from_seed(8)) - gen.w_avg).std())  # the spread of W about its mean
    w_plus = (w + 0.3 * sigma * rng.standard_normal((gen.num_ws, gen.w_dim))).astype(np.float32)
    photo_like = base.with_source("a", Source.from_latent(w_plus, "bench: W+ latent"))
    plan.append(("W+ coarse", window.mix.groups["coarse"].slider, photo_like))
    return plan


def _drag(window, slider, args, wait, settled, shown, gen) -> dict:
    from PySide6.QtCore import Qt, QTimer
    changed_at: dict = {}  # EditState -> time of the change that made it
    steps = args.steps
    window.doc.begin_gesture()
    t0 = time.perf_counter()
    done = [0]

    def step() -> None:
        done[0] += 1
        slider.setValue(round(slider.minimum() + (slider.maximum() - slider.minimum()) * done[0] / steps))
        changed_at.setdefault(window.doc.state, time.perf_counter())
        if done[0] == steps:
            ticker.stop()

    ticker = QTimer(interval=round(args.interval_ms))
    ticker.setTimerType(Qt.PreciseTimer)
    ticker.timeout.connect(step)
    ticker.start()
    wait(lambda: done[0] == steps)
    drag_end = time.perf_counter()
    release_at = time.perf_counter()
    window.doc.end_gesture()
    wait(settled)
    full_ms = (time.perf_counter() - release_at) * 1000
    during = [(t, r) for t, r in shown if t <= drag_end and r.state in changed_at and r.error is None]
    return {"frames": [r for _, r in during], "per_s": len(during) / (drag_end - t0),
            "latency": [(t - changed_at[r.state]) * 1000 for t, r in during],
            "sizes": {r.size for _, r in during}, "release_to_full_ms": full_ms}


if __name__ == "__main__":  # python -m tools.bench_ui: the same command as `python -m editor bench-ui`
    import sys

    from editor.cli import main
    sys.exit(main(["bench-ui", *sys.argv[1:]]))
