"""The app's render requests: a stamped request in, a plain result out (errors too), so any thread or test can
drive it. The pixels of an edit come from editor.pipeline.render_edit, the one render function; this module
adds stamps, thumbnails and background jobs for the render worker. Never imports Qt.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from .compose import Direction
from .defaults import DEFAULT_PSI
from .edit import EditState
from .model import Generator, to_uint8
from .model.interrupt import Superseded
from .pipeline.render import check_image, render_with_wplus

PREVIEW_SIZE = 512  # while dragging (the model's fast size, layers painted at it); full resolution once input rests


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
            psi = request.state.psi if request.state is not None else DEFAULT_PSI
            z = torch.cat([gen.z_from_seed(s) for s in request.seeds])
            img = gen.synthesis(gen.mapping(z, psi=psi), size=size)
            check_image(img)
            result.images = list(to_uint8(img))
        else:
            # A drag's frame (a size below full) is a preview: synthesised at that size directly.
            image, wplus = render_with_wplus(gen, request.state, directions, request.size,
                                             preview=request.size is not None)
            result.images, result.wplus = [image], wplus
    except Superseded:
        raise  # not a failure: the render thread drops this request for a newer one
    except Exception as exc:  # noqa: BLE001 - reported to the user, the app stays up
        result.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    result.ms = (time.perf_counter() - t0) * 1000
    return result
