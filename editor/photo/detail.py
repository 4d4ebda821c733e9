"""Detail maps: the last stage of a photo's import, after the pivot (editor.photo.project) and the tuned
weights (editor.photo.tune).

In 90 s on two CPU cores the tuned weights bring a real photo from ~22 dB to ~24 dB: hair strands, skin
texture and the background stay smoothed, and tuning the weights harder costs other faces (locality). But
the network already has per-image inputs for such detail: the maps it adds to each layer's features as
noise (NoisyBiasAct). Fitting one map per layer from DETAIL_FROM² to DETAIL_TO², with the latent and the
weights held, gives the rest, and other faces are untouched by construction: the maps are inputs of this
photo's renders, never part of the network.

Measured (PSNR at 256², 50 steps, ~18-21 s, from a 90-step pivot and 28 s of tuning; obama3.jpg from
23.35 dB, obama.jpg from 24.88 dB):
    loss at 256², maps 64²-512² each fitted at its own size, lr 0.05 / 0.2 / 0.4   obama3 30.25 / 36.29 / 39.74
    the same without the 512² maps, lr 0.05 / 0.2                                  obama3 26.21 / 28.15
    loss at 256², maps above 128² fitted at 128² and upsampled, lr 0.2            obama3 34.28, obama 34.11
    loss at 512², maps above 128² fitted at 128², lr 0.2                          obama 33.45
    loss at 512², maps above 256² fitted at 256² (the default), lr 0.1 / 0.2 / 0.3 obama 35.13 / 35.05 / 34.77,
                                                                                   obama3 - / 33.41 / -
    loss at 512², every map at its own size, lr 0.2                               obama 35.74, obama3 32.55
Looked at 1:1, where the 256² figures cannot see: with the loss at 256² the maps paint what it cannot see,
colour speckle over the skin (free 512² maps, worse with the rate) or an 8-px grid on the forehead and
grey-green speckle in the hair (maps fitted at 128²: their pixels grow into blocks through the Haar upsampling).
With the loss at 512² (LOSS; ~40 ms more a step, 0.36 -> 0.40 s) and the maps above 256² fitted at 256²
(FREE_TO) the forehead is clean and the hair reads as hair; free 512² maps copy the photo's grain too. From
32² instead of 64² (loss 256², free, lr 0.1): +0.5 dB, for maps that would hold the face's shape against an
edit.
So: 64²-512², LOSS 512, FREE_TO 256, lr 0.2.

Looked at 2x (nearest) after that, the forehead still showed a dotted 2-px grid, and dark curly hair a
green-pink mottle: the last block's maps act on its wavelet high bands, which an area downsample to 512²
averages away, so the loss could not see what they painted at 1024². An MSE at full size besides it
(FULL_MSE, weight 1 on [-1, 1]) sees it; 50 steps from the same tuned weights (PSNR at 256²):
    loss at 512² (before)                     obama 33.92   biden 33.24 dB   grid on the forehead, mottled hair
    + MSE at 1024², weight 1 / 5              obama 34.31 / 35.13   biden 33.59   grid gone at 1 (faint at 5)
    loss at 1024² instead                     obama 32.03 (free 512² maps 32.24)  clean, 1.9 dB less
    + chroma MSE x3 / x10 at 512²             obama 35.44 / 36.83   grid and mottle as before
    both, MSE at 1024² 1 + chroma x3 (default) obama 35.62   biden 34.25   as the first, nose and eyes
                                                                             looked at: as close to the photo
    + total variation of the maps 0.1 / 1     obama 32.08 / 29.86   blocky hair, grid as before
    no 512² maps                              obama 32.06   no grid, more colour speckle in the hair

What they cannot do is move: a map is pinned to the photo's geometry, so an edit that turns or reshapes the
face would show the photo's detail where the face was, a ghost outline. So renders fade them with the edit's
distance from the photo's latent (editor.photo.delta.detail_gate), at RADIUS of the distance between two
random faces; a mix with another face's coarse rows keeps none.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import psnr
from .delta import WeightDelta, map_at
from .project import LOSS_SIZE, _gauss_window, clock, image_loss, lr_scale, to_target
from .synthesis import Synthesis

DETAIL_FROM = 64   # maps at the layers of this size and finer (coarser ones reshape the face: ghosts)
DETAIL_TO = 512
LOSS = 512         # the loss's size: twice the projection's, so the finest maps are seen (see above)
FULL_MSE = 1.0     # the MSE at full size, besides the loss at LOSS: what the last block's maps do there (see above)
CHROMA = 3.0       # the MSE of the colour alone (less luma), at LOSS: colour errors weigh as the eye sees them
LUMA = (0.299, 0.587, 0.114)
FREE_TO = 256      # a finer map is fitted at this size and upsampled: finer, it learns speckle (see above)
RADIUS = 0.22      # the gate's radius, as a fraction of the mean distance between two random faces' w
PSI = 0.7          # the faces that distance is measured between


@dataclass
class Detail:
    delta: WeightDelta          # the tuned delta given, now carrying the maps
    steps: int
    seconds: float
    psnr_db: float              # full render with weights and maps vs the target, at LOSS_SIZE
    before_db: float            # the same without the maps
    cancelled: bool = False


def _chroma(img: torch.Tensor) -> torch.Tensor:
    """An image less its luma (Rec. 601 weights): the colour a map may get wrong while the grey is right."""
    luma = (img * img.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return img - luma


def detail_layers(net) -> dict[str, torch.nn.Module]:
    """{layer name: its NoisyBiasAct} for the layers that get a map (e.g. "blocks.5.conv1")."""
    return {name[:-len(".act")]: m for name, m in net.named_modules()
            if name.endswith(".act") and hasattr(m, "noise_const") and DETAIL_FROM <= m.noise_const.shape[-1] <= DETAIL_TO}


def radius_for(gen, samples: int = 64) -> float:
    """RADIUS in this model's latent units (the mean distance between two random faces' w at PSI)."""
    w = gen.mapping(gen.z_from_seed(7_100_000, batch=samples), psi=PSI)
    return RADIUS * float(torch.cdist(w, w).sum() / (samples * (samples - 1)))


def fit_detail(gen, photo: np.ndarray, wplus: np.ndarray, delta: WeightDelta, steps: int = 400,
               seconds: float | None = None, lr: float = 0.2, min_steps: int = 2,
               progress: Callable[[int, int, float, torch.Tensor | None], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Detail:
    """Fit `delta`'s detail maps so that its tuned network renders `wplus` as `photo` (uint8, aligned).

    Same contract as tune(): `seconds` follows the clock but makes `min_steps` steps; cancel keeps the best
    maps so far. Runs on `gen.net` (the app imports on its own copy of the generator)."""
    t0 = time.perf_counter()
    net, device = gen.net, gen.device
    layers = detail_layers(net)
    free = {k: torch.zeros(1, 1, *(min(n, FREE_TO) for n in act.noise_const.shape[-2:]), device=device,
                           requires_grad=True) for k, act in layers.items()}
    sizes = {k: tuple(act.noise_const.shape[-2:]) for k, act in layers.items()}

    def show(fitted: dict[str, torch.Tensor]) -> None:  # the maps into the network, at each layer's size
        for k, act in layers.items():
            act.detail = map_at(fitted[k], sizes[k])

    def snapshot() -> dict[str, torch.Tensor]:  # kept at the size fitted: the file stores them so
        return {k: f.detach().clone() for k, f in free.items()}
    params = dict(net.named_parameters())
    tuned = {k: params[k].detach() + delta.dense(k).to(device) for k in delta.factors}
    target, small = to_target(photo, device, LOSS), to_target(photo, device)  # small: the size PSNR is reported at
    full = to_target(photo, device, gen.resolution)
    target_chroma = _chroma(target)
    window = _gauss_window().to(device)
    ws = torch.as_tensor(wplus, dtype=torch.float32, device=device).reshape(1, gen.num_ws, gen.w_dim)
    opt = torch.optim.Adam(free.values(), lr=lr, betas=(0.9, 0.99))
    synth = Synthesis(net)

    def render() -> torch.Tensor:  # the full network: the finest maps must be right at full size
        return torch.func.functional_call(synth, {f"net.{k}": v for k, v in tuned.items()}, (ws, None))

    def loss_of(img: torch.Tensor) -> torch.Tensor:
        small_img = F.interpolate(img, size=(LOSS, LOSS), mode="area")
        return (image_loss(small_img, target, window) + FULL_MSE * F.mse_loss(img, full)
                + CHROMA * F.mse_loss(_chroma(small_img), target_chroma))

    done, total = clock(steps, seconds, t0, reserve=1.0)
    best, best_loss, before_db, step, cancelled = None, math.inf, None, 0, False

    try:
        while step < steps and ((fraction := min(done(step), 1.0)) < 1 or step < min_steps):
            if should_stop is not None and should_stop():
                cancelled = True
                break
            for group in opt.param_groups:
                group["lr"] = lr * lr_scale(step, fraction, warmup=5)
            show(free)
            img = render()
            loss = loss_of(img)
            if before_db is None:
                before_db = psnr(F.interpolate(img.detach(), size=(LOSS_SIZE, LOSS_SIZE), mode="area"), small)
            # The loss is of the maps before this step: keep those if they are the best so far.
            if loss.item() < best_loss:
                best_loss, best = loss.item(), snapshot()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if progress is not None:
                progress(step, total(step), loss.item(), img.detach() if step % 10 == 1 else None)
        # The last step's maps have not been judged yet.
        with torch.no_grad():
            show(free)
            last = loss_of(render()).item()
            if last < best_loss or best is None:
                best_loss, best = last, snapshot()
            show(best)
            quality = psnr(F.interpolate(render(), size=(LOSS_SIZE, LOSS_SIZE), mode="area"), small)
    finally:
        for act in layers.values():
            act.detail = None
    result = delta.with_maps(best, radius_for(gen))
    return Detail(result, step, time.perf_counter() - t0, quality,
                  quality if before_db is None else before_db, cancelled)
