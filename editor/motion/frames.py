"""Frames: a plan's edits rendered by the one render function (editor.pipeline.render_edit) at the
animation's size, so a frame of an edit is that edit's render from the app, `render` or `batch`.

For the noise loop, render_edit mixes a second set of 'random' noise maps in at each frame's phase
(cos(2πφ)·N1 + sin(2πφ)·N2: unit variance at every phase, smooth in φ, back to N1 after one turn); at phase 0
a frame is the edit's own render, bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..compose import Direction
from ..pipeline.render import SECOND_NOISE, render_edit, shrink  # noqa: F401 - SECOND_NOISE re-exported
from .timeline import Frame


class Cancelled(Exception):
    """The user stopped an export; the partial output has been removed."""


def resize_frame(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB [H, W, 3] -> [size, size, 3], as render_edit shrinks a full render."""
    return shrink(image, size)


def render_frame(gen: Any, frame: Frame, directions: Mapping[str, Direction], size: int | None = None) -> np.ndarray:
    """One frame: its edit's render at `size` (None: full), with the frame's noise phase."""
    phase = frame.noise_phase if frame.state.noise_mode == "random" else None
    return render_edit(gen, frame.state, directions, size, noise_phase=phase)


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
