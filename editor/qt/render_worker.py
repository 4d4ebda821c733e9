"""The window's side of the scheduler (editor.pipeline.scheduler): render requests in, signals out.

The scheduler's one thread runs every render and job; this QObject only names the slot of each request
(view, gallery, job:<name>) and turns deliveries, which come on that thread, into the `rendered` signal,
which Qt queues to the GUI thread. The GUI thread never runs the generator.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..model.interrupt import Superseded
from ..pipeline.scheduler import Delivery, Scheduler
from ..render import RenderRequest, RenderResult

RenderFn = Callable[[RenderRequest], RenderResult]


class RenderWorker(QObject):
    rendered = Signal(object)  # RenderResult
    started_request = Signal(int)  # stamp, for tests and the busy indicator

    def __init__(self, render_fn: RenderFn, parent=None, scheduler: Scheduler | None = None):
        super().__init__(parent)
        self.scheduler = scheduler or Scheduler()
        self._render_fn = render_fn
        self.rendered_stamps: list[int] = []  # every stamp actually rendered, for tests and stats
        self.stopped_stamps: list[int] = []  # renders stopped part-way (a drag frame for a full render; closing)

    def set_render_fn(self, render_fn: RenderFn) -> None:
        """Swap the model (e.g. after Open model); takes effect from the next request."""
        self._render_fn = render_fn

    def submit(self, request: RenderRequest) -> None:
        """request.kind names the slot: "view", "gallery" or "job:<name>"."""
        self.scheduler.submit(request.kind, lambda: self._render(request), self._deliver, request)

    def stop(self) -> None:
        """Stop the render under way at its next network block, drop the rest, and end the thread."""
        self.scheduler.stop()

    def _render(self, request: RenderRequest) -> RenderResult:  # on the scheduler's thread
        self.started_request.emit(request.stamp)
        try:
            result = self._render_fn(request)
        except Superseded:
            self.stopped_stamps.append(request.stamp)
            raise
        self.rendered_stamps.append(request.stamp)
        return result

    def _deliver(self, delivery: Delivery) -> None:  # on the scheduler's thread
        result = delivery.value
        if delivery.error is not None:  # the render function raised (editor.render's never does)
            request = delivery.tag
            result = RenderResult(request.stamp, request.kind, request.state, request.size or 0,
                                  seeds=request.seeds, error=delivery.error)
        self.rendered.emit(result)
