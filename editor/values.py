"""Checked values for the edit document and its parts: finite numbers, clamped ranges, frozen arrays, w+ row ranges.

Wrong types, NaN/inf and bad ranges raise ValueError naming the field; the edit layer (editor.edit,
editor.compose, editor.breed) builds on these. No Qt, no torch here (tensors are duck-typed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

RangeLike = range | tuple[int, int]


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
    x = float(x)
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
