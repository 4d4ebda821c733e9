"""Long model work beside the render worker, never in front of it: measuring reaches, projecting photos.

The render worker must answer a slider within one render, so work that takes seconds to minutes runs here
instead, on a thread whose scheduling priority is lowered (Linux `nice` per thread, inherited by the
OpenMP threads it starts): when the view renders it gets the cores first, and this work takes what is left.
(Not `torch.set_num_threads(1)` here: on this torch build it also changes the default for every thread
started later, so the next render worker would run on one core.) Inference on the shared generator from
two threads is safe: nothing here writes its weights.

Jobs have names; a job submitted under a name replaces one of that name still waiting (the newest wins),
and `cancel(name)` drops a waiting one. Results come back on the GUI thread through `done`.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, Signal

from ..model.interrupt import Superseded, interruptible

BACKGROUND_NICE = 10


class BackgroundWorker(QThread):
    done = Signal(int, object, object)  # stamp, value, error (str or None)

    def __init__(self, gen_of: Callable[[], Any], parent=None):
        super().__init__(parent)
        self._gen_of = gen_of
        self._mutex, self._wake = QMutex(), QWaitCondition()
        self._pending: dict[str, tuple[int, Callable]] = {}
        self._abort = False
        self.running: str | None = None

    def submit(self, name: str, stamp: int, job: Callable) -> None:
        with QMutexLocker(self._mutex):
            if self._abort:
                return
            self._pending[name] = (stamp, job)
            self._wake.wakeOne()
        if not self.isRunning():
            self.start(QThread.LowPriority)

    def cancel(self, name: str) -> None:
        with QMutexLocker(self._mutex):
            self._pending.pop(name, None)

    def idle(self) -> bool:
        with QMutexLocker(self._mutex):
            return not self._pending and self.running is None

    def stop(self) -> None:
        with QMutexLocker(self._mutex):
            self._abort = True
            self._pending.clear()
            self._wake.wakeOne()
        self.wait()

    def run(self) -> None:
        lower_priority()
        while True:
            with QMutexLocker(self._mutex):
                while not self._pending and not self._abort:
                    self._wake.wait(self._mutex)
                if self._abort:
                    return
                name = next(iter(self._pending))
                stamp, job = self._pending.pop(name)
                self.running = name
            value, error = None, None
            try:
                # Closing the window stops a long job (a 90 s photo import) at its next network block,
                # instead of freezing the closing window until it ends.
                with interruptible(lambda: self._abort):
                    value = job(self._gen_of())  # a job that needs no gradients says so (torch.no_grad)
            except Superseded:
                pass  # stopped for good: nothing to report
            except Exception as exc:  # noqa: BLE001 - reported to the user, the app stays up
                traceback.print_exc()
                error = f"{type(exc).__name__}: {exc}"[:500]
            with QMutexLocker(self._mutex):
                self.running = None
                if self._abort:
                    return
            self.done.emit(stamp, value, error)



def lower_priority() -> None:
    """Nice this thread (and the OpenMP threads it will start) so the view's renders come first."""
    import os
    import threading
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):  # not Linux (setpriority there acts on the whole process): leave it
        pass
