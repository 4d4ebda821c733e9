"""`python -m editor bench-drag`: the render side of a drag, without Qt.

The app's own scheduler (editor.pipeline.scheduler, which the window's render worker wraps), driven
without Qt: each drag frame goes to its view slot, which holds only the newest request (requests never
started are dropped; a waiting full render stops a frame under way). A driver changes the coarse, middle or fine mix every
`interval_ms` as a mouse drag does, each frame "reaches the screen" when it is a uint8 array (what the
viewer gets), then the drag is released and the full render of the final state is timed. With no window,
GUI thread or meters beside it, this is the ceiling the app can reach on this device; `bench-ui` measures
the app itself. It runs where Qt is not installed (a GPU server) and reports the same fields.
"""

from __future__ import annotations

import json
import statistics
import threading
import time

import numpy as np

from editor.pipeline.scheduler import Scheduler


def measure_drags(gen, steps: int = 100, interval_ms: float = 30.0, directions=None,
                  frame_size: int | None = None) -> dict:
    """frame_size: what each drag frame renders (None: full; the app uses an exact size when the face is
    shown small, editor.qt.render_requests)."""
    from editor.edit import EditState
    from editor.render import RenderRequest, render

    directions = directions or {}
    shown: list[tuple[float, object, object]] = []
    lock = threading.Lock()

    def done(delivery):  # on the scheduler's thread, as the app's worker gets it
        with lock:
            shown.append((time.perf_counter(), delivery.tag, delivery.value))

    def shown_at(number: int) -> float:
        """Wait for request `number` to reach the screen; the time it did."""
        while True:
            with lock:
                at = next((t for t, req, _ in shown if req.stamp == number), None)
            if at is not None:
                return at
            time.sleep(0.001)

    scheduler = Scheduler()

    def submit(request) -> None:
        scheduler.submit("view", lambda: render(gen, request, directions), done, request)
    base = EditState.new(gen.fingerprint, gen.num_ws, 3, 7)
    stamp = iter(range(1, 10 ** 9))
    # Warm-up on the render thread itself: CUDA libraries set up per thread (cuBLAS, cuDNN handles), so
    # warming the main thread left the first drag seconds of set-up (coarse: 2.9 frames/s on an H200).
    for state in (base, base.with_group_mix(range(gen.num_ws), 0.5), base.with_group_mix(range(gen.num_ws), 1.0)):
        number = next(stamp)
        submit(RenderRequest(number, state))
        shown_at(number)
    drags = {}
    for group, rows in gen.layer_groups.items():
        state = base.with_group_mix(range(gen.num_ws), 0.0)
        with lock:
            shown.clear()
        changed_at = {}
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            state = state.with_group_mix(rows, i / steps)
            changed_at.setdefault(state, time.perf_counter())
            submit(RenderRequest(next(stamp), state, frame_size))
            time.sleep(max(0.0, t0 + i * interval_ms / 1000 - time.perf_counter()))
        drag_end = release = time.perf_counter()
        last = next(stamp)
        submit(RenderRequest(last, state))  # the release asks for the full render of where it stopped
        final = shown_at(last)
        with lock:
            during = [(t, req, r) for t, req, r in shown if t <= drag_end and r.error is None]
            errors = sorted({r.error for t, _, r in shown if t <= drag_end and r.error})
        latency = [(t - changed_at[req.state]) * 1000 for t, req, _ in during]
        drags[group] = {"frames": len(during), "per_s": round(len(during) / (drag_end - t0), 1),
                        "change_to_screen_ms_median": round(statistics.median(latency), 1) if latency else None,
                        "release_to_full_ms": round((final - release) * 1000, 1),
                        "render_ms_median": round(statistics.median(r.ms for _, _, r in during), 1) if during else None,
                        "sizes": sorted({r.size for _, _, r in during}), "errors": errors}
    scheduler.stop()
    return {"device": str(gen.device), "dtype": str(gen.dtype).removeprefix("torch."),
            "previews_per_s": round(statistics.median(d["per_s"] for d in drags.values()), 1),
            "change_to_screen_ms": round(statistics.median(d["change_to_screen_ms_median"] or np.nan
                                                           for d in drags.values()), 1),
            "release_to_full_ms": max(d["release_to_full_ms"] for d in drags.values()),
            # Full frames, or exact sizes (the full render's own area-downsample): identical by construction.
            "preview_psnr_db_min": 99.0 if all(set(d["sizes"]) <= {gen.resolution, *gen.exact_sizes}
                                               for d in drags.values()) else None,
            "preview_size": sorted({s for d in drags.values() for s in d["sizes"]}),
            "drags": drags}


def run_bench_drag(args) -> int:
    from editor.model import load_generator
    gen = load_generator(device=args.device)
    size = None
    if args.exact:
        if not gen.exact_sizes:
            print(f"{gen.name} has no exact smaller size: drags render full frames")
        size = max(gen.exact_sizes, default=None)
    result = measure_drags(gen, steps=args.steps, interval_ms=args.interval_ms, frame_size=size)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"device {result['device']} {result['dtype']}: render thread only (no window, no meters)")
    print(f"{'drag':<8}{'frames':>7}{'per s':>7}{'change->screen ms':>19}{'release->full ms':>18}{'render ms':>11}")
    for g, d in result["drags"].items():
        print(f"{g:<8}{d['frames']:>7}{d['per_s']:>7}{d['change_to_screen_ms_median']!s:>19}"
              f"{d['release_to_full_ms']:>18}{d['render_ms_median']!s:>11}")
        for e in d["errors"]:
            print(f"  failed frames: {e}")
    print(f"frames at {result['preview_size']}²; targets >= 10/s, release -> full <= 400 ms")
    return 0


if __name__ == "__main__":  # python -m tools.bench_drag: the same command as `python -m editor bench-drag`
    import sys

    from editor.cli import main
    sys.exit(main(["bench-drag", *sys.argv[1:]]))
