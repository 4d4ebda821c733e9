"""Project an aligned face photo into the generator's latent space (W or W+), on the CPU, in minutes.

Loss: pixel MSE plus multi-scale SSIM at 256², 128² and 64². No VGG weights can be had offline, and SSIM
at several scales is what a perceptual loss mostly buys here: it rewards matching local structure (edges,
hair, eyes) rather than averaging colours, and it is cheap and differentiable. W+ mode adds a pull of every
row towards the mean row, so the latent stays editable (rows far apart mix and move badly).

And every row is kept where W's faces live (PRIOR): a hinge on its squared Mahalanobis norm under a Gaussian
fitted to mapped samples (w_whitening), past PRIOR_AT of a random face's. Without it a W+ pivot's rows
drift along W's rarest directions (eigenvalues down to 1e-3 of the largest), where nothing the image loss
sees changes but where the shipped directions act weakly (a generated face's gender slider at +3 sigma gave
P(male) 0.00-0.21 where its true latent gives 1.00). The prior costs no fidelity and fixes that; a pull of
the rows towards each other cannot (rows can sit close together and still all be off W). A W pivot (mode
"w") is on W by construction but costs real photos 6 dB. The table: docs/photo-projection-experiments.md.

Speed: most steps run through the 512² preview path (a third of the cost: the last block is skipped), the
last `full_fraction` of the steps through the full network so the result is right at full resolution.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import psnr

LOSS_SIZE = 256
PRIOR, PRIOR_AT = 0.1, 0.7  # the W prior's weight, and where it starts (x a random face's norm²; see above)


@dataclass
class Projection:
    wplus: np.ndarray            # [num_ws, w_dim] float32
    mode: str
    steps: int
    seconds: float
    psnr_db: float               # of the full render vs the target, at LOSS_SIZE
    history: list[float] = field(default_factory=list)
    cancelled: bool = False


def gauss_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of images in [0, 1], per channel with a Gaussian window (Wang et al. 2004)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pad = window.shape[-1] // 2
    conv = lambda x: F.conv2d(x, window, padding=pad, groups=3)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a = conv(a * a) - mu_a ** 2
    var_b = conv(b * b) - mu_b ** 2
    cov = conv(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean()


def image_loss(img: torch.Tensor, target: torch.Tensor, window: torch.Tensor,
               pixel: float = 10.0) -> torch.Tensor:
    """img, target: [1, 3, LOSS_SIZE, LOSS_SIZE] in [-1, 1]; `pixel` weighs the MSE against the SSIM terms."""
    a, b = (img + 1) / 2, (target + 1) / 2
    loss = F.mse_loss(a, b) * pixel
    for _ in range(3):
        loss = loss + (1 - ssim(a, b, window)) / 3
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return loss


def w_whitening(gen, samples: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, P) of the generator's W, fitted to mapped samples: |(w - mean) @ P|² is w's squared
    Mahalanobis norm, ~w_dim for a random face. Cached on the generator (a second of mapping, once)."""
    cached = getattr(gen, "_w_whitening", None)
    if cached is None:
        with torch.no_grad():
            z = torch.from_numpy(np.random.RandomState(7).randn(samples, gen.z_dim)).float().to(gen.device)
            # float64 on the CPU: MPS has no float64, and the rarest directions need the precision
            w = torch.cat([gen.mapping(z[i:i + 1024]) for i in range(0, samples, 1024)]).cpu().double()
        mean = w.mean(0)
        evals, evecs = torch.linalg.eigh(torch.cov((w - mean).T))
        cached = (mean.float().to(gen.device), (evecs / evals.clamp_min(1e-6).sqrt()).float().to(gen.device))
        gen._w_whitening = cached
    return cached


def to_target(photo: np.ndarray, device, size: int = LOSS_SIZE) -> torch.Tensor:
    """uint8 [H, W, 3] aligned face -> [1, 3, size, size] in [-1, 1]."""
    x = torch.as_tensor(np.array(photo)).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1  # a copy: may be read-only
    return F.interpolate(x, size=(size, size), mode="area")


def lr_scale(step: int, fraction: float, warmup: int) -> float:
    """The learning rate's factor: a warm-up over `warmup` steps, then a cosine decay with the run's
    progress (0 -> 1), floored at 5% (as NVIDIA's projector ramps it). Projection, tuning and the maps."""
    return max(min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * fraction)), 0.05)


def clock(steps: int, seconds: float | None, started: float, reserve: float):
    """How far through a run is at a step, 0 -> 1: by step count, or with a time budget (counted from
    `started`, `reserve` seconds kept back for the final render) by the clock, so that a machine busier (or
    freer) than expected changes the number of steps, never the shape of the schedule. Also the run's
    estimated total steps, from the pace so far, for progress."""
    if seconds is None:
        done = lambda step: step / steps  # noqa: E731
    else:
        now = time.perf_counter()
        span = max(seconds - (now - started) - reserve, 1e-3)
        done = lambda step: (time.perf_counter() - now) / span  # noqa: E731

    def total(step: int) -> int:
        return steps if seconds is None else max(step, min(steps, round(step / max(done(step), 1e-3))))
    return done, total


def similarity(img: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """PSNR (dB) and SSIM of two [1, 3, H, W] images in [-1, 1], both shrunk to LOSS_SIZE² first."""
    shrink = lambda x: F.interpolate(x.float(), size=(LOSS_SIZE, LOSS_SIZE), mode="area")  # noqa: E731
    a, b = shrink(img).clamp(-1, 1), shrink(target).clamp(-1, 1)
    with torch.no_grad():
        return psnr(a, b), ssim((a + 1) / 2, (b + 1) / 2, gauss_window().to(a.device)).item()


def project(gen, photo: np.ndarray, mode: str = "w+", steps: int = 150, lr: float = 0.04,
            full_fraction: float = 0.3, wplus_reg: float = 0.02, prior: float = PRIOR, prior_at: float = PRIOR_AT, init_candidates: int = 16, w_fraction: float = 0.1,
            progress: Callable[[int, int, float, torch.Tensor | None], None] | None = None,
            should_stop: Callable[[], bool] | None = None, seconds: float | None = None) -> Projection:
    """Optimise a latent so the generator reproduces `photo` (uint8 [H, W, 3], FFHQ-aligned).

    progress(step, steps, loss, preview) is called every step; preview is the current render at
    LOSS_SIZE every 10 steps (else None). should_stop() -> True cancels: the best latent so far is returned.
    seconds: a time budget for the whole call instead of a step count (`steps` is then the most run): the
    schedule follows the clock, so the run ends on time however fast the machine is meanwhile.
    """
    if mode not in ("w", "w+"):
        raise ValueError(f"mode must be 'w' or 'w+', not {mode!r}")
    t0 = time.perf_counter()
    net, device = gen.net, gen.device
    target = to_target(photo, device)
    window = gauss_window().to(device)
    preview = 512 if 512 in gen.preview_sizes else None

    def render(ws: torch.Tensor, full: bool) -> torch.Tensor:
        img = net.synthesis(ws, noise_mode="const", size=None if full or preview is None else preview)
        return F.interpolate(img, size=(LOSS_SIZE, LOSS_SIZE), mode="area")

    # Start from the best of a few mapped samples near the mean face: far better than w_avg alone.
    with torch.no_grad():
        z = gen.z_from_seed(0, batch=init_candidates)
        cands = torch.cat([gen.w_avg[None], gen.w_avg + 0.7 * (net.mapping(z) - gen.w_avg)])
        losses = [image_loss(render(c[None, None].expand(1, gen.num_ws, -1), False), target, window).item()
                  for c in cands]
        start = cands[int(np.argmin(losses))]
    # W+ starts as W for the first w_fraction of the run: the shared w finds the face, then the rows are
    # freed. Freeing them from the start lets each row wander off on its own (generated faces: 25 dB vs 30 dB
    # at 100 steps); freeing them late leaves real photos stuck in the basin W found. Measured at 200 steps
    # on three real photos / two generated faces: freed at 50% with half the lr 19.5 / ~39.6 dB, at 25% with
    # the full lr 22.6, at 10% 24.0 / 36.6, at 0% 23.4 / 33.5.
    w = start.clone()[None].requires_grad_(True)
    expand = lambda: w[:, None, :].expand(1, gen.num_ws, -1)  # noqa: E731
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.99))
    done, total = clock(steps, seconds, t0, reserve=1.0)  # ~1 s kept back for the final full render
    free_at = w_fraction if mode == "w+" else math.inf
    w_mean, whiten = w_whitening(gen) if prior else (None, None)
    history, best, best_loss, cancelled, freed, step = [], None, float("inf"), False, False, 0
    while step < steps and (fraction := done(step)) < 1:
        if should_stop is not None and should_stop():
            cancelled = True
            break
        if not freed and fraction >= free_at:
            freed, w = True, w.detach()[:, None, :].repeat(1, gen.num_ws, 1).requires_grad_(True)
            expand = lambda: w  # noqa: E731
            opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.99))
        for group in opt.param_groups:
            group["lr"] = lr * lr_scale(step, fraction, warmup=10)
        full = fraction >= 1 - full_fraction
        ws = expand()
        img = render(ws, full)
        loss = image_loss(img, target, window)
        if prior:
            excess = ((ws[0] - w_mean) @ whiten).square().mean(-1) - prior_at  # >0: less likely than a random face
            loss = loss + prior * F.relu(excess).mean()
        if freed:
            loss = loss + wplus_reg * (ws - ws.mean(1, keepdim=True)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(loss.item())
        if full and history[-1] < best_loss:
            best_loss, best = history[-1], expand().detach().clone()
        step += 1
        if progress is not None:  # with a time budget the total is an estimate, from the pace so far
            progress(step, total(step), history[-1], img.detach() if step % 10 == 1 else None)
    final = best if best is not None else expand().detach().clone()
    with torch.no_grad():
        quality = psnr(render(final, True), target)
    return Projection(final[0].cpu().numpy().astype(np.float32), mode, len(history), time.perf_counter() - t0,
                      quality, history, cancelled)

