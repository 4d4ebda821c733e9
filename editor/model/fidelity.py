"""How faithful a model's previews are: each preview size against the full render of the same edit.

A preview is only worth showing if it is the face the user will get. Fidelity is measured on edits of
the kinds users make while dragging (truncation, style mixing per group, direction moves, rows that
disagree as in projected photos), at the preview's own size against the full render shrunk by area.
The app shows only previews whose *worst* case clears PREVIEW_MIN_DB; others are never shown.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

PREVIEW_MIN_DB = 30.0


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2)."""
    mse = ((a.float().clamp(-1, 1) - b.float().clamp(-1, 1)) / 2).square().mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


@torch.inference_mode()
def fidelity_edits(mapping: Callable[[torch.Tensor], torch.Tensor], w_avg: torch.Tensor, num_ws: int,
                   groups: dict[str, range], faces: int = 4, seed: int = 2024) -> list[torch.Tensor]:
    """Seeded w+ [1, num_ws, w_dim] edits: each face at psi 0.5 / 0.7 / 1.0, mixed with another face per
    group, moved 3 sigma along a random direction, and with every row jittered by 0.3 sigma (rows that disagree, as in a projected photo)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2 * faces, w_avg.shape[-1], generator=gen).to(w_avg.device)
    w = mapping(z).float()
    sigma = (w - w_avg).std()
    edits = []
    for i in range(faces):
        a, b = w[2 * i], w[2 * i + 1]
        for psi in (0.5, 0.7, 1.0):
            edits.append((w_avg + psi * (a - w_avg)).expand(num_ws, -1).clone())
        base = w_avg + 0.7 * (a - w_avg)
        other = w_avg + 0.7 * (b - w_avg)
        for rows in groups.values():
            mixed = base.expand(num_ws, -1).clone()
            mixed[rows.start:rows.stop] = other
            edits.append(mixed)
        direction = torch.randn(w_avg.shape[-1], generator=gen).to(w_avg.device)
        edits.append((base + 3 * sigma * direction / direction.norm()).expand(num_ws, -1).clone())
        jitter = torch.randn(num_ws, w_avg.shape[-1], generator=gen).to(w_avg.device)
        edits.append(base + 0.3 * sigma * jitter)
    return [e[None] for e in edits]


@torch.inference_mode()
def measure_preview_fidelity(synthesis: Callable[..., torch.Tensor], edits: list[torch.Tensor],
                             sizes: tuple[int, ...], resolution: int,
                             progress: Callable[[int, int], None] | None = None) -> dict[int, dict[str, float]]:
    """{size: {"min": dB, "mean": dB}} of synthesis(ws, size=s) against synthesis(ws) shrunk to s."""
    scores: dict[int, list[float]] = {s: [] for s in sizes}
    for n, ws in enumerate(edits):
        full = synthesis(ws, size=None).float()
        for s in sizes:
            ref = F.interpolate(full, size=(s, s), mode="area") if s != resolution else full
            scores[s].append(psnr_db(synthesis(ws, size=s), ref))
        if progress:
            progress(n + 1, len(edits))
    return {s: {"min": round(min(v), 2), "mean": round(sum(v) / len(v), 2)} for s, v in scores.items() if v}


def trusted_sizes(fidelity: dict | None, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Preview sizes whose worst measured case is faithful; unmeasured sizes are not trusted."""
    if not fidelity:
        return ()
    out = []
    for s in sizes:
        entry = fidelity.get(s, fidelity.get(str(s)))
        if isinstance(entry, dict) and isinstance(entry.get("min"), (int, float)) and entry["min"] >= PREVIEW_MIN_DB:
            out.append(s)
    return tuple(out)
