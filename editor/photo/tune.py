"""Pivotal tuning (Roich et al., PTI) on the CPU: after projection finds a latent (the pivot), tune the
synthesis network to the photo so the details projection cannot reach (hair, background, the exact
eyes) come back, while faces elsewhere in latent space render as before.

Since the import ends with detail maps (editor.photo.detail), which reach the photo's last few dB without
touching the network, this stage no longer has to buy fidelity with locality: its locality term now takes
a sample every step at weight 3 instead of every other step at weight 2 (the A/B for the frequency is in
the tables below; at the defaults' 90 s the weight 2 left two of the five real photos at 33.8 and 34.9 dB
locality, under the 35 dB target), and it gets 55% of the time after the pivot instead of all of it.

What is tuned is a WeightDelta (editor.photo.delta): low-rank for the big pointwise weights, full for the
small ones, zero at the start. Loss: the projection's pixel + multi-scale SSIM loss against the photo (its
MSE weighed PIXEL), plus a locality term every LOCALITY_EVERY steps: a fresh random
face, or a latent halfway from the pivot to one, rendered with the tuned weights, must match its render with
the original weights (PTI's locality regulariser; here with pixel + SSIM instead of LPIPS, which needs weights
we cannot fetch offline), plus MOMENTS x a render-free locality term (editor.photo.moments: each layer's
delta against the second moments of its inputs over 8 of the regulariser's faces, collected once).

Defaults, measured on obama.jpg from one 80-step W+ pivot (22.1 dB), 50 tuning steps, PSNR at 256² /
identity distance / mean PSNR of 6 held-out seeds rendered tuned vs untouched (locality):
    LoRA lr 2e-3, full lr 5e-4, locality 1 every 3rd step (60 steps)   28.2 dB  0.15  26.8 dB
    LoRA lr 4e-3, full lr 1e-4, locality 1 every 3rd step              26.6 dB  0.17  29.7 dB
    LoRA lr 4e-3, full deltas frozen, locality 1 every 3rd             25.6 dB  0.23  30.0 dB
    LoRA lr 2e-3, full lr 1e-4, locality 3 every 2nd                   24.6 dB  0.23  34.1 dB
    LoRA lr 2e-3, full lr 5e-4, locality 5 every 2nd                   24.3 dB  0.23  27.2 dB
The full deltas (biases, depthwise kernels) buy fidelity and cost locality; the default sits between.

Why untouched faces drift (bench-photo's locality, 10 held-out seeds at 1024²), from deltas tuned 65 steps on
obama.jpg / biden.jpg: 32.3 / 32.8 dB at 1024², only ~1 dB better shrunk to 256² (33.3 / 33.8), so the
drift is not detail the 256² loss cannot see; it is spread over every layer (the coarse rows alone 38.9 dB,
middle 36.7, fine 36.0; each row 40-52 dB) and shared by the low-rank and the full deltas (34.8 dB each
alone). What the regulariser lacks is samples. From fixed 90-step W+ pivots of obama.jpg and biden.jpg and
generated seed 900100 (PSNR at 256², real photos / all three; identity mean; locality mean, min):
    locality 2 every 2nd step, 35 steps (the old default)   24.21 / 27.35 dB  0.198  34.0, min 33.0 dB
    locality 2 every step, 35 steps (1.4x the time)          24.02 / 27.08 dB  0.224  36.4, min 35.8 dB
    locality 4 every 2nd step, 35 steps                      23.60 / 26.65 dB  0.241  35.1, min 34.5 dB
    locality 2 every step, 25 steps (the time of 35 above)   23.59 / 26.66 dB  0.244  37.3, min 36.4 dB
    locality 1 every step, 25 steps                          24.03 / 27.13 dB  0.218  35.5, min 33.9 dB
At equal time a sample every step buys 2 dB more locality than a doubled weight for the same fidelity. At the
default budget it still costs fidelity: locality 1.5 every step for 46 steps (the time of the default's 65)
gives obama.jpg 25.71 dB, identity 0.20, locality 34.6 dB and biden.jpg 23.75 dB, 0.25, 34.9 dB, against
the default's 26.3 dB, 0.18, 32.3 dB and 24.4 dB, 0.22, 32.8 dB (seed 900100: 33.82 dB, 0.11, 36.8 dB against
34.75 dB, 0.09, 35.2 dB): +2.2 dB locality for -0.6 dB on the photos (more than the ~0.3 dB we allow), so the
default stays; `tune(locality_every=1)` trades that way.

Render-free locality and the MSE weight (tried as the default, then turned off: below). From the same fixed 90-step W+ pivots of
obama.jpg / biden.jpg / seed 900100, 65 steps each unless said (PSNR at 256²; identity; locality, 10 seeds
at 1024²; machine shared, load 2-5, so only steps are compared):
    default before (pixel 10, locality 2 every 2nd)     26.34 / 24.45 / 34.83 dB  0.18 0.22 0.10  32.3 32.8 35.2
    + moments 5                            (obama only) 26.00                     0.20            34.3
    moments 5 instead of the locality renders           27.95 / 26.71 / 37.23     0.17 0.19 0.08  25.6 27.3 33.3
    + moments 5, lr_full 3e-4              (obama only) 26.39                     0.18            30.0
    locality faces all random (none halfway; obama)     26.30                     0.18            31.8
    pixel 30                                            27.02 / 25.50 / 35.26     0.18 0.21 0.08  31.4 32.0 34.8
    pixel 30, locality 3                   (obama only) 26.47                     0.20            32.1
    pixel 30 + moments 5 (the new default)              26.67 / 25.17 / 34.98     0.20 0.25 0.09  33.0 34.0 36.5
    the same at 59 steps                                26.49 / 24.89 / 34.77     0.20 0.26 0.10  32.9 33.9 36.7
    the same at 62 steps (equal time, see below)        26.58 / 25.04             0.20 0.26       32.9 34.0
    moments 10 at 62 steps                              26.43 / 24.90             0.21 0.28       33.5 34.5
The MSE weight buys PSNR (+0.9 dB on the photos) and costs locality (-0.4 to -1 dB), as any weaker
regulariser would (Adam is scale-free: a bigger photo term is a smaller locality weight); the moments term
buys locality back for ~10 ms a step: together +0.53 dB on the photos and +0.7 to +1.3 dB locality at equal
steps; at equal time (62 steps) +0.42 dB on the photos (+0.24 / +0.59), +0.6 / +1.2 dB locality; identity
0.03 further on the photos (0.20 / 0.26 against 0.18 / 0.22). Doubling the moments weight moves along the
same trade (+0.5 dB locality for -0.15 dB and identity 0.01-0.02 further), still short of 35 dB on the photos. Cost, interleaved in one process (load 2):
setup 7.0 s against 2.3 s (the moments: 8 preview renders with hooks, ~3 steps), 1.51 against 1.54 s a step
(the penalty and its gradient: 9-10 ms). Then a quiet `bench-photo` at its defaults with pixel 30 + moments
5 (2-core AVX512-BF16, 739 s, ~92 + ~58 steps a face): real photos 25.5 dB mean (25.2 with pixel 10, no
moments, the previous quiet run), locality 33.1 min / 33.7 mean on the photos (31.6 / 32.5), generated faces
34.2 dB, locality 34.9-36.7; but identity on the photos 0.30 mean (0.28), obama2 0.47 (0.43): the one target
met before slips, for gains that meet no other, so the defaults stay pixel 10 without moments, and
tune(pixel=30, moments=5) is the option. (The 65-step rows above ran an earlier version of the term: 4096
sampled pixels a layer instead of 1024, MSE weight added outside the best-step tracking.)
Why the moments term cannot replace the renders: per layer it predicts the image drift that layer's delta
causes alone within 0.4-3x (blocks 8²-128² 0.4-1.0x, the 256²/512² blocks 2-3x: their change grows on the way
out), but the layers' changes add coherently: a delta tuned 40 steps with moments alone drifts 4 held-out
faces by MSE 8.3e-3 at 512², twice the 3.9e-3 its layers cause one at a time. A per-layer term cannot see
that; the render term does.

Most steps run the 512² preview path (the last block at half resolution, a third of the cost); the last
`full_fraction` of the run uses full renders so the result is right at 1024². Tried: every step on the exact
512² path (the full render's own 2x2 mean, so the very 256² loss image; 85% of the steps in the same time), 60 s
from the same pivots (quiet 2-core AVX512-BF16): 29.13 dB mean over obama / biden / seed 900100 (real 25.86),
locality 33.4 dB, against this path's 29.09 (25.96), 32.9 dB: no gain, not kept. Early stop when the loss has
not improved for `patience` steps; cancel keeps the best delta so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model import psnr
from .delta import FULL_BELOW, WeightDelta, tunable
from .moments import Moments
from .project import LOSS_SIZE, _gauss_window, clock, image_loss, lr_scale, to_target

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


class _Synthesis(nn.Module):
    """net.synthesis as a forward, so torch.func.functional_call can run it with substituted weights."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ws, size):
        return self.net.synthesis(ws, noise_mode="const", size=size)


def _locality_latent(gen, wplus: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th regulariser latent [1, num_ws, w_dim]: a fresh random face (psi 0.7) each time, every
    other one taken halfway towards the pivot (PTI samples anew each step: a fixed few are memorised)."""
    w = gen.mapping(gen.z_from_seed(LOCALITY_SEED + k), psi=0.7)[:, None, :].expand(1, gen.num_ws, -1)
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
    synth = _Synthesis(net)
    target = to_target(photo, device)
    window = _gauss_window().to(device)
    preview = 512 if 512 in gen.preview_sizes else None
    ws = torch.as_tensor(wplus, dtype=torch.float32, device=device).reshape(1, gen.num_ws, gen.w_dim)

    def weights():
        return {f"net.{k}": params[k] + (f[0] if len(f) == 1 else f[0] @ f[1]).reshape(params[k].shape)
                for k, f in factors.items()}

    def render(latents, full, tuned=True):
        out = torch.func.functional_call(synth, weights(), (latents, None if full or preview is None else preview)) \
            if tuned else synth(latents, None if full or preview is None else preview)
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
