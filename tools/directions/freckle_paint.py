"""Recolour the labelled freckle direction: brown round spots where it draws red dashes.

Why: the direction fitted from the labels (freckles.py) puts its spots in plausible places, but at 1:1 they
are red dash- or cross-shaped marks on pinker skin, because most of the model's own freckled faces have red
spots (resources/labels/freckles.json) and no linear change of the row set or a tan shift of the colour rows
turned them brown (tried: rows 10-15, 13-18, 16-22 or 19-22 alone or with the others negated; a cheek b*
"tan" normal on 16-22; conditioning on cheek L*a*b* - the marks stay red, or turn magenta).

So the edit is fitted to a painted target instead: for a few fitting faces, render the face (B) and the face
at +amount along the labelled direction (E); where E adds a dark spot (a local minimum of the high-passed
green channel, which a red mark lowers most), paint a round disk of freckle brown on B itself, so the
target keeps B's skin colour everywhere else. Then a separate offset for each fine w+ row is optimised
(Adam, from the labelled direction) so that B + offset renders the target, spots weighted up, since they
are a few percent of the pixels. The result is a per-row direction [num_ws, w_dim]: the slider's +range is
the fitted offset. It is a fit on a handful of faces; the held-out sheet (freckles.py) is what says
whether it generalises.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from editor.compose import Direction
from editor.measures.scorers import gaussian_blur

Progress = Callable[[str, int, int], None]
# Freckle brown as a multiplier of the skin under it (melanin absorbs blue most, red least): a cheek of
# (225, 170, 140) becomes (180, 112, 77), a tan brown.
BROWN = (0.80, 0.66, 0.55)
SPOT_RADIUS = 2.6     # px at 1024²: 5 px across, ~1.2 mm on a face ~600 px wide
SPOT_DEPTH = 0.05     # a spot lowers the high-passed green channel by at least this (0..1 units)
SPOT_WEIGHT = 30.0    # loss weight of spot pixels over the rest
PAINT_SEEDS = (100_000, 100_006)  # fitting seeds (fit.FIT_SEED0 onwards), never the held-out ones
PAINT_STEPS, PAINT_LR = 150, 0.03


def _disk(radius: float) -> torch.Tensor:
    k = int(np.ceil(radius)) + 1
    y, x = torch.meshgrid(torch.arange(-k, k + 1.0), torch.arange(-k, k + 1.0), indexing="ij")
    return (radius + 0.5 - (x * x + y * y).sqrt()).clamp(0, 1)[None, None]


def spot_target(base: torch.Tensor, edited: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(target, loss weight, spot count) for one face: base and edited images [1, 3, H, W] in 0..1. Each
    spot the edit adds becomes a round brown disk on the base face, deeper spots darker."""
    hp = lambda t: t - gaussian_blur(t, 4.0)  # noqa: E731 - the texture, without the skin's slow colour changes
    dg = gaussian_blur(hp(edited[:, 1:2]) - hp(base[:, 1:2]), 1.0)
    peak = (dg == -F.max_pool2d(-dg, 9, 1, 4)) & (dg < -SPOT_DEPTH)
    depth = (-dg / 0.12).clamp(0.5, 1.0) * peak
    disk = _disk(SPOT_RADIUS)
    mask = F.conv2d(depth, disk, padding=disk.shape[-1] // 2).clamp(0, 1)
    brown = torch.tensor(BROWN, dtype=base.dtype, device=base.device).view(1, 3, 1, 1)
    return base * (1 - mask * (1 - brown)), 1 + SPOT_WEIGHT * gaussian_blur(mask, 1.5), int(peak.sum())


def paint_direction(net, ws: list[torch.Tensor], start: Direction, amount: float, rows: range,
                    steps: int = PAINT_STEPS, lr: float = PAINT_LR,
                    progress: Progress | None = None) -> tuple[np.ndarray, dict]:
    """The offset [len(rows), w_dim] that takes each face w+ in `ws` ([1, num_ws, w_dim], already truncated)
    to its painted target, starting from `start` at `amount` sigma; and a record of the fit. `net` is an
    fp32 synthesis network (gradients through bf16 are too coarse for this)."""
    render = lambda w: (net.synthesis(w, noise_mode="const", size=None) + 1) / 2  # noqa: E731
    v = np.asarray(start.vector, np.float32)
    v = v[rows.start:rows.stop] if v.ndim == 2 else np.broadcast_to(v, (len(rows), v.shape[-1]))
    offset0 = torch.from_numpy(amount * start.scale * np.ascontiguousarray(v))
    place = lambda w, off: torch.cat([w[:, :rows.start], w[:, rows.start:rows.stop] + off[None],  # noqa: E731
                                      w[:, rows.stop:]], 1)
    targets, spots = [], []
    with torch.no_grad():
        for i, w in enumerate(ws):
            target, weight, n = spot_target(render(w), render(place(w, offset0)))
            targets.append((target, weight))
            spots.append(n)
            if progress:
                progress("painting targets", i + 1, len(ws))
    offset = offset0.clone().requires_grad_(True)
    opt = torch.optim.Adam([offset], lr=lr)
    # lr falls linearly to a tenth: Adam's steps are ~lr per coordinate, which near the fit rattles the spots
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - 0.9 * k / max(steps - 1, 1))
    losses = []
    for step in range(steps):
        opt.zero_grad()
        total = 0.0
        for w, (target, weight) in zip(ws, targets):
            with torch.enable_grad():
                loss = ((render(place(w, offset)) - target).square() * weight).mean() / len(ws)
                loss.backward()
            total += float(loss.detach())
        opt.step()
        sched.step()
        losses.append(total)
        if progress:
            progress("fitting the painted freckles", step + 1, steps)
    record = {"painted": {"faces": len(ws), "spots_per_face": round(float(np.mean(spots)), 1),
                          "brown": list(BROWN), "spot_radius_px": SPOT_RADIUS, "steps": steps, "lr": lr,
                          "from_amount": amount, "loss": [round(losses[0], 6), round(losses[-1], 6)]}}
    return offset.detach().numpy(), record


def painted_freckles(gen, labelled: Direction, seeds: range = range(*PAINT_SEEDS), psi: float = 0.8,
                     steps: int = PAINT_STEPS, progress: Progress | None = None) -> tuple[Direction, dict]:
    """The per-row freckle direction painted from the labelled one, on the labelled one's rows; its +range
    is the fitted offset (the labelled direction's +range recoloured)."""
    rows = labelled.rows(gen.num_ws)
    # clone(): outside inference mode, so the faces can sit in the autograd graph
    ws = [gen.broadcast(gen.mapping(gen.z_from_seed(int(s)), psi=psi)).clone() for s in seeds]
    offset, record = paint_direction(gen.net, ws, labelled, labelled.range, rows, steps, progress=progress)
    full = np.zeros((gen.num_ws, gen.w_dim), np.float32)
    full[rows.start:rows.stop] = offset
    norm = float(np.linalg.norm(full))
    record["painted"].update({"seeds": [seeds[0], seeds[-1]], "psi": psi,
                              "units": "the slider's +range is the fitted offset; the labelled direction it "
                                       "started from was at +range sigma of the model's w"})
    return Direction(labelled.name, full / norm, (rows.start, rows.stop), norm / labelled.range,
                     labelled.range), record
