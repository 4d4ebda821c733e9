"""Crossbreeding: more parents than A and B, each with a weight per w+ row, and variations of a face.

The two-parent case stays what it was: A and B with the per-row mix m, w_AB = (1 - m)·a + m·b. Extra
parents take shares of a row: with weights u_k (each in [0, 1]) and s = Σ u_k,

    w = (1 - s)·w_AB + Σ u_k·p_k      if s <= 1
    w = Σ (u_k / s)·p_k               if s > 1  (the parents share the row; A and B have none of it)

so a single parent at weight 1 in a row is exactly that parent there, as B at mix 1 is, and no parents
(or all weights 0) leaves w_AB bit for bit. Seed parents are truncated about w_avg like seed sources. The
app sets weights per group (coarse / middle / fine); they are stored per row, like the mix, so an edit
needs no knowledge of a model's groups. No Qt, no torch here.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from .edit import EditState, Parent, Source


def crossbreed(w_ab: np.ndarray, parent_ws: Sequence[np.ndarray], parents: Sequence[Parent]) -> np.ndarray:
    """w_AB [num_ws, w_dim] with the extra parents' (already truncated) w+ mixed in by their row weights."""
    if not parents:
        return w_ab
    u = np.asarray([p.weights for p in parents], dtype=np.float32)[:, :, None]  # [k, num_ws, 1]
    pw = np.stack([np.asarray(w, dtype=np.float32) for w in parent_ws])       # [k, num_ws, w_dim]
    s = u.sum(0)                                                               # [num_ws, 1]
    mixed = (u * pw).sum(0)
    over = s > 1
    out = np.where(over, mixed / np.where(over, s, 1), (1 - s) * w_ab + mixed)
    return np.ascontiguousarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------------- state edits
def add_parent(state: EditState, source: Source, weight: float = 0.5) -> EditState:
    return replace(state, parents=(*state.parents, Parent(source, (weight,) * state.num_ws)))


def remove_parent(state: EditState, index: int) -> EditState:
    parents = list(state.parents)
    del parents[index]
    return replace(state, parents=tuple(parents))


def with_parent_weight(state: EditState, index: int, rows: range, value: float) -> EditState:
    p = state.parents[index]
    weights = tuple(value if i in rows else x for i, x in enumerate(p.weights))
    parents = list(state.parents)
    parents[index] = Parent(p.source, weights)
    return replace(state, parents=tuple(parents))


# ----------------------------------------------------------------------------------- variations
def variation_steps(gen: Any, psi: float, count: int, seed: int) -> list[np.ndarray]:
    """`count` random faces' w (truncated like seed faces), from a generator of their own: variations
    step towards real faces of the model, so a child stays a plausible face however different."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((count, gen.z_dim)).astype(np.float32)
    w = np.asarray(gen.mapping(z, psi=psi).detach().float().cpu().numpy(), dtype=np.float32)
    return list(w)


def variations(base_w: np.ndarray, targets: Sequence[np.ndarray], rows: Sequence[range],
               amount: float) -> list[np.ndarray]:
    """Children of `base_w` [num_ws, w_dim]: in the chosen rows, `amount` (0 = the same face, 1 = the
    random face there) of the way towards each target w [w_dim]."""
    if not 0.0 <= amount <= 1.0 or not math.isfinite(amount):
        raise ValueError(f"amount must be in [0, 1], not {amount}")
    mask = np.zeros((base_w.shape[0], 1), dtype=np.float32)
    for r in rows:
        mask[r.start:r.stop] = 1.0
    step = np.float32(amount) * mask
    return [np.ascontiguousarray(base_w + step * (t[None, :] - base_w), dtype=np.float32) for t in targets]


def adopt(state: EditState, child_w: np.ndarray, label: str) -> EditState:
    """The edit that shows a child: its w+ as source A alone (mix 0, no extra parents, which it already
    holds), with the edit's directions, locks, noise and painting kept on top."""
    return replace(state, source_a=Source.from_latent(child_w, label), mix=(0.0,) * state.num_ws, parents=())
