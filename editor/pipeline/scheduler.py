"""The one thread that runs the generator, for everyone: named slots, the newest request wins, priorities.

Every piece of model work (the view's renders, gallery thumbnails, jobs, long background work) is a request
to a named slot. A slot holds at most one waiting request: a new one replaces it (the newest wins, the
middle one never runs). Slots are ranked by the class before their first ':' (view > gallery > job >
background); the worker always starts the best-ranked waiting request, the oldest first within a class.

Running work is stopped cooperatively: the networks call `checkpoint()` between blocks
(editor.model.interrupt) and the worker's check says whether to go on. A running request stops when a newer
request of its slot waits that `supersedes` it, when the scheduler stops, or, when better-ranked work waits,
as its slot's `preempted` policy says: "requeue" (stop, wait again unless replaced meanwhile), "drop" (stop,
forget it), "pause" (run the better-ranked work right there, inside the checkpoint, then go on: a 90 s photo
import keeps its progress while the user drags) or "finish". A result is delivered (the submitter's callback,
on the worker thread) unless the scheduler stopped or a newer request of its slot supersedes it.

Qt-free and torch-free: the work is plain callables; editor.qt.render_worker turns deliveries into signals.
"""

from __future__ import annotations

import itertools
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from ..model.interrupt import Superseded, interruptible

PRIORITY = {"view": 0, "gallery": 1, "job": 2, "background": 3}  # lower starts first


def _always(newer, older) -> bool:
    return True


def full_supersedes_frame(newer, older) -> bool:
    """The view's rule, on requests with a `size` (None: full resolution). A waiting full render stops a
    drag frame under way (the slider was released: that frame would never be shown), but frames never stop
    frames, or a fast drag would show nothing at all; and a full render is never stopped for a frame."""
    return getattr(newer, "size", None) is None and getattr(older, "size", None) is not None


@dataclass(frozen=True)
class Policy:
    preempted: str = "requeue"  # "requeue", "drop", "pause" or "finish": when better-ranked work waits
    supersedes: Callable[[Any, Any], bool] = _always  # (newer tag, older tag): the older is pointless


# "pause" runs the view's renders inside the paused work's checkpoint, so that work must not hold anything
# a render needs (today: editor.photo.delta's in-place lock) and must not share the module a render writes
# into: the app's background work runs on its own copy of the model. Jobs render photo sources with their
# deltas applied, so they are requeued instead (one render or a few: cheap to redo after a drag).
DEFAULT_POLICIES = {"view": Policy("finish", full_supersedes_frame), "gallery": Policy("requeue"),
                    "job": Policy("requeue"), "background": Policy("pause")}


@dataclass
class Delivery:
    slot: str
    stamp: int             # the scheduler's own: increases with every submission
    tag: Any               # what the submitter attached (e.g. its RenderRequest)
    value: Any = None
    error: str | None = None  # "Type: message" when the work raised


@dataclass
class _Request:
    slot: str
    stamp: int
    work: Callable[[], Any]
    deliver: Callable[[Delivery], None]
    tag: Any
    policy: Policy = field(repr=False, default=Policy())
    preempted: bool = False  # stopped for better-ranked work (not for a newer request of its slot)

    @property
    def rank(self) -> int:
        return PRIORITY[self.slot.split(":", 1)[0]]


class Scheduler:
    def __init__(self, policies: dict[str, Policy] | None = None, name: str = "render"):
        self._policies = {**DEFAULT_POLICIES, **(policies or {})}
        self._cond = threading.Condition()
        self._pending: dict[str, _Request] = {}
        self._latest: dict[str, _Request] = {}  # the newest submission per slot, waiting or not
        self._running: list[_Request] = []      # a stack: paused work below, what runs now on top
        self._stamps = itertools.count(1)
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def policy(self, slot: str) -> Policy:
        return self._policies.get(slot) or self._policies[slot.split(":", 1)[0]]

    def submit(self, slot: str, work: Callable[[], Any], deliver: Callable[[Delivery], None],
               tag: Any = None) -> int | None:
        """Queue work() in `slot`, replacing the request waiting there; its Delivery goes to deliver().
        Returns the stamp, or None once stopped."""
        if slot.split(":", 1)[0] not in PRIORITY:
            raise ValueError(f"slot {slot!r}: its class must be one of {', '.join(PRIORITY)}")
        with self._cond:
            if self._stopped:
                return None
            request = _Request(slot, next(self._stamps), work, deliver, tag, self.policy(slot))
            self._pending[slot] = self._latest[slot] = request
            self._cond.notify()
            if self._thread.ident is None:  # started by the first request
                self._thread.start()
        return request.stamp

    def cancel(self, slot: str) -> None:
        """Forget the request waiting in `slot` (one under way goes on)."""
        with self._cond:
            self._pending.pop(slot, None)

    def running(self) -> list[str]:
        """The slots of the work under way, paused work first."""
        with self._cond:
            return [r.slot for r in self._running]

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._running

    def stop(self) -> None:
        """Drop waiting work, stop the work under way at its next block (nothing more is delivered), and
        join the thread."""
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join()

    # ------------------------------------------------------------------------------- worker thread
    def _take(self, below: int | None = None) -> _Request | None:
        """Pop the best-ranked waiting request (ranked better than `below`, if given). Under the lock."""
        ready = [r for r in self._pending.values() if below is None or r.rank < below]
        if not ready:
            return None
        request = min(ready, key=lambda r: (r.rank, r.stamp))
        del self._pending[request.slot]
        return request

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                request = self._take()
            self._execute(request)

    def _execute(self, request: _Request) -> None:
        with self._cond:
            self._running.append(request)
        value, error, stopped = None, None, False
        try:
            with interruptible(lambda: self._should_stop(request)):
                value = request.work()
        except Superseded:
            stopped = True
        except Exception as exc:  # noqa: BLE001 - delivered as data; the worker stays up
            traceback.print_exc()
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self._cond:
            self._running.pop()
            work, request.work = request.work, None  # _latest keeps the request: not what its work holds
            if request.preempted:  # also when the work swallowed Superseded: its result may be partial
                if request.policy.preempted == "requeue" and request.slot not in self._pending and not self._stopped:
                    request.preempted, request.work = False, work
                    self._pending[request.slot] = request
                return
            latest = self._latest[request.slot]
            stale = latest is not request and request.policy.supersedes(latest.tag, request.tag)
            if stopped or stale or self._stopped:
                return
        try:
            request.deliver(Delivery(request.slot, request.stamp, request.tag, value, error))
        except Exception:  # noqa: BLE001 - a failing receiver must not end the worker
            traceback.print_exc()

    def _should_stop(self, request: _Request) -> bool:
        """The check at each network block of `request`, on the worker thread."""
        with self._cond:
            if self._stopped:
                return True
            newer = self._pending.get(request.slot)
            if newer is not None and request.policy.supersedes(newer.tag, request.tag):
                return True
            better = any(r.rank < request.rank for r in self._pending.values())
            how = request.policy.preempted
            if not better or how == "finish":
                return False
            if how != "pause":
                request.preempted = True
                return True
        while True:  # pause: serve the better-ranked work here, then go on where this one stopped
            with self._cond:
                nested = None if self._stopped else self._take(below=request.rank)
            if nested is None:
                break
            self._execute(nested)
        with self._cond:
            newer = self._pending.get(request.slot)
            return self._stopped or (newer is not None and request.policy.supersedes(newer.tag, request.tag))
