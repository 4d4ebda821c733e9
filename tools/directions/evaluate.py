"""Evaluate directions on held-out seeds: move each face from -k to +k sigma and measure every scorer.

Targets (issue "Semantic directions"): age spans >= 40 years, monotonic, mean |dP(male)| <= 0.15;
gender moves P(male) from < 0.2 to > 0.8 with mean |d age| <= 10 years; freckles (issue 14) are judged by
eye at 1:1 (`directions freckles --sheet`: the spot score found wrinkles, not freckles, and is shown for
reference only), and from 0 to +range keep mean |d age| <= 5 and |dP(male)| <= 0.1 (the slider is used
from 0 up; "from_zero" in the report); smile and yaw move their own score
monotonically with the same limits on age and P(male). Locks (issue 14): with Keep X on, moving another
direction over its range changes X by at most LOCK_TARGETS[X] (4 years of age, 0.1 of P(male) or
P(happy), 5 degrees of yaw). "Mean |d|" is the mean over faces of the change between -k and +k.
"""

from __future__ import annotations

import functools

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from editor.compose import Direction
from editor.directions.hold_loop import LOOPED, Hold, next_amount
from editor.model import Generator
from tools.directions.fit import EVAL_SEED0, SCORE_BATCH, Scorers, render_for_scoring
from tools.directions.locks import LOCKABLE, moved_wplus, score_moved

Progress = Callable[[str, int, int], None]
# Mean |d| of the held score, in its units. Glasses: a quarter of the gap between a bare face (~5.7) and the
# glasses threshold (9.8); hair: a tenth of the hair-lightness slider's span (66 levels over +-3 sigma).
LOCK_TARGETS = {"age": 4.0, "gender": 0.1, "smile": 0.1, "yaw": 5.0, "eyeglasses": 1.0, "hair_lightness": 7.0}


def evaluate(gen: Generator, directions: dict[str, Direction], n: int = 50, k: float | None = None,
             steps: int = 7, psi: float = 0.8, seed0: int = EVAL_SEED0, batch: int = SCORE_BATCH,
             locks: bool = True, progress: Progress | None = None, only: Iterable[str] | None = None) -> dict:
    """Each direction (of `only`, else all) over its own slider reach (`Direction.range`) unless k is
    given; then, for every lock a direction has a calibrated hold for, its two ends again with the lock on.
    Faces are moved with the whole library, as in the app: a direction may carry another (Direction.carry)."""
    scorers = Scorers()
    with_identity = functools.partial(scorers, identity=True)  # the same models, dlib's descriptor too
    seeds = np.arange(seed0, seed0 + n)
    z = torch.cat([gen.z_from_seed(int(s)) for s in seeds])
    w = gen.mapping(z, psi=psi)
    report = {"seeds": [int(seeds[0]), int(seeds[-1])], "psi": psi, "directions": {}}
    chosen = {name: directions[name] for name in (only or directions)}
    pairs = [(name, lock) for name, d in chosen.items() for lock in d.holds if locks and lock in directions]
    total, done = (len(chosen) * (steps - 1) + 2 * len(pairs)) * n, 0
    base = score_moved(gen, w, directions, {}, with_identity, batch=batch)
    for name, d in chosen.items():
        amounts = np.linspace(-(k or d.range), k or d.range, steps)
        per_step = {key: [] for key in Scorers.KEYS}  # each [steps][n]
        identity = []  # dlib distance of each end to the face before the edit, [2][n]
        for i, a in enumerate(amounts):
            end = i in (0, len(amounts) - 1)
            got = base if a == 0 else score_moved(gen, w, directions, {name: float(a)}, with_identity if end else scorers,
                                                  batch=batch)
            if end:
                identity.append(np.linalg.norm(got["descriptor"] - base["descriptor"], axis=1))
            for key in per_step:
                per_step[key].append(got[key])
            done += n * (a != 0)
            if progress:
                progress(f"evaluating {name}", done, total)
        arr = {key: np.stack(v) for key, v in per_step.items()}  # [steps, n]
        means = {key: v.mean(1) for key, v in arr.items()}
        delta = {key: np.abs(v[-1] - v[0]) for key, v in arr.items()}
        zero = int(np.argmin(np.abs(amounts)))
        report["directions"][name] = {
            "amounts": amounts.round(3).tolist(),
            "mean": {key: m.round(3).tolist() for key, m in means.items()},
            "mean_abs_change": {key: round(float(v.mean()), 3) for key, v in delta.items()},
            "span": {key: round(float(m[-1] - m[0]), 3) for key, m in means.items()},
            "from_zero": {key: round(float(np.abs(v[-1] - v[zero]).mean()), 3) for key, v in arr.items()},
            "monotonic": {key: bool(np.all(np.diff(m) > 0) or np.all(np.diff(m) < 0)) for key, m in means.items()},
            # Identity: how far each end is from the unedited face (dlib; below 0.6 the same person).
            "identity": {"mean_at_minus": round(float(identity[0].mean()), 3),
                         "mean_at_plus": round(float(identity[1].mean()), 3),
                         "share_same_person": round(float((np.stack(identity) < 0.6).mean()), 3)},
        }
    for name, lock in pairs:
        key, amount = LOCKABLE[lock], k or directions[name].range
        lo, hi = (score_moved(gen, w, directions, {name: float(s * amount)}, scorers, locks=(lock,), batch=batch)
                  for s in (-1, 1))
        done += 2 * n
        if progress:
            progress(f"evaluating {name} with Keep {lock}", done, total)
        r = report["directions"][name]
        r.setdefault("locks", {})[lock] = {
            "score": key, "mean_abs_change": round(float(np.abs(hi[key] - lo[key]).mean()), 3),
            "unlocked": r["mean_abs_change"][key], "span": round(float((hi[key] - lo[key]).mean()), 3),
            "side_effects": {x: round(float(np.abs(hi[x] - lo[x]).mean()), 3) for x in LOCKABLE.values() if x != key}}
    report["verdict"] = verdict(report)
    return report


def verdict(report: dict) -> dict[str, dict[str, bool]]:
    """Each target of the issue, met or not."""
    out = {}
    d = report["directions"]
    if "age" in d:
        a = d["age"]
        out["age"] = {"span >= 40 y": a["span"]["age"] >= 40, "monotonic": a["monotonic"]["age"],
                      "mean |dP(male)| <= 0.15": a["mean_abs_change"]["p_male"] <= 0.15}
    if "gender" in d:
        g = d["gender"]
        out["gender"] = {"P(male) < 0.2 -> > 0.8": g["mean"]["p_male"][0] < 0.2 and g["mean"]["p_male"][-1] > 0.8,
                         "mean |d age| <= 10 y": g["mean_abs_change"]["age"] <= 10}
    if "freckles" in d:
        f = d["freckles"]
        out["freckles"] = {"0 -> +range mean |d age| <= 5 y": f["from_zero"]["age"] <= 5,
                           "0 -> +range mean |dP(male)| <= 0.1": f["from_zero"]["p_male"] <= 0.1}
    for name, key in (("smile", "smile"), ("yaw", "yaw"), ("eyeglasses", "eyeglasses"),
                      ("hair_lightness", "hair_lightness")):
        if name in d:
            r = d[name]
            moves = f"{key} {'moves' if name == 'yaw' else 'up'}, monotonic"
            out[name] = {moves: r["monotonic"][key] and r["span"][key] > 0,
                         "mean |d age| <= 5 y": r["mean_abs_change"]["age"] <= 5,
                         "mean |dP(male)| <= 0.1": r["mean_abs_change"]["p_male"] <= 0.1}
    for name, r in d.items():
        for lock, m in r.get("locks", {}).items():
            out.setdefault(name, {})[f"Keep {lock}: mean |d {m['score']}| <= {LOCK_TARGETS[lock]:g}"] = \
                m["mean_abs_change"] <= LOCK_TARGETS[lock]
    return out


def format_table(report: dict) -> str:
    lines = [f"held-out seeds {report['seeds'][0]}-{report['seeds'][1]}, psi {report['psi']}"]
    for name, r in report["directions"].items():
        lines.append(f"\n{name}  (amounts in sigma: {r['amounts']})")
        for key, unit in (("age", "years"), ("p_male", "P(male)"), ("freckles", "spots/1000 px, reference only"),
                          ("smile", "P(happy)"), ("yaw", "degrees"), ("pitch", "degrees"),
                          ("eyeglasses", "bridge gradient"), ("hair_lightness", "luminance 0-255")):
            if key not in r["mean"]:
                continue
            seq = " ".join(f"{v:7.2f}" for v in r["mean"][key])
            lines.append(f"  {key:<9}{seq}   span {r['span'][key]:+.2f}  mean|d| {r['mean_abs_change'][key]:.2f}"
                         f"  {'monotonic' if r['monotonic'][key] else ''}  ({unit})")
        if "identity" in r:
            i = r["identity"]
            lines.append(f"  identity to the unedited face: mean {i['mean_at_minus']:.2f} at -, {i['mean_at_plus']:.2f} "
                         f"at +; same person (< 0.6) in {100 * i['share_same_person']:.0f}% of ends")
        for lock, m in r.get("locks", {}).items():
            lines.append(f"  Keep {lock:<7}mean|d {m['score']}| {m['mean_abs_change']:.2f} "
                         f"(unlocked {m['unlocked']:.2f});"
                         f" side effects mean|d| " + ", ".join(f"{x} {v:.2f}" for x, v in m["side_effects"].items()))
        if name == "freckles":
            lines.append("  freckles themselves are judged by eye: python -m editor directions freckles --sheet FILE.png")
        checks = report["verdict"].get(name, {})
        lines.append("  targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items()))
    return "\n".join(lines)


def _tile(gen: Generator, w: torch.Tensor, directions: dict[str, Direction], name: str, amount: float,
          size: int) -> np.ndarray:
    """One face moved by `amount` exactly as the app shows it (editor.pipeline.render_edit: painted layers
    on the full render, then the whole shrunk to `size`)."""
    from editor.edit import EditState, Source
    from editor.pipeline import render_edit
    face = Source.from_latent(w.detach().cpu().numpy().reshape(1, -1), "strip")
    state = EditState.new(gen.fingerprint, gen.num_ws).with_source("a", face).with_direction(name, amount)
    return render_edit(gen, state, directions, size)


def strips(gen: Generator, directions: dict[str, Direction], folder: Path, seeds=(EVAL_SEED0, EVAL_SEED0 + 1),
           k: float | None = None, steps: int = 7, psi: float = 0.8, size: int = 256,
           only: Iterable[str] | None = None) -> list[Path]:
    """One image per direction (of `only`, else all): a row per face, -k .. +k left to right."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    z = torch.cat([gen.z_from_seed(int(s)) for s in seeds])
    w = gen.mapping(z, psi=psi)
    paths = []
    for name in only or directions:
        d, rows = directions[name], []
        for i in range(len(seeds)):
            tiles = [_tile(gen, w[i:i + 1], directions, name, float(a), size)
                     for a in np.linspace(-(k or d.range), k or d.range, steps)]
            rows.append(np.concatenate(tiles, 1))
        path = folder / f"direction_{name}.png"
        Image.fromarray(np.concatenate(rows, 0)).save(path)
        paths.append(path)
    return paths


def evaluate_loop(gen, directions: dict, moved: str = "gender", locked: str = "age", n: int = 20,
                  psi: float = 0.8, seed0: int | None = None, progress=None) -> dict:
    """The closed loop as the app runs it, on held-out faces: each face's locked attribute measured at
    `moved` 0 (the target), then `moved` at -range and +range with the lock's table, corrected by the loop.
    Mean |change| per face between the two ends: free, table only, table + loop. Full renders."""
    import torch

    key = LOOPED[locked].key
    scorers = Scorers(freckles=False)
    reach, k = directions[locked].range, directions[moved].range
    seeds = range(EVAL_SEED0 if seed0 is None else seed0, (EVAL_SEED0 if seed0 is None else seed0) + n)
    w = gen.mapping(torch.cat([gen.z_from_seed(s) for s in seeds]), psi=psi)

    def measure(wi, moves, locks) -> float:
        with torch.no_grad():
            return float(scorers(render_for_scoring(gen, moved_wplus(gen, wi, directions, moves, locks)))[key][0])

    free, table, loop, steps = [], [], [], []
    for i in range(n):
        wi = w[i:i + 1]
        hold_target = measure(wi, {}, (locked,))
        ends = {"free": [], "table": [], "loop": []}
        for amount in (-k, k):
            ends["free"].append(measure(wi, {moved: amount}, ()))
            now = measure(wi, {moved: amount}, (locked,))
            ends["table"].append(now)
            hold, fix = Hold.of(locked, hold_target), 0.0
            while (nxt := next_amount(hold, fix, now, reach)) is not None:
                fix = nxt
                now = measure(wi, {moved: amount, locked: fix}, (locked,))
            ends["loop"].append(now)
            steps.append(hold.steps)
        for out, name in ((free, "free"), (table, "table"), (loop, "loop")):
            out.append(abs(ends[name][1] - ends[name][0]))
        if progress is not None:
            progress("holding", i + 1, n)
    return {"moved": moved, "locked": locked, "faces": n, "seeds": [seeds[0], seeds[-1]], "psi": psi,
            "free": float(np.mean(free)), "table": float(np.mean(table)), "loop": float(np.mean(loop)),
            "loop_per_face": [round(v, 2) for v in loop], "mean_steps": float(np.mean(steps))}
