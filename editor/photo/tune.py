"""Pivotal tuning (Roich et al., PTI) on the CPU: after projection finds a latent (the pivot), tune the
synthesis network to the photo so the details projection cannot reach (hair, background, the exact
eyes) come back, while faces elsewhere in latent space render as before.

What is tuned is a WeightDelta (editor.photo.delta): low-rank for the big pointwise weights, full for the
small ones, zero at the start. Loss: the projection's pixel + multi-scale SSIM loss against the photo (its
MSE weighed PIXEL), plus PTI's locality term every LOCALITY_EVERY steps (a fresh random face, or a latent
halfway from the pivot to one, must render with the tuned weights as with the original ones; pixel + SSIM
instead of LPIPS, whose weights cannot be fetched offline), plus MOMENTS x a render-free locality term
(editor.photo.moments; off by default). The detail maps (editor.photo.detail) follow and reach the photo's
last few dB without touching the network, so this stage takes a locality sample every step and 55% of the
time after the pivot. Most steps run the 512² preview path; the last `full_fraction` use full renders so
the result is right at 1024². Early stop after `patience` steps without gain; cancel keeps the best delta.

Why these defaults (learning rates, locality weight and frequency, PIXEL 10, MOMENTS 0), with the tables:
docs/photo-tuning-experiments.md.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..defaults import DEFAULT_PSI
from ..model import psnr
from ..model.call_inputs import call_inputs
from .delta import FULL_BELOW, WeightDelta, tunable
from .moments import Moments
from .project import LOSS_SIZE, clock, gauss_window, image_loss, lr_scale, to_target
from .synthesis import Synthesis

LOCALITY_EVERY = 1
LOCALITY_SEED = 7_000_000  # the regulariser's own faces: never the seeds locality is measured on
# Off by default: with them (moments 5, pixel 30) a quiet 90 s bench-photo gave the real photos +0.3 dB and
# +0.6 dB locality but identity 0.30 on average, over the 0.30 target it met before (0.28); see the docstring.
MOMENTS = 0.0   # weight of the render-free locality term (editor.photo.moments)
PIXEL = 10.0    # the photo term's MSE weight (as the projection's)


@dataclass
class Tuning:
    delta: WeightDelta
    steps: int
    seconds: float
    psnr_db: float               # full render with the delta vs the target, at LOSS_SIZE
    pivot_psnr_db: float         # the same without it
    history: list[float] = field(default_factory=list)
    cancelled: bool = False
    stopped_early: bool = False


def _locality_latent(gen, wplus: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th regulariser latent [1, num_ws, w_dim]: a fresh random face (psi 0.7) each time, every
    other one taken halfway towards the pivot (PTI samples anew each step: a fixed few are memorised)."""
    w = gen.mapping(gen.z_from_seed(LOCALITY_SEED + k), psi=DEFAULT_PSI)[:, None, :].expand(1, gen.num_ws, -1)
    return (wplus[None] + 0.5 * (w - wplus[None])) if k % 2 else w.clone()


def tune(gen, photo: np.ndarray, wplus: np.ndarray, steps: int = 400, seconds: float | None = None,
         lr: float = 4e-3, rank: int = 8, locality: float = 3.0, locality_every: int = LOCALITY_EVERY,
         lr_full: float = 1e-4,
         full_below: int = FULL_BELOW, min_steps: int = 2,
         full_fraction: float = 0.25, patience: int = 40, moments: float = MOMENTS, moment_faces: int = 8,
         pixel: float = PIXEL,
         progress: Callable[[int, int, float, torch.Tensor | None], None] | None = None,
         should_stop: Callable[[], bool] | None = None) -> Tuning:
    """Tune a WeightDelta so that synthesis(wplus) reproduces `photo` (uint8, FFHQ-aligned).

    Same progress / should_stop / seconds contract as project(): with `seconds` the run follows the clock,
    but always makes `min_steps` steps (a busy machine may overrun a tight budget by those, never return
    untuned weights as if tuned).
    """
    t0 = time.perf_counter()
    net, device = gen.net, gen.device
    params = dict(tunable(net))
    start = WeightDelta.zeros_like(net, rank, full_below=full_below)
    factors = {k: [t.to(device).clone().requires_grad_(True) for t in f] for k, f in start.factors.items()}
    # Small tensors (biases, depthwise kernels) are changed in full and act on every pixel: a gentler rate.
    groups = [{"params": [t for f in factors.values() if len(f) == 2 for t in f], "base": lr},
              {"params": [f[0] for f in factors.values() if len(f) == 1], "base": lr_full}]
    opt = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.99))
    synth = Synthesis(net)
    target = to_target(photo, device)
    window = gauss_window().to(device)
    preview = 512 if 512 in gen.preview_sizes else None
    ws = torch.as_tensor(wplus, dtype=torch.float32, device=device).reshape(1, gen.num_ws, gen.w_dim)

    def weights():  # the deltas as per-call inputs (editor.model.call_inputs): the shared net is never written
        return {k: (f[0] if len(f) == 1 else f[0] @ f[1]).reshape(params[k].shape) for k, f in factors.items()}

    def render(latents, full, tuned=True):
        with call_inputs(deltas=weights() if tuned else {}):
            out = synth(latents, None if full or preview is None else preview)
        return F.interpolate(out, size=(LOSS_SIZE, LOSS_SIZE), mode="area")

    with torch.no_grad():
        pivot_db = psnr(render(ws, True, tuned=False), target)
    # The render-free locality term's moments, from the regulariser's own faces (editor.photo.moments).
    layer_moments = None if not moments else \
        Moments(net, torch.cat([_locality_latent(gen, ws[0], k) for k in range(moment_faces)]),
                should_stop=should_stop)

    done, total = clock(steps, seconds, t0, reserve=1.5)
    history, best, best_loss, since_best, step = [], None, math.inf, 0, 0
    cancelled = stopped_early = False
    while step < steps and ((fraction := min(done(step), 1.0)) < 1 or step < min_steps):
        if should_stop is not None and should_stop():
            cancelled = True
            break
        for group in opt.param_groups:
            group["lr"] = group["base"] * lr_scale(step, fraction, warmup=10)
        full = fraction >= 1 - full_fraction
        img = render(ws, full)
        loss = image_loss(img, target, window, pixel)
        photo_loss = loss.item()
        if locality and step % locality_every == 0:
            near = _locality_latent(gen, ws[0], step // locality_every)
            with torch.no_grad():
                before = render(near, full, tuned=False)
            loss = loss + locality * image_loss(render(near, full), before, window)
        if layer_moments is not None:
            loss = loss + moments * layer_moments.penalty(factors)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(photo_loss)
        step += 1
        # Best and early stop judge the photo term at full resolution only (previews are not the result).
        if full:
            if photo_loss < best_loss * 0.999:
                best_loss, since_best = photo_loss, 0
                best = {k: tuple(t.detach().clone() for t in f) for k, f in factors.items()}
            else:
                since_best += 1
                if since_best >= patience:
                    stopped_early = True
                    break
        if progress is not None:
            progress(step, total(step), photo_loss, img.detach() if step % 10 == 1 else None)
    if best is None:
        best = {k: tuple(t.detach().clone() for t in f) for k, f in factors.items()}
    delta = WeightDelta(best, {k: tuple(p.shape) for k, p in params.items()})
    factors = {k: list(f) for k, f in best.items()}
    with torch.no_grad():
        quality = psnr(render(ws, True), target)
    return Tuning(delta, len(history), time.perf_counter() - t0, quality, pivot_db, history, cancelled,
                  stopped_early)
