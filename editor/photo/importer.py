"""One photo import for the app, `python -m editor project` and `batch`: pivot -> tuning -> detail maps.

By steps, not seconds: the default is a fixed, seeded schedule (PRESETS), so the same photo and settings
give the same latent and delta on any CPU, busy or not (within float tolerance); a slower machine only
takes longer, and `estimate` says how long before it starts. A budget (`seconds`) stays an option: it is
turned into step counts from the measured pace before each stage (the stages still run by steps, so the
shape of each schedule never depends on the clock), and a stage that cannot reach its minimum steps in
what is left is skipped, never starved: 11 detail steps painted green backgrounds, 3 pivot steps a ghost.

Every stage must earn its place: after it runs, the result is measured on what the stage was not fitted
to (PSNR at full size, and a colour error: mean CIE76 ΔE at COLOUR_SIZE², the photo's colours as the eye
compares them), through the app's own render. A stage that does not raise the PSNR or that raises the
colour error is dropped and the result is the previous stage's: maps that paint a colour the photo does
not have never reach the file. The result says which stages ran, which were kept, and why.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from .project import project, to_target


@dataclass(frozen=True)
class Schedule:
    pivot: int
    tuning: int
    detail: int

    @property
    def steps(self) -> tuple[int, int, int]:
        return self.pivot, self.tuning, self.detail


# normal: the pivot and tuning steps the old 90 s budget reached on a quiet 2-core AVX512-BF16 CPU (85-89 +
# 29-32), and 120 map steps: with 54 an old photo stayed at 31 dB, with 120 it reached 35.4 for +30% time
# (docs/photo-import.md). quick: half the pivot and tuning, 54 maps (30 left pink and green speckle on an
# upsampled face). best: more of every stage.
PRESETS = {"quick": Schedule(45, 16, 54), "normal": Schedule(90, 32, 120), "best": Schedule(200, 72, 240)}
DEFAULT = "normal"
MINIMUM = Schedule(40, 16, 50)   # fewer steps than these give damaged faces (green maps, speckle, ghost pivots)
SHARES = {"pivot": 0.4, "tuning": 0.33, "detail": 0.27}  # of a budget, as the old clock-driven import split it
MOST = Schedule(2000, 800, 1000)  # a budget's plan never goes past these
PLANNED, OVERRUN = 0.92, 1.05  # a budget's plan fills this much of it; any stage stops at this much (+2 s)
COLOUR_SIZE = 128  # the colour error's resolution: a tinted background or a streak of a wrong hue, not grain
PSNR_GAIN = 0.05   # dB a stage must add at full size to be kept
COLOUR_SLACK = 0.1  # ΔE a stage may add to the colour error (well under what the eye can tell)
# The import's sums in one order on every machine: oneDNN splits a convolution's sums by the thread count, and
# ~180 steps of fitting carry that rounding on to a visibly different fit (one thread against two: up to 1.1 dB).
# So a CPU import runs on THREADS threads however many cores there are, busy or not: the same bits on one core
# (two threads share it, no slower than one) or sixteen (docs/photo-import.md). None: all cores, not reproducible.
THREADS = 2


@contextmanager
def pinned_threads(gen, threads: int | None) -> Iterator[None]:
    """Run the block on `threads` intra-op threads (a CPU generator only), then restore the caller's count.
    torch keeps the count per thread, so an app's render thread is not affected by its import thread."""
    if threads is None or gen.device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def schedule_of(spec) -> Schedule:
    """A preset name, a Schedule, or (pivot, tuning[, detail]) step counts."""
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"schedule must be one of {', '.join(PRESETS)}, not {spec!r}")
        return PRESETS[spec]
    steps = tuple(int(s) for s in spec)
    if len(steps) not in (2, 3) or any(s < 0 for s in steps):
        raise ValueError(f"a schedule is (pivot, tuning[, detail]) step counts >= 0, not {spec!r}")
    return Schedule(*steps, *((0,) if len(steps) == 2 else ()))


# ----------------------------------------------------------------------------------------------- time
@dataclass
class StepCosts:
    """Seconds for one forward + backward of the synthesis network on a preview (512²) and a full render,
    measured on this machine now; each stage's step is a mix of these (its own preview share, and tuning's
    locality render beside the photo's), calibrated once against the stages' own paces here."""
    preview: float
    full: float

    def step(self, stage: str) -> float:
        if stage == "pivot":   # 70% preview steps, 30% full (project.full_fraction)
            return 0.7 * self.preview + 0.3 * self.full
        if stage == "tuning":  # the photo's render, the locality face's render and its untouched twin
            return 2.8 * (0.75 * self.preview + 0.25 * self.full)
        return 1.15 * self.full  # detail: full renders only

    def setup(self, stage: str) -> float:
        """Before the first step and after the last: candidates, final renders, the keep check."""
        return {"pivot": 6 * self.preview + self.full, "tuning": 2 * self.full}.get(stage, self.full)

    def seconds(self, schedule: Schedule, tuning: bool = True) -> float:
        stages = (("pivot", schedule.pivot),) + ((("tuning", schedule.tuning), ("detail", schedule.detail))
                                                if tuning else ())
        return sum(self.setup(s) + n * self.step(s) for s, n in stages if n or s == "pivot")


def measure_costs(gen, clock: Callable[[], float] = time.perf_counter, repeats: int = 2,
                  threads: int | None = THREADS) -> StepCosts:
    """Time a preview and a full step of the synthesis network (the faster of `repeats`: a second or two), on
    the threads the import will use."""
    with pinned_threads(gen, threads):
        return _measure_costs(gen, clock, repeats)


def _measure_costs(gen, clock: Callable[[], float], repeats: int) -> StepCosts:
    net = gen.net
    ws = gen.broadcast(gen.mapping(gen.z_from_seed(0))).detach()
    preview = 512 if 512 in gen.preview_sizes else None
    times = {}
    for size in (preview, None):
        best = math.inf
        for _ in range(repeats):
            w = ws.clone().requires_grad_(True)
            t = clock()
            net.synthesis(w, noise_mode="const", size=size).square().mean().backward()
            best = min(best, clock() - t)
        times[size] = best
    return StepCosts(times[preview], times[None])


def describe_seconds(seconds: float) -> str:
    """'about 40 s', 'about 4 min'."""
    if seconds < 90:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s"
    return f"about {int(round(seconds / 60.0))} min"


def estimate(gen, schedule=DEFAULT, tuning: bool = True, costs: StepCosts | None = None) -> float:
    """Seconds the import of `schedule` will take on this machine, from a few measured steps."""
    return (costs or measure_costs(gen)).seconds(schedule_of(schedule), tuning)


# ----------------------------------------------------------------------------------------------- fit
def _lab(rgb: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] sRGB in [0, 1] -> CIELAB (D65)."""
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = rgb.new_tensor([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = torch.einsum("ij,njhw->nihw", m, lin) / rgb.new_tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
    f = torch.where(xyz > (6 / 29) ** 3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def colour_error(img: np.ndarray, photo: np.ndarray) -> float:
    """Mean CIE76 ΔE of two uint8 images, both shrunk to COLOUR_SIZE² (area): how far the colours are."""
    size = min(COLOUR_SIZE, img.shape[0])
    a, b = ((to_target(x, "cpu", size) + 1) / 2 for x in (img, photo))
    return float((_lab(a.clamp(0, 1)) - _lab(b.clamp(0, 1))).norm(dim=1).mean())


def fit_measures(gen, photo: np.ndarray, wplus: np.ndarray, delta) -> tuple[float, float]:
    """(PSNR dB at full size, colour error ΔE) of the app's own render of the photo's latent and delta."""
    from ..edit import EditState, Source
    from ..model import psnr
    from ..pipeline import render_edit
    state = EditState.new(gen.fingerprint, gen.num_ws).with_source("a", Source.from_latent(wplus, "photo", delta=delta))
    img = render_edit(gen, state, {})
    full = to_target(photo, "cpu", img.shape[0])
    return psnr(to_target(img, "cpu", img.shape[0]), full), colour_error(img, photo)


# ----------------------------------------------------------------------------------------------- import
@dataclass
class Stage:
    name: str
    planned: int                    # steps the schedule or the budget's plan gave it
    steps: int = 0                  # steps made
    ran: bool = False
    kept: bool = False
    why: str = ""
    psnr_full_db: float | None = None
    colour_error: float | None = None

    def line(self) -> str:
        fit = "" if self.psnr_full_db is None else \
            f" (full-size PSNR {self.psnr_full_db:.1f} dB, colour error {self.colour_error:.1f} ΔE)"
        what = "kept" if self.kept else ("dropped" if self.ran else "skipped")
        return f"{self.name}: {self.steps} steps, {what}{fit}" + (f": {self.why}" if self.why else "")


@dataclass
class Imported:
    wplus: np.ndarray
    delta: object                   # WeightDelta or None
    psnr_db: float                  # the result at 256² (the last kept stage's figure)
    pivot_psnr_db: float
    seconds: float
    steps: tuple[int, int, int]     # steps made by each stage, dropped ones included
    cancelled: bool = False
    tuned_psnr_db: float | None = None
    stages: list[Stage] = field(default_factory=list)
    estimate_s: float | None = None

    def summary(self) -> str:
        return "; ".join(s.line() for s in self.stages)


def _plan(costs: StepCosts, left: float, wanted: list[str], cap: dict[str, int],
          budgeted: bool) -> tuple[dict[str, int], dict[str, str]]:
    """Steps for each wanted stage: the schedule's, or with a budget as many as fit in each stage's share of
    `left` seconds; the last stage that cannot reach its minimum is dropped and its share given to the
    others, until every one left can (the pivot always runs)."""
    if not budgeted:
        return {s: cap[s] for s in wanted}, {}
    wanted, skipped = list(wanted), {}
    minimum = dict(zip(("pivot", "tuning", "detail"), MINIMUM.steps))
    while True:
        total = sum(SHARES[s] for s in wanted)
        steps = {s: min(cap[s], max(0, int((SHARES[s] / total * left - costs.setup(s)) // costs.step(s))))
                 for s in wanted}
        short = [s for s in wanted if s != "pivot" and steps[s] < minimum[s]]
        if not short:
            return steps, skipped
        last = short[-1]
        skipped[last] = (f"the budget fits {steps[last]} steps, under its minimum {minimum[last]}: skipped, "
                         "not starved")
        wanted = [s for s in wanted if s != last and not (last == "tuning" and s == "detail")]
        if last == "tuning" and "detail" in steps:
            skipped["detail"] = "it needs the tuning, which was skipped"


def import_photo(gen, face: np.ndarray, schedule=DEFAULT, seconds: float | None = None,
                 progress: Callable[[str, int, int, float, torch.Tensor | None], None] | None = None,
                 cancelled: Callable[[], bool] | None = None, *, mode: str = "w+", tuning: bool = True,
                 started: float | None = None, clock: Callable[[], float] = time.perf_counter,
                 costs: StepCosts | None = None, check: bool = True, threads: int | None = THREADS) -> Imported:
    """Import one aligned face (uint8 [H, W, 3]): pivot, then (with `tuning`) pivotal tuning and detail maps.

    schedule: a preset name, Schedule or step counts. seconds: a budget for the whole import counted from
    `started` (the caller's alignment counts too) instead; each stage's steps are planned from the measured
    pace (`costs`, measured when not given). progress(stage, step, total, loss, preview); cancelled() -> True
    stops and keeps the best so far of the stage running, nothing after it. check: keep a stage only if it
    improves the fit (module docstring); False keeps every stage that ran (fixed-step experiments).
    threads: the intra-op threads a CPU import runs on (THREADS: the same result on any machine)."""
    started = clock() if started is None else started
    with torch.random.fork_rng(devices=[]), pinned_threads(gen, threads):
        torch.manual_seed(0)  # the stages seed their own draws; this covers anything that does not
        return _run(gen, face, schedule, seconds, progress, cancelled, mode, tuning, started, clock, costs, check)


def _run(gen, face, schedule, seconds, progress, cancelled, mode, tuning, started, clock, costs, check) -> Imported:
    from .detail import fit_detail
    from .tune import tune
    cap = dict(zip(("pivot", "tuning", "detail"), (schedule_of(schedule).steps if seconds is None else MOST.steps)))
    budgeted = seconds is not None
    if budgeted and costs is None:
        costs = _measure_costs(gen, clock, 2)  # already on the import's threads
    # A budget is the user's promise: plan into PLANNED of what is left (the pace measured in a lucky moment of
    # a busy machine is faster than its average), and stop whatever runs a little past it.
    deadline = math.inf if not budgeted else started + OVERRUN * seconds + 2
    user_stop = lambda: bool(cancelled is not None and cancelled())  # noqa: E731
    stop = lambda: user_stop() or clock() > deadline  # noqa: E731
    stopped = lambda what: (f"cancelled: the best {what} so far" if user_stop()  # noqa: E731
                            else f"stopped at the time limit (the machine slowed down): the best {what} so far")
    stage_progress = lambda name: None if progress is None else (lambda *a: progress(name, *a))  # noqa: E731
    left = lambda: PLANNED * seconds - (clock() - started)  # noqa: E731
    wanted = ["pivot"] + (["tuning"] + (["detail"] if cap["detail"] else []) if tuning and cap["tuning"] else [])
    plan, skipped = _plan(costs, left() if budgeted else 0.0, wanted, cap, budgeted)
    stages = {s: Stage(s, plan.get(s, 0)) for s in ("pivot", "tuning", "detail")}
    for s, why in skipped.items():
        stages[s].why = why
    if not tuning:
        stages["tuning"].why = stages["detail"].why = "not asked for (projection only)"
    for s in ("tuning", "detail"):
        if tuning and not cap[s] and not stages[s].why:
            stages[s].why = "the schedule gives it no steps"
            if s == "tuning" and cap["detail"]:
                stages["detail"].why = "it needs the tuning"
    estimate_s = costs.seconds(Schedule(plan["pivot"], plan.get("tuning", 0), plan.get("detail", 0)), tuning) \
        if costs is not None else None

    def finish(wplus, delta, psnr_db, pivot_db, tuned_db, was_cancelled):
        return Imported(wplus, delta, psnr_db, pivot_db, clock() - started,
                        tuple(stages[s].steps for s in ("pivot", "tuning", "detail")), was_cancelled, tuned_db,
                        list(stages.values()), estimate_s)

    # 1. The pivot: always kept (there is nothing before it), however few steps it got.
    t0 = clock()
    pivot = project(gen, face, mode=mode, steps=plan["pivot"], progress=stage_progress("pivot"), should_stop=stop)
    p = stages["pivot"]
    p.steps, p.ran, p.kept = len(pivot.history), True, True
    if budgeted and plan["pivot"] < MINIMUM.pivot:
        p.why = f"the budget fits {plan['pivot']} steps, under its minimum {MINIMUM.pivot}: a rough likeness"
    best = (pivot.wplus, None, pivot.psnr_db)
    more = "tuning" in plan and not pivot.cancelled and not stop()
    if check:
        p.psnr_full_db, p.colour_error = fit_measures(gen, face, pivot.wplus, None)
    if pivot.cancelled:
        p.why = stopped("latent")
    if not more:
        return finish(*best, pivot.psnr_db, None, user_stop())
    if budgeted:  # re-plan what is left from the pace the pivot really had
        pace = (clock() - t0) / max(costs.setup("pivot") + p.steps * costs.step("pivot"), 1e-6)
        costs = StepCosts(costs.preview * pace, costs.full * pace)
        plan, later = _plan(costs, left(), [s for s in ("tuning", "detail") if s in plan], cap, True)
        for s, why in later.items():
            stages[s].why, stages[s].planned = why, 0
        if "tuning" not in plan:
            return finish(*best, pivot.psnr_db, None, False)
        stages["tuning"].planned = plan["tuning"]

    def judge(stage: Stage, wplus, delta) -> bool:
        if not check:
            stage.kept = True
            return True
        stage.psnr_full_db, stage.colour_error = fit_measures(gen, face, wplus, delta)
        before = next(s for s in (stages["tuning"], p) if s.kept and s is not stage)
        gain = stage.psnr_full_db - before.psnr_full_db
        worse_colour = stage.colour_error - before.colour_error
        stage.kept = gain >= PSNR_GAIN and worse_colour <= COLOUR_SLACK
        if not stage.kept:
            stage.why = (f"full-size PSNR {gain:+.2f} dB, colour error {worse_colour:+.1f} ΔE against the "
                         f"{before.name}'s: dropped, the result is the {before.name}'s")
        return stage.kept

    # 2. Pivotal tuning.
    tuned = tune(gen, face, pivot.wplus, steps=plan["tuning"], progress=stage_progress("tuning"), should_stop=stop)
    t = stages["tuning"]
    t.steps, t.ran = tuned.steps, True
    if tuned.cancelled:
        t.why = stopped("weights")
    if judge(t, pivot.wplus, tuned.delta):
        best = (pivot.wplus, tuned.delta, tuned.psnr_db)
    if tuned.cancelled or "detail" not in plan or stop():
        return finish(*best, pivot.psnr_db, tuned.psnr_db, user_stop())
    if budgeted:
        plan, later = _plan(costs, left(), ["detail"], cap, True)
        for s, why in later.items():
            stages[s].why, stages[s].planned = why, 0
        if "detail" not in plan:
            return finish(*best, pivot.psnr_db, tuned.psnr_db, False)
        stages["detail"].planned = plan["detail"]

    # 3. Detail maps over the tuned weights (kept or not: the pair is judged against the best so far).
    detail = fit_detail(gen, face, pivot.wplus, tuned.delta, steps=plan["detail"], progress=stage_progress("detail"),
                        should_stop=stop)
    d = stages["detail"]
    d.steps, d.ran = detail.steps, True
    if detail.cancelled:
        d.why = stopped("maps")
    if judge(d, pivot.wplus, detail.delta):
        best = (pivot.wplus, detail.delta, detail.psnr_db)
    return finish(*best, pivot.psnr_db, tuned.psnr_db, user_stop())
