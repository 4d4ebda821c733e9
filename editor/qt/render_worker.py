"""The one thread that runs the generator. The newest request wins; requests never started are dropped.

Two slots, view and gallery, each holding only its newest request; the view slot goes first, so
thumbnails never delay the face being edited. Follows Qt's Mandelbrot example: mutex + wait condition.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, Signal

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
        """Finish the render under way (if any), drop the rest, and end the thread."""
        with QMutexLocker(self._mutex):
            self._abort = True
            self._pending.clear()
            self._wake.wakeOne()
        self.wait()

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
            result = render_fn(request)
            self.rendered_stamps.append(request.stamp)
            with QMutexLocker(self._mutex):
                if self._abort:
                    return
            self.rendered.emit(result)
