"""The window's render worker and background worker (Qt adapters over editor.pipeline.scheduler): the
latest request wins, stale results are dropped, a drag frame under way gives way to a waiting full render,
background work pauses for the view, results arrive as signals on the GUI thread, and stopping (closing the
window) ends long work at its next network block. Offscreen; nothing sleeps but the fake renders."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QCoreApplication  # noqa: E402

from editor.pipeline.scheduler import Scheduler  # noqa: E402
from editor.qt.render_worker import RenderWorker  # noqa: E402
from editor.render import RenderRequest, RenderResult  # noqa: E402

from tests.support import FAKE_STATE, LongWork  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")


# =========================================================================================== worker
class FakeRender:
    """A render fn without a model. Stamps in `block` wait on `gate` until the test opens it."""

    def __init__(self, block=()):
        self.block = set(block)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, request: RenderRequest) -> RenderResult:
        if request.stamp in self.block:
            self.entered.set()
            if not self.gate.wait(20):
                raise RuntimeError("the test never opened the gate")
        return RenderResult(request.stamp, request.kind, request.state, request.size or 8, seeds=request.seeds)


def view(stamp: int) -> RenderRequest:
    return RenderRequest(stamp, FAKE_STATE, None)


def gallery(stamp: int) -> RenderRequest:
    return RenderRequest(stamp, FAKE_STATE, 64, "gallery", (0, 1, 2))


@pytest.fixture
def fake_worker(qtbot):
    made = []

    def make(block=()):
        fn = FakeRender(block)
        worker = RenderWorker(fn)
        results: list[RenderResult] = []
        worker.rendered.connect(lambda r: results.append(r))
        made.append((fn, worker))
        return fn, worker, results

    yield make
    for fn, worker in made:
        fn.gate.set()
        worker.stop()


def test_worker_drops_the_middle_request(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)  # stamp 1 is being rendered; the worker is busy
    worker.submit(view(2))
    worker.submit(view(3))  # replaces 2, which never started
    fn.gate.set()
    qtbot.waitUntil(lambda: any(r.stamp == 3 for r in results))
    assert worker.rendered_stamps == [1, 3]
    assert [r.stamp for r in results] == [1, 3]


def test_worker_view_and_gallery_slots_are_independent(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)
    worker.submit(gallery(2))
    worker.submit(view(3))     # must not replace the gallery request
    worker.submit(gallery(4))  # replaces gallery 2 only
    fn.gate.set()
    qtbot.waitUntil(lambda: len(results) == 3)
    # The view slot goes first even though a gallery request was submitted before it.
    assert worker.rendered_stamps == [1, 3, 4]
    assert [(r.kind, r.stamp) for r in results] == [("view", 1), ("view", 3), ("gallery", 4)]
    assert results[2].seeds == (0, 1, 2)


class BlockwiseRender(FakeRender):
    """Like a network: a checkpoint between 'blocks' (here: gate polls) where a render may be stopped."""

    def __call__(self, request: RenderRequest) -> RenderResult:
        from editor.model.interrupt import checkpoint
        if request.stamp in self.block:
            self.entered.set()
            while not self.gate.wait(0.01):
                checkpoint()
        return RenderResult(request.stamp, request.kind, request.state, request.size or 8, seeds=request.seeds)


@pytest.mark.parametrize("then", ["full", "frame"])
def test_a_drag_frame_under_way_is_stopped_for_a_waiting_full_render_not_for_another_frame(qtbot, then):
    fn = BlockwiseRender(block={1})
    worker = RenderWorker(fn)
    results: list[RenderResult] = []
    worker.rendered.connect(results.append)
    try:
        worker.submit(RenderRequest(1, FAKE_STATE, 32))  # a drag frame, held at its checkpoints
        qtbot.waitUntil(fn.entered.is_set)
        worker.submit(RenderRequest(2, FAKE_STATE, None if then == "full" else 32))
        if then == "full":  # released: the frame is dropped mid-render, the full render comes at once
            qtbot.waitUntil(lambda: [r.stamp for r in results] == [2], timeout=5000)
            assert worker.stopped_stamps == [1] and worker.rendered_stamps == [2]
        else:  # still dragging: the frame under way finishes and is shown, then the next
            qtbot.wait(100)
            assert results == [] and worker.stopped_stamps == []
            fn.gate.set()
            qtbot.waitUntil(lambda: [r.stamp for r in results] == [1, 2], timeout=5000)
    finally:
        fn.gate.set()
        worker.stop()


def test_closing_stops_long_renders_and_background_jobs_at_their_next_block(qtbot):
    """A 20 s render of a big model, or a 90 s photo import, must not hold the closing window: stop() stops
    the work under way at its next network block and nothing is reported."""
    from editor.qt.background import BackgroundWorker
    work = LongWork()  # 30 s of blocks unless stopped
    worker = RenderWorker(work)
    results = []
    worker.rendered.connect(results.append)
    worker.submit(view(1))  # a full render: never stopped for frames, but stopped for closing
    qtbot.waitUntil(work.entered.is_set)
    worker.stop()
    assert work.stopped and work.done < work.blocks and worker.stopped_stamps == [1]

    work = LongWork()
    jobs = BackgroundWorker(lambda: None, Scheduler())
    reported = []
    jobs.done.connect(lambda *a: reported.append(a))
    jobs.submit("project", 1, lambda gen: work())
    qtbot.waitUntil(work.entered.is_set)
    jobs.stop()
    assert work.stopped and work.done < work.blocks
    QCoreApplication.processEvents()
    assert results == [] and reported == []


def test_worker_stop_while_rendering(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)
    worker.submit(view(2))  # pending when stop comes: must be dropped

    stopper = threading.Thread(target=worker.stop)
    stopper.start()  # stop() waits for the render under way, so it runs beside the test
    qtbot.waitUntil(lambda: worker.scheduler._stopped)  # stop() has flagged the worker and is now waiting
    assert stopper.is_alive(), "stop() returned while a render was still running"
    fn.gate.set()
    stopper.join(120)  # a liveness limit, not a speed bound: stop() returns once the render under way ends
    assert not stopper.is_alive(), "stop() did not return after the render finished"
    assert not worker.scheduler._thread.is_alive()

    QCoreApplication.processEvents()  # deliver anything the worker might have queued
    assert worker.rendered_stamps == [1]  # 2 was never rendered
    assert results == []                  # and the result of 1 was not emitted after stop

    worker.submit(view(5))  # a stopped worker ignores new work and does not start again
    QCoreApplication.processEvents()
    assert not worker.scheduler._thread.is_alive()
    assert worker.rendered_stamps == [1] and results == []




def test_results_come_as_signals_on_the_gui_thread_and_background_work_pauses_for_the_view(qtbot):
    """One scheduler thread runs the view's render inside the paused background job; the GUI thread runs
    neither, and gets both results through signals."""
    from editor.model.interrupt import checkpoint
    from editor.qt.background import BackgroundWorker
    gui = threading.get_ident()
    ran_on, received_on = [], []
    gate, entered = threading.Event(), threading.Event()

    def render_fn(request):
        ran_on.append(("view", threading.get_ident()))
        return RenderResult(request.stamp, request.kind, request.state, 8)

    def job(gen):
        ran_on.append(("job", threading.get_ident()))
        entered.set()
        while not gate.wait(0.005):
            checkpoint()
        return gen

    worker = RenderWorker(render_fn)
    background = BackgroundWorker(lambda: "the copy", worker.scheduler)
    shown, done = [], []
    worker.rendered.connect(lambda r: (shown.append(r.stamp), received_on.append(threading.get_ident())))
    background.done.connect(lambda *a: (done.append(a), received_on.append(threading.get_ident())))
    try:
        background.submit("project", 7, job)
        qtbot.waitUntil(entered.is_set)
        worker.submit(view(1))
        qtbot.waitUntil(lambda: shown == [1])  # rendered while the job is under way ...
        assert background.running == "project" and done == []  # ... which is paused, not stopped
        gate.set()
        qtbot.waitUntil(lambda: done == [(7, "the copy", None)])
    finally:
        gate.set()
        worker.stop()
    assert [what for what, _ in ran_on] == ["job", "view"]
    assert len({ident for _, ident in ran_on}) == 1 and ran_on[0][1] != gui
    assert received_on == [gui, gui]
    assert background.running is None
