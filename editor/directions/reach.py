"""How far a direction can go before faces break: its slider's reach, measured.

A face counts as broken when dlib's face detector no longer finds a face in it, or when it washes out:
the standard deviation of its pixels, or their mean gradient (detail), falls below 0.6 of the unedited
face's. Calibrated on SeFa's components of the default model: fine component 1 is a ghost at +4σ (0.43-0.69
of the original's contrast; 0.72-0.85 at +3σ, which looks right), the colour component 3 still fine at
±5σ (>= 0.57); the coarse components' garbage at ±5σ is what the detector rejects. Both signs are tried on a few faces; the reach is
the largest amount, in steps of 0.5σ, at which no face breaks on either side, found by bisection (a
handful of batched renders a component at the gallery's preview size).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

MAX_REACH = 5.0
MIN_REACH = 0.5
STEP = 0.5
CONTRAST_FLOOR = 0.6  # of the unedited face's pixel standard deviation and mean gradient
REACH_SEEDS = (11, 12, 13)


def faces_found(images: np.ndarray) -> np.ndarray:
    """For each uint8 [H, W, 3] image: does dlib's frontal face detector find a face (upsampled once)?"""
    from ..measures.align import dlib_models
    detector, _ = dlib_models()
    return np.array([len(detector(np.ascontiguousarray(img), 1)) > 0 for img in images])


def broken(images: np.ndarray, reference: np.ndarray,
           detect: Callable[[np.ndarray], np.ndarray] = faces_found) -> np.ndarray:
    """Per image: no face, or washed out against the same face unedited (`reference`)."""
    flat = (_contrast(images) < CONTRAST_FLOOR * _contrast(reference)).any(axis=1)
    return flat | ~detect(images)


def _contrast(images: np.ndarray) -> np.ndarray:
    """[N, 2]: pixel standard deviation and mean absolute gradient of each image."""
    x = images.astype(np.float32)
    std = x.reshape(len(x), -1, 3).std(axis=1).mean(axis=1)
    g = x.mean(axis=-1)
    detail = np.abs(np.diff(g, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(g, axis=2)).mean(axis=(1, 2))
    return np.stack([std, detail], axis=1)


def measure_reach(render_at: Callable[[float], np.ndarray], reference: np.ndarray,
                  detect: Callable[[np.ndarray], np.ndarray] = faces_found, hi: float = MAX_REACH,
                  bisections: int = 3) -> float:
    """render_at(amount in σ) -> uint8 images of the same faces as `reference` (amount 0). The largest
    amount in [MIN_REACH, hi] (a multiple of STEP) where no face breaks at +amount nor at -amount."""
    def ok(amount: float) -> bool:
        return not any(broken(render_at(sign * amount), reference, detect).any() for sign in (1.0, -1.0))

    if ok(hi):
        return hi
    good, bad = 0.0, hi
    for _ in range(bisections):
        mid = (good + bad) / 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return max(MIN_REACH, np.floor(good / STEP) * STEP)
