"""Frames: a plan's edits rendered at full resolution, painted, then resized to the animation's size.

Deterministic, and safe beside the app's render worker. editor.render seeds torch's global generator
for 'random' noise; two threads doing that at once would each draw the other's noise. So frames never
touch the global generator: while a frame renders, its noise maps are drawn from a generator of its own
(a torch function mode, which is per thread), seeded as editor.render seeds the global one, so a frame
of an edit is bit for bit the render of that edit. For the noise loop a second set of maps, from a second
seed, is mixed in as cos(2πφ)·N1 + sin(2πφ)·N2: unit variance at every phase (the model sees maps as
likely as any other), smooth in φ, and back to N1 after one turn.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from ..compose import Direction, wplus_for
from ..model import to_uint8
from ..paint import paint
from ..render import _check_finite
from .timeline import Frame

SECOND_NOISE = 0x9E3779B9  # offset of the second noise seed of a loop (any fixed odd number would do)


class Cancelled(Exception):
    """The user stopped an export; the partial output has been removed."""


class _OwnNoise(TorchFunctionMode):
    """torch.randn calls (the models' fresh noise maps) draw from this frame's own generators."""

    def __init__(self, seed: int, phase: float | None):
        super().__init__()
        self.seed, self.phase = seed, phase
        self.gens: dict[str, tuple[torch.Generator, torch.Generator | None]] = {}

    def _gens(self, device) -> tuple[torch.Generator, torch.Generator | None]:
        device = torch.device(device if device is not None else "cpu")
        key = str(device)
        if key not in self.gens:
            first = torch.Generator(device=device).manual_seed(self.seed)
            second = None
            if self.phase is not None:
                second = torch.Generator(device=device).manual_seed((self.seed + SECOND_NOISE) % 2 ** 32)
            self.gens[key] = (first, second)
        return self.gens[key]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is not torch.randn or kwargs.get("generator") is not None:
            return func(*args, **kwargs)
        first, second = self._gens(kwargs.get("device"))
        n1 = func(*args, generator=first, **kwargs)
        if second is None:
            return n1
        n2 = func(*args, generator=second, **kwargs)
        angle = 2 * math.pi * self.phase
        # At phase 0: 1.0 * n1 + 0.0 * n2 == n1 exactly, the edit's own maps.
        return n1 * math.cos(angle) + n2 * math.sin(angle)


def resize_frame(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> [size, size, 3] (Lanczos: a 1024² face shrunk stays sharp, no aliasing)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def render_frame(gen: Any, frame: Frame, directions: Mapping[str, Direction], size: int | None = None) -> np.ndarray:
    """One frame as the editor would render its edit at full resolution (painted), resized to `size`.
    The same steps as editor.render.render, with the noise drawn as described above."""
    state = frame.state
    wplus = wplus_for(state, gen, directions)
    phase = frame.noise_phase if state.noise_mode == "random" else None
    moved = gen.transformed(*state.input_transform) if hasattr(gen, "transformed") else contextlib.nullcontext()
    with _OwnNoise(state.noise_seed, phase) if state.noise_mode == "random" else contextlib.nullcontext(), moved:
        img = gen.synthesis(torch.from_numpy(wplus)[None], noise=state.noise_mode,
                            noise_strength=state.noise_strength)
    _check_finite(img)
    image = paint(to_uint8(img)[0], state.paint, state.paint_strength)
    return resize_frame(image, size) if size else image


def render_animation(gen: Any, frames: Iterable[Frame], directions: Mapping[str, Direction], size: int | None,
                     writer, progress: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None,
                     on_frame: Callable[[int, np.ndarray], None] | None = None) -> int:
    """Render every frame into `writer` (editor.motion.writers): on success the file is committed; on
    an error or `cancelled()` turning true, the partial file is removed and the exception (Cancelled)
    propagates. Returns the number of frames written."""
    frames = list(frames)
    with writer:
        for i, frame in enumerate(frames):
            if cancelled is not None and cancelled():
                raise Cancelled(f"cancelled after {i} of {len(frames)} frames")
            image = render_frame(gen, frame, directions, size)
            writer.write(image)
            if on_frame is not None:
                on_frame(i, image)
            if progress is not None:
                progress(i + 1, len(frames))
    return len(frames)
