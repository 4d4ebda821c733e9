"""Detail maps: the last stage of a photo's import, after the pivot (editor.photo.project) and the tuned
weights (editor.photo.tune).

In 90 s on two CPU cores the tuned weights bring a real photo from ~22 dB to ~24 dB: hair strands, skin
texture and the background stay smoothed, and tuning the weights harder costs other faces (locality). But
the network already has per-image inputs for such detail: the maps it adds to each layer's features as
noise (NoisyBiasAct). Fitting one map per layer from DETAIL_FROM² to DETAIL_TO², with the latent and the
weights held, gives the rest, and other faces are untouched by construction: the maps are inputs of this
photo's renders, never part of the network.

The loss is at 512² (LOSS) plus an MSE at full size (FULL_MSE) and a chroma MSE (CHROMA), and the maps
above 256² are fitted at 256² (FREE_TO): at 1:1 and 2x, any less showed colour speckle, a pixel grid on the
forehead or mottled hair that a 256² PSNR cannot see. The experiments, with their tables:
docs/photo-detail-maps.md.

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

from ..defaults import DEFAULT_PSI
from ..model import psnr
from ..model.call_inputs import call_inputs
from .delta import WeightDelta, map_at
from .project import LOSS_SIZE, clock, gauss_window, image_loss, lr_scale, to_target
from .synthesis import Synthesis

DETAIL_FROM = 64   # maps at the layers of this size and finer (coarser ones reshape the face: ghosts)
DETAIL_TO = 512
LOSS = 512         # the loss's size: twice the projection's, so the finest maps are seen (see above)
FULL_MSE = 1.0     # the MSE at full size, besides the loss at LOSS: what the last block's maps do there (see above)
CHROMA = 3.0       # the MSE of the colour alone (less luma), at LOSS: colour errors weigh as the eye sees them
LUMA = (0.299, 0.587, 0.114)
FREE_TO = 256      # a finer map is fitted at this size and upsampled: finer, it learns speckle (see above)
RADIUS = 0.22      # the gate's radius, as a fraction of the mean distance between two random faces' w
PSI = DEFAULT_PSI  # the faces that distance is measured between


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

    shown: dict[str, torch.Tensor] = {}  # the maps a render gets as call inputs (editor.model.call_inputs)

    def show(fitted: dict[str, torch.Tensor]) -> None:  # the maps at each layer's size
        shown.update({k: map_at(fitted[k], sizes[k]) for k in layers})

    def snapshot() -> dict[str, torch.Tensor]:  # kept at the size fitted: the file stores them so
        return {k: f.detach().clone() for k, f in free.items()}
    tuned = {k: delta.dense(k).to(device) for k in delta.factors}
    target, small = to_target(photo, device, LOSS), to_target(photo, device)  # small: the size PSNR is reported at
    full = to_target(photo, device, gen.resolution)
    target_chroma = _chroma(target)
    window = gauss_window().to(device)
    ws = torch.as_tensor(wplus, dtype=torch.float32, device=device).reshape(1, gen.num_ws, gen.w_dim)
    opt = torch.optim.Adam(free.values(), lr=lr, betas=(0.9, 0.99))
    synth = Synthesis(net)

    def render() -> torch.Tensor:  # the full network: the finest maps must be right at full size
        with call_inputs(deltas=tuned, detail=shown):
            return synth(ws, None)

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
        shown.clear()
    result = delta.with_maps(best, radius_for(gen))
    return Detail(result, step, time.perf_counter() - t0, quality,
                  quality if before_db is None else before_db, cancelled)
