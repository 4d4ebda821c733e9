"""Faces A and B on their own, before any edit: thumbnails on the source panels (so the result is always
seen beside its parents) and the before/after view (hold the compare key to see A unedited).

They are rendered at full resolution on the render thread, each only when its source, ψ or the noise
change (not while mix or direction sliders move), after the face being edited: the worker serves the view
first."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..edit import EditState
from ..render import RenderRequest, render


def alone(state: EditState, which: str) -> EditState:
    """Source `which` as it is before mixing, crossbreeding, directions, locks and paint (same ψ and noise)."""
    neutral = replace(state, mix=(0.0,) * state.num_ws, directions=(), locks=(), paint="none", parents=())
    return neutral if which == "a" else replace(neutral, source_a=state.source_b)


class SourceFaces(QObject):
    changed = Signal()  # images were updated

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.images: dict[str, np.ndarray | None] = {"a": None, "b": None}
        self._keys: dict[str, tuple | None] = {"a": None, "b": None}

    def update(self, state: EditState) -> None:
        """Call after the view's request: each source is its own job of one render, so a drag that
        starts meanwhile waits for at most one render, and a new B does not re-render A."""
        for which in ("a", "b"):
            src = state.source_a if which == "a" else state.source_b
            key = (state.model_fingerprint, src, state.psi, state.noise_mode, state.noise_strength, state.noise_seed)
            if key == self._keys[which]:
                continue
            self._keys[which] = key
            s = alone(state, which)

            def job(gen, s=s) -> np.ndarray:
                result = render(gen, RenderRequest(0, s), {})
                if result.error:
                    raise RuntimeError(result.error)
                return result.images[0]

            self.w.run_job(f"source:{which}", job,
                           lambda value, error, w=which, k=key: self._done(w, k, value, error))

    def offer(self, state: EditState, image: np.ndarray) -> None:
        """The view's full render of `state`: where that is a source on its own (a fresh edit, an import just
        made), it is that source's face at once, instead of after its own job, seconds later on a busy worker."""
        for which in ("a", "b"):
            src = state.source_a if which == "a" else state.source_b
            if alone(state, which) != state:
                continue
            key = (state.model_fingerprint, src, state.psi, state.noise_mode, state.noise_strength, state.noise_seed)
            self._keys[which] = key
            self.images[which] = image
            self.changed.emit()

    def invalidate(self) -> None:
        """A new model: render the sources again at the next update."""
        self._keys = {"a": None, "b": None}

    def _done(self, which: str, key, value, error) -> None:
        if key != self._keys[which] or error or value is None:
            return  # the source changed meanwhile (the newer job follows), or a failed render (the view says why)
        self.images[which] = value
        self.changed.emit()
