"""Keep age / yaw / smile / gender hold each face (editor.directions.hold_loop): after the face settles,
the meters' reading of a locked attribute is compared with what it was before the other sliders moved, and
the locked attribute's own slider is moved to bring it back (a secant step, up to five renders). The
correction is folded into the edit step that caused it, so one undo takes back both."""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import QObject

from ..directions.hold_loop import LOOPED, Hold, next_amount
from ..edit import EditState


def only_other_directions(old: EditState, new: EditState, locked: str) -> bool:
    """The change moved direction sliders other than `locked` (or switched locks) and nothing else."""
    if replace(old, directions=(), locks=()) != replace(new, directions=(), locks=()):
        return False  # sources, mix, ψ, noise or paint changed: a new face to hold
    return old.direction_amount(locked) == new.direction_amount(locked)


class LockLoop(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.holds: dict[str, Hold] = {}
        self._prev = window.doc.state
        self._own: EditState | None = None
        window.doc.changed.connect(self._on_change)
        window.meters.measured.connect(self._on_measured)

    def _on_change(self, state: EditState) -> None:
        prev, self._prev = self._prev, state
        if state == self._own:
            return  # our own correction: the loop goes on
        for name in list(self.holds):
            if name in state.locks and only_other_directions(prev, state, name):
                if prev != state:
                    self.holds[name].steps, self.holds[name].last = 0, None  # a new move to answer
            else:
                del self.holds[name]  # a new face, or the user moved the locked slider: hold the new value

    def _on_measured(self, state: EditState, values: dict) -> None:
        doc = self.w.doc
        if state != doc.state or doc.dragging:
            return
        for name in state.locks:
            if name not in LOOPED or name not in self.w.directions:
                continue
            spec = LOOPED[name]
            measured = values.get(spec.key)
            if measured is None or not math.isfinite(measured):
                continue  # no reading (the emotion model is not installed): nothing to hold to
            hold = self.holds.get(name)
            if hold is None:
                self.holds[name] = Hold.of(name, measured)  # what this lock holds from now on
                continue
            amount = state.direction_amount(name)
            new = next_amount(hold, amount, measured, self.w.directions[name].range)
            if new is not None and abs(new - amount) >= 0.01:
                self._own = state.with_direction(name, round(new, 2))
                doc.amend(self._own, f"Keep {name}")
                digits = 2 if spec.logit else 1
                self.w.statusBar().showMessage(
                    f"Keep {name}: {name} slider {amount:+.2f} -> {new:+.2f} σ to hold {hold.target:.{digits}f}"
                    f"{spec.unit} (measured {measured:.{digits}f})", 4000)
                return  # one correction a render: the next measurement says what it did
