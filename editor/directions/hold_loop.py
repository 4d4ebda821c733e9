"""Locks that hold each face, not only the average: a closed loop (render, measure, correct).

The calibrated hold tables (tools.directions.locks) cancel the *mean* drift of a locked attribute; each
face still scatters around it (gender moves a face's estimated age by ~8 y either way). So while a lock is
on, after the face settles the editor measures the locked attribute on the full render, and moves the
locked attribute's own slider by (target - measured) / slope, up to LOOP_STEPS times: a secant step, the
slope re-estimated from the face's own response once two measurements exist. The correction is an ordinary
slider value in the edit (the user sees the age slider move, exports reproduce it).

Attributes with a roughly linear response in their own slider take part: age (years) and yaw (degrees), and
the two probabilities, smile (P(happy)) and gender (P(male)), whose responses are sigmoids: for them the
step is taken on the logit, where the response is roughly linear too, and the tolerance is in probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Looped(NamedTuple):
    key: str  # the meter's reading
    slope: float  # its change per sigma of its own direction, on the loop's scale (the start of the secant)
    tolerance: float  # close enough, in the meter's units
    unit: str
    logit: bool = False  # step on log(p / (1 - p)): a probability
    max_step: float = math.inf  # sigma a step may move the slider


# Slopes of the shipped default model on held-out faces: age 14.9 -> 55.0 y over +-6 sigma, yaw -13.5 -> +15.1
# degrees over +-3, P(happy) 0.10 -> 0.85 over +-3 (logit -2.2 -> +1.7), P(male) 0.06 -> 0.94 over +-3.
# Probabilities step at most 1 sigma at a time: near 0 or 1 a small change in the face is a long way on the
# logit, and one full step overshot (a smile held at 0.97 after glasses took it to 0.77: +3 sigma, a far
# broader grin than the face had, where +1 already read 0.99 and looked like the start).
LOOPED = {"age": Looped("age", 3.3, 1.5, " y"), "yaw": Looped("yaw", 4.8, 2.0, "°"),
          "smile": Looped("smile", 0.65, 0.04, "", logit=True, max_step=1.0),
          "gender": Looped("p_male", 0.92, 0.04, "", logit=True, max_step=1.0)}
LOOP_STEPS = 5  # measured: 3 steps left 4.65 y mean |d age| on 20 held-out faces, 5 steps 2.99 y
MIN_SLOPE_FRACTION = 0.25  # a face's measured slope is trusted only if at least this share of the default


@dataclass
class Hold:
    """The loop's memory for one locked attribute of one face: its target and what it learnt of the face."""
    target: float
    spec: Looped
    slope: float  # the face's own response on the loop's scale, starting from the spec's
    last: tuple[float, float] | None = None  # (amount, measured on the loop's scale) of the previous step
    steps: int = 0

    @classmethod
    def of(cls, attribute: str, target: float) -> Hold:
        spec = LOOPED[attribute]
        return cls(target, spec, spec.slope)

    @property
    def tolerance(self) -> float:
        return self.spec.tolerance

    @property
    def max_step(self) -> float:
        return self.spec.max_step

    def scale(self, value: float) -> float:
        if not self.spec.logit:
            return value
        p = min(max(value, 0.01), 0.99)  # a reading of 0 or 1 is as far as the slider can tell apart
        return float(np.log(p / (1.0 - p)))


def next_amount(hold: Hold, amount: float, measured: float, reach: float) -> float | None:
    """The locked direction's amount that should bring `measured` back to the target, or None when it is
    close enough or the loop has run its steps. Updates `hold` (slope from the face's own response)."""
    if hold.steps >= LOOP_STEPS or not np.isfinite(measured):
        return None
    now = hold.scale(measured)
    if hold.last is not None and abs(amount - hold.last[0]) > 1e-6:
        slope = (now - hold.last[1]) / (amount - hold.last[0])
        if abs(slope) >= MIN_SLOPE_FRACTION * abs(hold.slope) and np.sign(slope) == np.sign(hold.slope):
            hold.slope = slope
    hold.last = (amount, now)
    if abs(measured - hold.target) <= hold.tolerance:
        return None
    hold.steps += 1
    step = float(np.clip((hold.scale(hold.target) - now) / hold.slope, -hold.max_step, hold.max_step))
    return float(np.clip(amount + step, -reach, reach))
