"""Locks that hold each face, not only the average: a closed loop (render, measure, correct).

The calibrated hold tables (editor.directions.locks) cancel the *mean* drift of a locked attribute; each
face still scatters around it (gender moves a face's estimated age by ~8 y either way). So while a lock is
on, after the face settles the editor measures the locked attribute on the full render, and moves the
locked attribute's own slider by (target - measured) / slope, up to LOOP_STEPS times: a secant step, the
slope re-estimated from the face's own response once two measurements exist. The correction is an ordinary
slider value in the edit (the user sees the age slider move, exports reproduce it).

Attributes with a roughly linear response in their own slider take part: age (years) and yaw (degrees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# attribute -> (meter key, its change per sigma of its own direction (shipped default model: age 14.9 -> 55.0 y
# and yaw -13.5 -> +15.1 degrees over +-6 / +-3 sigma on held-out faces), tolerance, units)
LOOPED = {"age": ("age", 3.3, 1.5, "y"), "yaw": ("yaw", 4.8, 2.0, "°")}
LOOP_STEPS = 3
MIN_SLOPE_FRACTION = 0.25  # a face's measured slope is trusted only if at least this share of the default


@dataclass
class Hold:
    """The loop's memory for one locked attribute of one face."""
    target: float
    slope: float
    tolerance: float
    last: tuple[float, float] | None = None  # (amount, measured) of the previous step
    steps: int = 0

    @classmethod
    def of(cls, attribute: str, target: float) -> Hold:
        _key, slope, tolerance, _unit = LOOPED[attribute]
        return cls(target, slope, tolerance)


def next_amount(hold: Hold, amount: float, measured: float, reach: float) -> float | None:
    """The locked direction's amount that should bring `measured` back to the target, or None when it is
    close enough or the loop has run its steps. Updates `hold` (slope from the face's own response)."""
    if hold.steps >= LOOP_STEPS or not np.isfinite(measured):
        return None
    if hold.last is not None and abs(amount - hold.last[0]) > 1e-6:
        slope = (measured - hold.last[1]) / (amount - hold.last[0])
        if abs(slope) >= MIN_SLOPE_FRACTION * abs(hold.slope) and np.sign(slope) == np.sign(hold.slope):
            hold.slope = slope
    hold.last = (amount, measured)
    if abs(measured - hold.target) <= hold.tolerance:
        return None
    hold.steps += 1
    return float(np.clip(amount + (hold.target - measured) / hold.slope, -reach, reach))
