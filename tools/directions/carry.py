"""A hold baked into a direction: moving it always moves another direction too (`Direction.carry`).

Why (issue 14): the gender slider alone moved estimated age by 9.0 y per face over its range (mean +4.9 y on
the 20 held-out faces, +7.4 y on 384 fitting faces: the male end reads older). The lock tables act only
with *Keep age* on, and projecting the age direction out of gender (InterFaceGAN's conditioning, done at
fit time) changes nothing measurable: the drift is not along the age normal. Carrying a fixed amount of
the age direction that zeroes the *mean* drift over the fitting faces (-0.388 sigma per sigma, 384 faces)
brought the per-face change on fresh faces from 8.96 to 6.38 y (220 held-out faces); what is left is each
face's own scatter (SD ~9 y, not predicted by w: cross-validated R^2 <= 0 on 192 faces), which only the
closed loop of *Keep age* (editor.directions.hold_loop) can follow. Restricting gender's rows instead (rows 0-7: 6.7 y, with a
smaller carry 6.4 y) weakened the flip of P(male) for no clear gain.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from editor.compose import Direction
from editor.model import Generator
from tools.directions.fit import FIT_SEED0, SCORE_BATCH, Scorers
from tools.directions.locks import LOCKABLE, score_moved

Progress = Callable[[str, int, int], None]
MAX_FIT = 3.0  # sigma per sigma: a carry beyond this would be the held direction, not a hold


def with_carry(directions: dict[str, Direction], moved: str, held: str, per_sigma: float) -> dict[str, Direction]:
    carry = {**directions[moved].carry, held: float(per_sigma)}
    return {**directions, moved: replace(directions[moved], carry=carry)}


def fit_carry(gen: Generator, directions: dict[str, Direction], moved: str = "gender", held: str = "age",
              n: int = 384, psi: float = 0.8, seed0: int = FIT_SEED0, batch: int = SCORE_BATCH,
              progress: Progress | None = None) -> tuple[float, dict]:
    """The sigma of `held` per sigma of `moved` that zeroes the mean change of held's score between the
    ends of moved's range on n fitting faces (full renders), by secant steps on that mean (it is near
    linear in the carry: the held direction's response is), and a record of how it was found."""
    key, reach = LOCKABLE[held], directions[moved].range
    scorers = Scorers(freckles=False)
    z = torch.cat([gen.z_from_seed(int(s)) for s in range(seed0, seed0 + n)])
    w = gen.mapping(z, psi=psi)
    tried: dict[float, np.ndarray] = {}
    steps = 4

    def drift(x: float) -> np.ndarray:
        ds = with_carry(directions, moved, held, x)
        ends = [score_moved(gen, w, ds, {moved: s * reach}, scorers, batch=batch)[key] for s in (-1.0, 1.0)]
        tried[x] = ends[1] - ends[0]
        if progress:
            progress(f"fitting {held} carried by {moved}", len(tried), steps)
        return tried[x]

    def settled(d: np.ndarray) -> bool:  # within 2 standard errors of zero: what the n faces can resolve
        return abs(float(d.mean())) <= 2 * float(d.std()) / np.sqrt(len(d))

    if progress:
        progress(f"fitting {held} carried by {moved}", 0, steps)
    x0, d0 = 0.0, drift(0.0).mean()
    x1 = -0.25 * float(np.sign(d0) or 1.0)  # a quarter sigma against the drift: well inside the response
    d1 = drift(x1).mean()
    for _ in range(steps - 2):
        if settled(tried[x1]) or d1 == d0:
            break
        x0, d0, x1 = x1, d1, float(np.clip(x1 - d1 * (x1 - x0) / (d1 - d0), -MAX_FIT, MAX_FIT))
        d1 = drift(x1).mean()
    best = min(tried, key=lambda x: abs(float(tried[x].mean())))
    record = {"held": held, "per_sigma": round(best, 4), "faces": [seed0, seed0 + n - 1], "psi": psi,
              "score": key, "method": "secant on the mean change between the ends of the range, full renders",
              "mean_change": {"free": round(float(tried[0.0].mean()), 3), "carried": round(float(tried[best].mean()), 3)},
              "mean_abs_change": {"free": round(float(np.abs(tried[0.0]).mean()), 3),
                                  "carried": round(float(np.abs(tried[best]).mean()), 3)}}
    return round(best, 4), record
