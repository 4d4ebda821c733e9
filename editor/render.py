"""Request -> image. Plain data in, plain data out (errors too), so any thread or test can drive it.

The render worker in editor/qt calls `render`; this module never imports Qt.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .compose import Direction, wplus_for
from .edit import EditState
from .freckle_layer import paint_freckles
from .model import Generator, to_uint8
from .model.interrupt import Superseded
from .paint import paint
from .photo.delta import applied, source_deltas

PREVIEW_SIZE = 512  # while dragging; full resolution once input rests


@dataclass(frozen=True)
class RenderRequest:
    stamp: int                     # increases with every request; results carry it back
    state: EditState
    size: int | None = None        # None = full resolution
    kind: str = "view"             # "view" or "gallery"
    seeds: tuple[int, ...] = ()    # gallery: the seeds to render as thumbnails
    job: Callable[[Generator], Any] | None = field(default=None, compare=False)  # kind "job:<name>"


@dataclass
class RenderResult:
    stamp: int
    kind: str
    state: EditState | None
    size: int
    images: list[np.ndarray] = field(default_factory=list)  # uint8 [H, W, 3] each
    wplus: np.ndarray | None = None                          # the w+ that was rendered (view only)
    seeds: tuple[int, ...] = ()                              # gallery: the seeds of `images`
    value: Any = None                                        # a job's return value
    ms: float = 0.0
    error: str | None = None


class NonFiniteRender(ValueError):
    """The model produced NaN or infinite pixels: shown as an error, never as a black face."""


def _check_finite(img: torch.Tensor) -> None:
    bad = (~torch.isfinite(img)).sum().item()
    if bad:
        raise NonFiniteRender(f"the model produced {bad} NaN or infinite pixel values for this edit "
                              f"({100 * bad / img.numel():.1f}% of the image); try a smaller edit or truncation")


def painted_layers(image: np.ndarray, state: EditState, directions: Mapping[str, Direction]) -> np.ndarray:
    """The image with the layers of directions that paint their + side (freckles), at the state's amounts."""
    for name, amount in state.directions:
        d = directions.get(name)
        if d is not None and d.layer == "freckles" and amount > 0:
            image = paint_freckles(image, amount / d.range, state.noise_seed)
    return image


def render(gen: Generator, request: RenderRequest, directions: Mapping[str, Direction]) -> RenderResult:
    """Compose the edit's w+ and synthesise it. Never raises: a failure comes back as `error`."""
    t0 = time.perf_counter()
    size = request.size or gen.resolution
    result = RenderResult(request.stamp, request.kind, request.state, size, seeds=request.seeds)
    try:
        if request.job is not None:
            # Work that needs the model (mapping samples, SeFa, teaching) runs here, on the render
            # thread, never on the GUI thread.
            result.value = request.job(gen)
        elif request.kind == "gallery":
            psi = request.state.psi if request.state is not None else 0.7
            z = torch.cat([gen.z_from_seed(s) for s in request.seeds])
            img = gen.synthesis(gen.mapping(z, psi=psi), size=size)
            _check_finite(img)
            result.images = list(to_uint8(img))
        else:
            state = request.state
            wplus = wplus_for(state, gen, directions)
            # A face from a photo renders with its tuned weights, per layer as much as the mix takes of it.
            with torch.random.fork_rng(devices=[]), applied(gen, source_deltas(state, wplus)), \
                    gen.transformed(*state.input_transform):
                torch.manual_seed(state.noise_seed)  # 'random' noise is reproducible per reseed
                img = gen.synthesis(torch.from_numpy(wplus)[None], noise=state.noise_mode,
                                    noise_strength=state.noise_strength, size=size)
            _check_finite(img)
            image = painted_layers(to_uint8(img)[0], state, directions)
            # Painting is part of the edit, so previews, the full render and exports all show it.
            result.images = [paint(image, state.paint, state.paint_strength)]
            result.wplus = wplus
    except Superseded:
        raise  # not a failure: the render thread drops this request for a newer one
    except Exception as exc:  # noqa: BLE001 - reported to the user, the app stays up
        result.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result.ms = (time.perf_counter() - t0) * 1000
    return result
