"""The one thread that runs the generator. The newest request wins; requests never started are dropped.

Two slots, view and gallery, each holding only its newest request; the view slot goes first, so
thumbnails never delay the face being edited. Follows Qt's Mandelbrot example: mutex + wait condition.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, Signal

from ..model.interrupt import Superseded, interruptible
from ..render import RenderRequest, RenderResult

RenderFn = Callable[[RenderRequest], RenderResult]


class RenderWorker(QThread):
    rendered = Signal(object)  # RenderResult
    started_request = Signal(int)  # stamp, for tests and the busy indicator

    def __init__(self, render_fn: RenderFn, parent=None):
        super().__init__(parent)
        self._render_fn = render_fn
        self._mutex = QMutex()
        self._wake = QWaitCondition()
        self._pending: dict[str, RenderRequest] = {}
        self._abort = False
        self.rendered_stamps: list[int] = []  # every stamp actually rendered, for tests and stats
        self.stopped_stamps: list[int] = []  # drag frames stopped part-way for a full render

    def set_render_fn(self, render_fn: RenderFn) -> None:
        """Swap the model (e.g. after Open model); takes effect from the next request."""
        with QMutexLocker(self._mutex):
            self._render_fn = render_fn

    def submit(self, request: RenderRequest) -> None:
        with QMutexLocker(self._mutex):
            if self._abort:
                return  # stopped for good: the window is closing
            self._pending[request.kind] = request  # replaces an older, never-started one
            self._wake.wakeOne()
        if not self.isRunning():
            self.start()

    def stop(self) -> None:
        """Stop the render under way at its next network block, drop the rest, and end the thread."""
        with QMutexLocker(self._mutex):
            self._abort = True
            self._pending.clear()
            self._wake.wakeOne()
        self.wait()

    def _superseded_check(self, request: RenderRequest):
        """A drag frame (a view render below full size) is stopped between network blocks once a full
        render of the view waits: the slider was released or rested, so the frame would never be shown.
        Frames are never stopped for other frames, or a fast drag would show nothing at all. Any render
        stops once the worker is stopped (the window is closing: a 20 s render of a big model must not hold
        it open)."""
        if request.kind != "view" or request.size is None:
            return lambda: self._abort

        def check() -> bool:
            waiting = self._pending.get("view")  # a dict read under the GIL: no lock needed to peek
            return self._abort or (waiting is not None and waiting.size is None)
        return check

    def run(self) -> None:
        while True:
            with QMutexLocker(self._mutex):
                while not self._pending and not self._abort:
                    self._wake.wait(self._mutex)
                if self._abort:
                    return
                kind = "view" if "view" in self._pending else next(iter(self._pending))
                request = self._pending.pop(kind)
                render_fn = self._render_fn
            self.started_request.emit(request.stamp)
            try:
                with interruptible(self._superseded_check(request)):
                    result = render_fn(request)
            except Superseded:
                self.stopped_stamps.append(request.stamp)
                continue
            self.rendered_stamps.append(request.stamp)
            with QMutexLocker(self._mutex):
                if self._abort:
                    return
            self.rendered.emit(result)
