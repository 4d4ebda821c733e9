"""The open document: the current immutable `EditState` and its undo history.

Widgets never own edit values: they call `set_state` and follow `changed`. A slider drag is one undo
step: commands with the same merge key inside one gesture (press .. release) merge into one.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..edit import EditState

_MERGE_ID = 1  # every mergeable command shares one Qt id; mergeWith compares the keys


class _StateCommand(QUndoCommand):
    def __init__(self, doc: "Document", old: EditState, new: EditState, text: str,
                 merge_key: str | None, gesture: int):
        super().__init__(text)
        self.doc, self.old, self.new = doc, old, new
        self.merge_key, self.gesture = merge_key, gesture

    def id(self) -> int:
        return _MERGE_ID if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, _StateCommand):
            return False
        if other.merge_key != self.merge_key or other.gesture != self.gesture:
            return False
        self.new = other.new
        self.setObsolete(self.new == self.old)  # a drag back to where it began leaves no undo step
        return True

    def redo(self) -> None:
        self.doc._apply(self.new)

    def undo(self) -> None:
        self.doc._apply(self.old)


class Document(QObject):
    changed = Signal(object)  # the new EditState

    def __init__(self, state: EditState, parent=None):
        super().__init__(parent)
        self._state = state
        self.undo_stack = QUndoStack(self)
        self._gesture = 0
        self.dragging = False

    @property
    def state(self) -> EditState:
        return self._state

    def begin_gesture(self) -> None:
        """A slider was pressed: every change until `end_gesture` is one undo step."""
        self._gesture += 1
        self.dragging = True

    def end_gesture(self) -> None:
        self.dragging = False
        self._gesture += 1
        self.changed.emit(self._state)  # listeners may now do the work they skip mid-drag

    def set_state(self, new: EditState, text: str = "Edit", merge_key: str | None = None) -> None:
        if new == self._state:
            return
        if merge_key is None or not self.dragging:
            self._gesture += 1  # keyboard steps and clicks are steps of their own
        self.undo_stack.push(_StateCommand(self, self._state, new, text, merge_key, self._gesture))

    def amend(self, new: EditState, text: str = "Edit") -> None:
        """Fold a consequence of the last step into it (a lock's correction after a gender drag): one undo
        goes back past both. If the last step is not what is on screen (after an undo), a step of its own."""
        if new == self._state:
            return
        i = self.undo_stack.index()
        top = self.undo_stack.command(i - 1) if i > 0 else None
        if isinstance(top, _StateCommand) and top.new == self._state and not self.dragging:
            top.new = new
            self._apply(new)
        else:
            self.set_state(new, text)

    def reset(self, state: EditState) -> None:
        """A new document (opened file, new model): history starts again."""
        self.undo_stack.clear()
        self._apply(state)

    def _apply(self, state: EditState) -> None:
        self._state = state
        self.changed.emit(state)
