"""Long model work (measuring reaches, finding faces, projecting photos) on the render scheduler, behind
the view: slot "background:<name>", ranked last. When the view asks for a render, the work pauses at its
next network block, the render runs there, and the work goes on where it was (editor.pipeline.scheduler):
a 90 s photo import keeps its progress while the user drags, and never competes with a render for the
cores. The work runs on its own copy of the model (`gen_of`), so renders that change the shared one in
place for a moment (photo deltas) never disturb it.

A job submitted under a name replaces one of that name still waiting (the newest wins; a running one is
stopped at its next block and its result dropped), and `cancel(name)` drops a waiting one. Results come back
on the GUI thread through `done`.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from ..pipeline.scheduler import Scheduler

BACKGROUND_NICE = 10
SLOT = "background:"


class BackgroundWorker(QObject):
    done = Signal(int, object, object)  # stamp, value, error (str or None)

    def __init__(self, gen_of: Callable[[], Any], scheduler: Scheduler, parent=None):
        super().__init__(parent)
        self._gen_of = gen_of
        self.scheduler = scheduler

    def submit(self, name: str, stamp: int, job: Callable) -> None:
        # A job that needs no gradients says so (torch.no_grad); the model copy is made on the worker.
        self.scheduler.submit(SLOT + name, lambda: job(self._gen_of()),
                              lambda d: self.done.emit(stamp, d.value, d.error), stamp)

    def cancel(self, name: str) -> None:
        self.scheduler.cancel(SLOT + name)

    @property
    def running(self) -> str | None:
        """The name of the background job under way (paused for a render included), or None."""
        names = [s.removeprefix(SLOT) for s in self.scheduler.running() if s.startswith(SLOT)]
        return names[-1] if names else None

    def stop(self) -> None:
        """Stops the scheduler it shares with the render worker (the window is closing)."""
        self.scheduler.stop()


def lower_priority() -> None:
    """Nice this thread (and the OpenMP threads it will start) so the view's renders come first."""
    import os
    import threading
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):  # not Linux (setpriority there acts on the whole process): leave it
        pass
