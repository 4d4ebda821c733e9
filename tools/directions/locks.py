"""Locks that hold: calibrate, for every shipped direction and every lockable attribute, how far to move the
locked attribute's own direction so that its measured value stays where it was.

Projecting the locked direction's vector out of the moved one (InterFaceGAN's conditioning) is already
done in the fit and does not stop the drift: gender still ages faces by ~8 years over its range on average,
because the drift is not along the age *direction* but in how the age model reads the new face. So the
drift is measured instead: render fit seeds with direction d at amounts a (-range, 0, +range), score every
attribute, and take the mean change of the locked attribute, drift(a). The locked direction's own measured
response, resp(b), turns that into the amount that cancels it: hold(a) = resp^-1(-drift(a)). compose_wplus
adds hold(a) sigma of the locked direction whenever the lock is on (Direction.holds): a table lookup, free
at render time. A second pass (REFINE) renders with the lock on and corrects the table by what is left.

What this cannot do: hold each face exactly. The per-face drift of age under gender has a standard deviation
of ~8 y around its mean on the fit faces, and neither the face's position along the shipped directions nor
its starting age predicts it (leave-one-out R² <= 0.25 on 96 faces); the age model itself moves < 1.5 y for
a 6 px shift of the face. Holding every face would take a per-face, closed-loop correction (render, measure,
correct), which belongs in the renderer, not in a table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from editor.compose import Direction, compose_wplus
from editor.edit import EditState
from editor.model import Generator
from tools.directions.fit import FIT_SEED0, SCORE_BATCH, Scorers, render_for_scoring

Progress = Callable[[str, int, int], None]
# A lock on a direction holds the attribute that direction was fitted to move, as the scorers read it.
LOCKABLE = {"age": "age", "gender": "p_male", "smile": "smile", "yaw": "yaw", "eyeglasses": "eyeglasses",
            "hair_lightness": "hair_lightness"}
# The pair users meet first (and issue 10's target) gets a second, corrective pass (2 x n more renders).
REFINE = (("gender", "age"),)
# Calibration renders at full resolution: 256² previews read the age drift at half its size (measured: gender
# over its range, 8 faces, 6.4 y at 256² against 11.8 y at full resolution).
CALIBRATION_PREVIEW = None


def moved_wplus(gen: Generator, w: torch.Tensor, directions: dict[str, Direction], moves: dict[str, float],
                locks: tuple[str, ...] = ()) -> torch.Tensor:
    """w+ [N, num_ws, w_dim] of faces w [N, w_dim] (already truncated) with the moves and locks applied
    exactly as the editor applies them (compose_wplus)."""
    state = EditState.new("", gen.num_ws, psi=1.0, directions=moves, locks=locks)
    avg = gen.w_avg.cpu().numpy()
    out = []
    for row in w.cpu().numpy():
        rows = np.broadcast_to(row, (gen.num_ws, gen.w_dim))
        out.append(compose_wplus(rows, rows, state, avg, directions))
    return torch.from_numpy(np.stack(out)).to(w.device)


def layer_painter(gen: Generator, directions: dict[str, Direction], moves: dict[str, float],
                  locks: tuple[str, ...] = ()) -> Callable[[np.ndarray], np.ndarray] | None:
    """What the app paints on a uint8 render with these moves (a direction whose + side is a painted layer,
    editor.pipeline.render.image_layers), or None when nothing is painted."""
    if not any(directions[k].layer and a > 0 for k, a in moves.items()):
        return None
    from editor.pipeline.render import apply_layers, image_layers
    state = EditState.new("", gen.num_ws, psi=1.0, directions=moves, locks=locks)
    steps = image_layers(state, directions)
    return lambda image: apply_layers(image, state, steps)


def score_moved(gen: Generator, w: torch.Tensor, directions: dict[str, Direction], moves: dict[str, float],
                scorers: Scorers, locks: tuple[str, ...] = (), batch: int = SCORE_BATCH,
                preview: int | None = None) -> dict[str, np.ndarray]:
    vals: dict[str, list] = {}
    paint = layer_painter(gen, directions, moves, locks)
    for start in range(0, len(w), batch):
        images = render_for_scoring(gen, moved_wplus(gen, w[start:start + batch], directions, moves, locks),
                                    preview, paint)
        for k, v in scorers(images).items():
            vals.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in vals.items()}


def k_owner(score: str) -> str | None:
    """The direction whose own score this is (its response curve is used whole, never zeroed)."""
    return next((d for d, k in LOCKABLE.items() if k == score), None)


def _invert(response: np.ndarray, amounts: np.ndarray, target: float) -> float:
    """The amount b with response(b) = target, on a monotonic (rising) response curve."""
    if response[-1] < response[0]:
        response, amounts = response[::-1], amounts[::-1]
    response = np.maximum.accumulate(response)  # np.interp needs a rising x; flat stretches are harmless
    return float(np.interp(target, response, amounts))


def unsaturated(holds: dict, directions: dict[str, Direction]) -> dict:
    """A compensation at the locked direction's slider end means the measured drift is more than that whole
    direction can undo: not a drift of the attribute but of its measure. Seen with Keep glasses: ageing and
    freckles add texture over the bridge of the nose, which the bridge-gradient measure reads as frames, and
    the table asked for -6 sigma of eyeglasses (a face 10 years younger). Such entries hold nothing. "At
    the end" is within 5% of it: where the response curve has flat stretches, the inversion lands just
    short of the end (the recoloured freckles asked for -5.98 sigma of eyeglasses)."""
    out = {}
    for lock, (xs, ys) in holds.items():
        reach = directions[lock].range
        out[lock] = (xs, tuple(0.0 if abs(y) >= 0.95 * reach else y for y in ys))
    return out


def calibrate_holds(gen: Generator, directions: dict[str, Direction], n: int = 32, steps: int = 3,
                    seed0: int = FIT_SEED0, psi: float = 0.8, refine: tuple[tuple[str, str], ...] = REFINE,
                    preview: int | None = CALIBRATION_PREVIEW,
                    progress: Progress | None = None) -> dict[str, Direction]:
    """The directions with `holds` tables for every lockable attribute other than their own; the
    (direction, lock) pairs in `refine` get the second pass."""
    scorers = Scorers(freckles=False)
    z = torch.cat([gen.z_from_seed(int(s)) for s in range(seed0, seed0 + n)])
    w = gen.mapping(z, psi=psi)
    lockable = [k for k in LOCKABLE if k in directions]
    base = score_moved(gen, w, directions, {}, scorers, preview=preview)
    amounts = {name: np.linspace(-d.range, d.range, steps) for name, d in directions.items()}
    drift: dict[str, dict[str, np.ndarray]] = {}  # direction -> score -> mean change per amount
    # A drift within 2 standard errors of 0 is noise of the n faces: correcting it moved held-out faces
    # further (yaw with Keep age: 4.5 -> 7.5 y), so it is taken as 0.
    def significant(change: np.ndarray) -> float:
        mean, se = float(change.mean()), float(change.std() / np.sqrt(len(change)))
        return mean if abs(mean) > 2 * se else 0.0
    total, done = (len(directions) + len(refine)) * (steps - 1), 0
    for name in directions:
        curve = {k: [] for k in base}
        for a in amounts[name]:
            got = base if a == 0 else score_moved(gen, w, directions, {name: float(a)}, scorers, preview=preview)
            for k in curve:
                change = got[k] - base[k]
                curve[k].append(float(change.mean()) if name == k_owner(k) else significant(change))
            done += a != 0
            if progress:
                progress("calibrating locks", done, total)
        drift[name] = {k: np.array(v) for k, v in curve.items()}
    out = {}
    for name, d in directions.items():
        holds = {}
        for lock in lockable:
            if lock == name:
                continue
            key, resp = LOCKABLE[lock], drift[lock][LOCKABLE[lock]]
            comp = [_invert(resp, amounts[lock], -x) for x in drift[name][key]]
            holds[lock] = (tuple(amounts[name].round(4)), tuple(np.round(comp, 4)))
        out[name] = replace(d, holds=unsaturated(holds, directions))
    # Second pass: with each lock on, what drift is left? Correct by it, through the locked direction's
    # mean slope (its response is near linear over the small corrections left).
    for name, lock in refine:
        if name in out and lock in out[name].holds:
            d, key = out[name], LOCKABLE[lock]
            slope = np.polyfit(amounts[lock], drift[lock][key], 1)[0]
            xs, ys = d.holds[lock]
            fixed = list(ys)
            for i, a in enumerate(xs):
                if a == 0:
                    continue
                got = score_moved(gen, w, out, {name: float(a)}, scorers, locks=(lock,), preview=preview)
                fixed[i] = ys[i] - significant(got[key] - base[key]) / slope
            holds = dict(d.holds)
            holds[lock] = (xs, tuple(np.round(fixed, 4)))
            out[name] = replace(d, holds=holds)
            done += steps - 1
            if progress:
                progress("refining locks", done, total)
    return out
