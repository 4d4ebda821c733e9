"""Checked values: finite numbers, clamped ranges, frozen arrays, w+ row ranges, and the bounds of a plausible latent.

Wrong types, NaN/inf and bad ranges raise ValueError naming the field; the edit layer (editor.edit,
editor.compose, editor.breed) builds on these; the model, file readers and the
direction library share the latent bounds. No Qt, no torch here (tensors are duck-typed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RangeLike = range | tuple[int, int]

# The generator's w are within about ±10 (the mapping network's output); a constant latent of 50 already
# renders all NaN, so anything beyond this is a damaged or foreign file, not an edit.
MAX_LATENT_ABS = 100.0
MAX_LATENT_RMS = 10.0          # per w+ row; the mapping network's rows have an RMS under 1


def latent_problem(w: np.ndarray) -> str | None:
    """Why w cannot be a latent of any generator we load, or None: NaN/inf, a value beyond ±MAX_LATENT_ABS,
    or a row whose RMS exceeds MAX_LATENT_RMS (a constant latent of 50 already renders all NaN)."""
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.asarray(w, np.float64)
        if not np.isfinite(w).all():
            return "contains NaN or infinity"
        top = float(np.abs(w).max()) if w.size else 0.0
        rms = float(np.sqrt((w.reshape(-1, w.shape[-1]) ** 2).mean(axis=1)).max()) if w.size else 0.0
    if top > MAX_LATENT_ABS or rms > MAX_LATENT_RMS:
        return (f"reaches {top:.3g} (row RMS {rms:.3g}); a real latent stays within ±{MAX_LATENT_ABS:g}, "
                f"RMS {MAX_LATENT_RMS:g}, and this one would render as NaN")
    return None


def to_numpy(x: Any) -> np.ndarray:
    """numpy from numpy, lists or a torch tensor on any device (duck-typed: this module never imports torch)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def frozen_array(x: Any, what: str) -> np.ndarray:
    a = np.array(to_numpy(x), dtype=np.float32, copy=True, order="C")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinity")
    a.setflags(write=False)
    return a


def finite(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, not {type(x).__name__}")
    try:
        x = float(x)
    except OverflowError:  # an integer literal beyond float's range (1e400 written without the "e")
        raise ValueError(f"{what} must be a finite number, not an integer of about "
                         f"{int(x).bit_length() * 0.30103:.0f} digits") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, not {x}")
    return x


def clamped(x: Any, bounds: tuple[float, float], what: str) -> float:
    return min(max(finite(x, what), bounds[0]), bounds[1])


def as_range(rows: RangeLike | None, n: int | None, what: str) -> range:
    if rows is None:
        if n is None:
            raise ValueError(f"{what}: no rows given")
        return range(n)
    r = rows if isinstance(rows, range) else range(*rows)
    if r.step != 1:
        raise ValueError(f"{what} must be a contiguous range, got {r}")
    if n is not None and r and not (0 <= r.start and r.stop <= n):
        raise ValueError(f"{what} {r} is outside the {n} w+ rows")
    return r
