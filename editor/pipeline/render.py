"""Edit -> image: the one function that turns an EditState into pixels."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class RenderError(ValueError):
    """The edit could not be rendered (NaN/inf pixels, a flat image, a model mismatch): never a file."""


def render_edit(gen: Any, state: Any, directions: Mapping[str, Any], size: int | None = None, *,
                noise_phase: float | None = None) -> np.ndarray:
    """uint8 [size, size, 3] of `state` (sources' photo deltas and detail maps, directions, image layers
    and painting included). `size`: None = the model's resolution; any other size is the full render
    resized (or the model's exact smaller size), never an approximate preview. `noise_phase`: animations'
    looping 'random' noise (None: the edit's own noise)."""
    from ..render import RenderRequest, render
    result = render(gen, RenderRequest(0, state, size), directions)
    if result.error:
        raise RenderError(result.error)
    return result.images[0]
