"""The scheduler (editor.pipeline.scheduler) with fake work: newest wins per slot, priorities, cooperative
cancellation at network blocks (`checkpoint()`), stale results never delivered, a clean stop. No model, no
Qt; every wait is on an event (the timeouts only keep a broken scheduler from hanging the suite)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from editor.model.interrupt import checkpoint
from editor.pipeline.scheduler import Policy, Scheduler

WAIT = 20  # seconds: a guard against hanging, never an assertion on time


class Log:
    """What ran and what was delivered, in order, from the worker thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.delivered: list = []
        self.changed = threading.Condition(self.lock)

    def note(self, what: str, name: str) -> None:
        with self.changed:
            self.events.append((what, name))
            self.changed.notify_all()

    def deliver(self, delivery) -> None:
        with self.changed:
            self.delivered.append(delivery)
            self.events.append(("delivered", delivery.value))
            self.changed.notify_all()

    def wait_for(self, pred) -> None:
        with self.changed:
            assert self.changed.wait_for(pred, WAIT), f"timed out; events so far: {self.events}"

    def ran(self) -> list[str]:
        return [n for w, n in self.events if w == "ran"]


def work(log: Log, name: str, gate: threading.Event | None = None, blocks: bool = True,
         entered: threading.Event | None = None):
    """A fake render: notes its start, then waits for `gate`, calling checkpoint() between 'blocks' (or
    never, when blocks is False: it cannot be stopped part-way)."""
    def run():
        log.note("started", name)
        if entered is not None:
            entered.set()
        if gate is not None:
            while not gate.wait(0.005):
                if blocks:
                    checkpoint()
        log.note("ran", name)
        return name
    return run


@pytest.fixture
def sched():
    made = []

    def make(**kw):
        s = Scheduler(**kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def frame(size):
    return SimpleNamespace(size=size)


def test_the_middle_request_of_a_slot_is_dropped_newest_wins(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("view", work(log, "1", gate, entered=entered), log.deliver, frame(32))
    assert entered.wait(WAIT)  # 1 is under way: the worker is busy
    s.submit("view", work(log, "2"), log.deliver, frame(32))
    s.submit("view", work(log, "3"), log.deliver, frame(32))  # replaces 2, which never started
    gate.set()
    log.wait_for(lambda: ("delivered", "3") in log.events)
    assert log.ran() == ["1", "3"]
    # Frames never stop or drop frames: a fast drag shows every frame that finishes.
    assert [d.value for d in log.delivered] == ["1", "3"]
    assert s.idle()


def test_better_ranked_work_starts_first_whatever_the_order_of_submission(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("view", work(log, "busy", gate, blocks=False, entered=entered), log.deliver)
    assert entered.wait(WAIT)
    for slot in ("background:reach", "job:b", "job:a", "gallery", "view"):
        s.submit(slot, work(log, slot), log.deliver)
    gate.set()
    log.wait_for(lambda: len(log.delivered) == 6)
    # Within a class, the older request first (job:b was submitted before job:a).
    assert log.ran() == ["busy", "view", "gallery", "job:b", "job:a", "background:reach"]


def test_a_running_job_is_stopped_at_a_block_by_a_view_request_and_runs_again_after(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("job:sefa", work(log, "job", gate, entered=entered), log.deliver)
    assert entered.wait(WAIT)
    s.submit("view", work(log, "view"), lambda d: (log.deliver(d), gate.set()))
    log.wait_for(lambda: ("delivered", "job") in log.events)
    assert log.events == [("started", "job"),                   # stopped at its next block ...
                          ("started", "view"), ("ran", "view"), ("delivered", "view"),
                          ("started", "job"), ("ran", "job"), ("delivered", "job")]  # ... requeued


def test_a_slot_that_drops_forgets_work_stopped_for_a_view_request(sched):
    s, log, gate, entered = sched(policies={"job:preview": Policy("drop")}), Log(), threading.Event(), threading.Event()
    s.submit("job:preview", work(log, "job", gate, entered=entered), log.deliver)
    assert entered.wait(WAIT)
    s.submit("view", work(log, "view"), log.deliver)
    log.wait_for(lambda: ("delivered", "view") in log.events)
    gate.set()
    s.submit("view", work(log, "after"), log.deliver)  # the worker goes on to other work...
    log.wait_for(lambda: ("delivered", "after") in log.events)
    assert ("ran", "job") not in log.events and log.events.count(("started", "job")) == 1  # ...not the job


def test_background_work_pauses_for_the_view_and_goes_on_where_it_was(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    running_during_view = []
    s.submit("background:project", work(log, "import", gate, entered=entered), log.deliver)
    assert entered.wait(WAIT)

    def view():
        running_during_view.extend(s.running())
        log.note("ran", "view")
        return "view"
    s.submit("view", view, lambda d: (log.deliver(d), gate.set()))
    log.wait_for(lambda: ("delivered", "import") in log.events)
    assert log.events == [("started", "import"), ("ran", "view"), ("delivered", "view"),
                          ("ran", "import"), ("delivered", "import")]  # started once: no progress lost
    assert running_during_view == ["background:project", "view"]


def test_a_newer_request_stops_the_running_one_of_its_slot_at_a_block(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("background:project", work(log, "old", gate, entered=entered), log.deliver)
    assert entered.wait(WAIT)
    s.submit("background:project", work(log, "new"), log.deliver)
    log.wait_for(lambda: ("delivered", "new") in log.events)
    gate.set()
    assert log.ran() == ["new"] and [d.value for d in log.delivered] == ["new"]


@pytest.mark.parametrize("slot, first, then", [
    ("job:teach", None, None),     # a newer job of the name: the older's result is stale
    ("view", frame(32), frame(None)),  # a drag frame finished after the release asked for the full render
])
def test_stale_results_are_never_delivered(sched, slot, first, then):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit(slot, work(log, "old", gate, blocks=False, entered=entered), log.deliver, first)  # unstoppable
    assert entered.wait(WAIT)
    s.submit(slot, work(log, "new"), log.deliver, then)
    gate.set()
    log.wait_for(lambda: ("delivered", "new") in log.events)
    assert log.ran() == ["old", "new"]  # the old one ran to its end ...
    assert [d.value for d in log.delivered] == ["new"]  # ... and was never delivered
    assert log.delivered[0].stamp > 1 and log.delivered[0].slot == slot


def test_a_drag_frame_under_way_is_stopped_for_a_waiting_full_render(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("view", work(log, "frame", gate, entered=entered), log.deliver, frame(32))
    assert entered.wait(WAIT)
    s.submit("view", work(log, "full"), log.deliver, frame(None))
    log.wait_for(lambda: ("delivered", "full") in log.events)
    assert log.ran() == ["full"]


def test_failing_work_is_delivered_as_an_error_and_the_worker_goes_on(sched):
    s, log = sched(), Log()

    def broken():
        raise ValueError("no such seed")
    s.submit("job:x", broken, log.deliver)
    s.submit("view", work(log, "view"), log.deliver)
    log.wait_for(lambda: len(log.delivered) == 2)
    failed = next(d for d in log.delivered if d.slot == "job:x")
    assert failed.error == "ValueError: no such seed" and failed.value is None
    with pytest.raises(ValueError, match="one of view, gallery, job, background"):
        s.submit("render", broken, log.deliver)


def test_stop_stops_the_work_under_way_drops_the_rest_and_joins(sched):
    s, log, gate, entered = sched(), Log(), threading.Event(), threading.Event()
    s.submit("view", work(log, "long", gate, entered=entered), log.deliver)  # a full render: only stop stops it
    assert entered.wait(WAIT)
    s.submit("gallery", work(log, "waiting"), log.deliver)
    s.stop()  # returns once the work stopped at its next block and the thread ended
    assert not s._thread.is_alive()
    assert log.events == [("started", "long")] and log.delivered == []
    assert s.submit("view", work(log, "late"), log.deliver) is None  # stopped for good
    assert s.idle() and log.events == [("started", "long")]


def test_stop_before_anything_was_submitted_and_twice(sched):
    s = sched()
    s.stop()
    s.stop()
