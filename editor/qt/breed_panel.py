"""Crossbreed: parents beyond A and B, each with a coarse / middle / fine weight (editor.breed).

Every change is an edit of the document, so it is undoable, autosaved, and saved in sessions and exports.
A slider drag is one undo step, as everywhere else.
"""

from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from .. import io
from ..breed import add_parent, remove_parent, with_parent_weight
from ..edit import MAX_PARENTS, EditState, Source
from .document import Document
from .panels import slider_gesture
from .widgets import FloatSlider


class _ParentRow(QWidget):
    def __init__(self, panel: "BreedPanel", index: int, name: str):
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        head = QHBoxLayout()
        self.label = QLabel(f"<b>Parent {index + 3}</b> · {name}")
        self.remove = QToolButton(text="✕", toolTip="Remove this parent", autoRaise=True)
        self.remove.clicked.connect(lambda: panel.remove(index))
        head.addWidget(self.label, 1)
        head.addWidget(self.remove)
        layout.addLayout(head)
        self.sliders: dict[str, FloatSlider] = {}
        for group, rows in panel.groups.items():
            tip = f"How much of this parent's {group} styles (w+ rows {rows.start}–{rows.stop - 1})"
            s = FloatSlider(group.capitalize(), 0.0, 1.0, 0.0, fmt="{:.2f}", label_width=70, tooltip=tip)
            s.setEnabled(bool(rows))
            s.valueChanged.connect(lambda v, g=group: panel.set_weight(index, g, v))
            slider_gesture(panel.doc, s)
            layout.addWidget(s)
            self.sliders[group] = s


class BreedPanel(QGroupBox):
    def __init__(self, doc: Document, groups: dict[str, range], w_dim: int, parent=None):
        super().__init__("Crossbreed · more parents", parent)
        self.doc, self.groups, self.w_dim = doc, dict(groups), w_dim
        self.setToolTip("Faces beyond A and B, each with a weight per group. A parent at 1 in a group is that "
                        "parent there; parents whose weights add up past 1 share the group.")
        layout = QVBoxLayout(self)
        add, more = QHBoxLayout(), QHBoxLayout()  # two rows: one does not fit the narrow controls dock
        self.seed = QSpinBox(minimum=0, maximum=2 ** 31 - 1, value=42)
        self.add_seed = QPushButton("Add seed")
        self.add_random = QPushButton("Add random")
        self.add_latent = QPushButton("Add latent…")
        for w in (self.seed, self.add_seed):
            add.addWidget(w)
        for w in (self.add_random, self.add_latent):
            more.addWidget(w)
        layout.addLayout(add)
        layout.addLayout(more)
        self.rows_box = QVBoxLayout()
        layout.addLayout(self.rows_box)
        self.rows: list[_ParentRow] = []
        self._shown: tuple = ()
        self.add_seed.clicked.connect(lambda: self.add(Source.from_seed(self.seed.value())))
        self.add_random.clicked.connect(lambda: self.add(Source.from_seed(random.randint(0, 99_999))))
        self.add_latent.clicked.connect(self.add_latent_dialog)

    def add(self, source: Source) -> None:
        if len(self.doc.state.parents) >= MAX_PARENTS:
            return
        self.doc.set_state(add_parent(self.doc.state, source), f"Add parent {source.display_name}")

    def add_latent_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Latent as a parent", "", "Latents (*.npz *.npy)")
        if path:
            self.add_latent_file(path)

    def add_latent_file(self, path: str) -> bool:
        try:
            w = io.load_latent(path)
            if w.shape[-1] != self.w_dim or w.shape[0] not in (1, self.doc.state.num_ws):
                raise io.FileFormatError(path, f"latent shape {w.shape}; this model needs [1, {self.w_dim}] or "
                                               f"[{self.doc.state.num_ws}, {self.w_dim}]")
        except io.FileFormatError as exc:
            self.window().statusBar().showMessage(str(exc)[:300], 10_000)
            return False
        self.add(Source.from_latent(w, Path(path).stem, path))
        return True

    def set_model(self, groups: dict[str, range], w_dim: int) -> None:
        """Another model: its groups; the rows are made anew at the next sync."""
        self.groups, self.w_dim, self._shown = dict(groups), w_dim, None
        while self.rows:  # their sliders stand for the old model's groups
            row = self.rows.pop()
            self.rows_box.removeWidget(row)
            row.hide()
            row.setParent(None)
            row.deleteLater()

    def remove(self, index: int) -> None:
        self.doc.set_state(remove_parent(self.doc.state, index), f"Remove parent {index + 3}")

    def set_weight(self, index: int, group: str, value: float) -> None:
        self.doc.set_state(with_parent_weight(self.doc.state, index, self.groups[group], value),
                           f"Parent {index + 3} {group}", merge_key=f"parent:{index}:{group}")

    def sync(self, state: EditState) -> None:
        """The rows are a view of state.parents: one row per parent, its label and sliders from the state.
        Rows are kept and relabelled, added or removed at the end, never rebuilt while shown: rebuilding all
        rows on every change left an old row's pixels under its replacement (two handles on a slider, a ✕
        that did nothing)."""
        sources = tuple(p.source for p in state.parents)
        if sources != self._shown:
            while len(self.rows) > len(sources):
                row = self.rows.pop()
                self.rows_box.removeWidget(row)
                row.hide()
                row.setParent(None)
                row.deleteLater()
            while len(self.rows) < len(sources):
                row = _ParentRow(self, len(self.rows), "")
                self.rows_box.addWidget(row)
                self.rows.append(row)
            for i, (row, s) in enumerate(zip(self.rows, sources)):
                row.label.setText(f"<b>Parent {i + 3}</b> · {s.display_name}")
            self._shown = sources
            self.update()  # the dock repaints where a row left, rather than keep its old pixels
        for row, p in zip(self.rows, state.parents):
            for group, s in row.sliders.items():
                s.set_value(p.group_value(self.groups[group]))
