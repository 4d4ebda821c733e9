"""Edit › Variations…: eight children around the current face, click one to adopt it, a history strip of
the faces adopted to go back to.

A child is the current face (A, B and every parent, crossbred, truncated, before directions) moved
*How different* of the way towards a random face of the model in the chosen groups (editor.breed), so it
stays a plausible face. The children and their thumbnails are computed as a job on the render worker (the
GUI thread never runs the generator). Adopting is an ordinary edit: undo takes it back.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QToolButton,
                               QVBoxLayout)

from ..breed import adopt, variation_steps, variations
from ..compose import wplus_for
from ..edit import EditState
from ..render import RenderRequest, render
from .gallery import rgb_to_qimage
from .widgets import FloatSlider

THUMB = 160
HISTORY_THUMB = 64
CHILDREN = 8


def _children_job(state: EditState, directions: dict, groups: list[range], amount: float, seed: int, label: str):
    """job(gen) -> (child states, thumbnails of the current face then each child)."""
    def job(gen):
        base_w = wplus_for(state.without_directions(), gen, directions)
        targets = variation_steps(gen, state.psi, CHILDREN, seed)
        children = [adopt(state, w, f"{label} {seed}.{i + 1}") for i, w in
                    enumerate(variations(base_w, targets, groups, amount))]
        size = 256 if 256 in gen.preview_sizes else None
        images = []
        for s in (state, *children):
            result = render(gen, RenderRequest(0, s, size), directions)
            if result.error:
                raise RuntimeError(result.error)
            images.append(result.images[0])
        return children, images
    return job


class VariationsDialog(QDialog):
    children_shown = Signal()  # for tests

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.setWindowTitle("Variations")
        self._seeds = itertools.count(1)
        self.children: list[EditState] = []
        self.history: list[EditState] = []
        self.groups = {name: QCheckBox(name.capitalize()) for name in ("coarse", "middle", "fine")}
        self.groups["middle"].setChecked(True)
        self.groups["fine"].setChecked(True)
        self.amount = FloatSlider("How different", 0.0, 1.0, 0.35, fmt="{:.2f}",
                                  tooltip="0 = the same face; 1 = a random face in the chosen groups")
        self.new_button = QPushButton("New variations")
        self.new_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        for box in self.groups.values():
            box.toggled.connect(lambda _=False: self.refresh())
            top.addWidget(box)
        top.addWidget(self.new_button)
        self.amount.released.connect(self.refresh)
        self.amount.reset_button.clicked.connect(self.refresh)

        grid = QGridLayout()
        self.buttons: list[QToolButton] = []
        cells = [(r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1)]
        for i, (r, c) in enumerate(cells):
            b = QToolButton(iconSize=QSize(THUMB, THUMB), toolTip="Adopt this face", autoRaise=True)
            b.clicked.connect(lambda _=False, k=i: self.adopt(k))
            grid.addWidget(b, r, c)
            self.buttons.append(b)
        self.centre = QLabel("current face")
        self.centre.setFixedSize(THUMB, THUMB)
        grid.addWidget(self.centre, 1, 1)
        self.status = QLabel()
        self.strip = QHBoxLayout()
        self.adopted = QLabel("Adopted:")
        self.adopted.hide()  # until a face is adopted: a bare "Adopted:" read as something missing
        self.strip.addWidget(self.adopted)
        self.strip.addStretch(1)
        self.history_buttons: list[QToolButton] = []
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.amount)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addLayout(self.strip)

    def chosen_rows(self) -> list[range]:
        return [self.w.gen.layer_groups[n] for n, box in self.groups.items() if box.isChecked()]

    def refresh(self) -> None:
        """New children around the face being edited now."""
        rows = self.chosen_rows()
        if not rows:
            self.status.setText("Choose at least one group to vary.")
            return
        from .photo_import import PHOTO_LABEL
        state = self.w.doc.state
        photo = any(s.label.startswith(PHOTO_LABEL) for s in (state.source_a, state.source_b,
                                                               *(p.source for p in state.parents)))
        # A child of a photo is still that person: keep the label that keeps it out of autosave.
        label = f"{PHOTO_LABEL}variation" if photo else "variation"
        self.status.setText("Rendering variations…")
        self.w.run_job("variations", _children_job(state, dict(self.w.directions), rows, self.amount.value(),
                                                   next(self._seeds), label), self._shown)

    def _shown(self, value, error) -> None:
        if error:
            self.status.setText(f"Variations failed: {error[:300]}")
            return
        self.children, images = value
        self.centre.setPixmap(QPixmap.fromImage(rgb_to_qimage(images[0])).scaled(THUMB, THUMB))
        for b, image in zip(self.buttons, images[1:]):
            b.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(image))))
        self.status.setText("Click a face to adopt it (undo takes it back).")
        self.children_shown.emit()

    def adopt(self, index: int) -> None:
        if index >= len(self.children):
            return
        before = self.w.doc.state
        if not self.history:
            self._remember(before, self.centre.pixmap())
        self.w.doc.set_state(self.children[index], "Adopt variation")
        self._remember(self.children[index], self.buttons[index].icon().pixmap(THUMB, THUMB))
        self.refresh()

    def _remember(self, state: EditState, pixmap: QPixmap) -> None:
        b = QToolButton(iconSize=QSize(HISTORY_THUMB, HISTORY_THUMB), autoRaise=True,
                        toolTip="Go back to this face")
        if pixmap is not None and not pixmap.isNull():
            b.setIcon(QIcon(pixmap))
        k = len(self.history)
        self.history.append(state)
        b.clicked.connect(lambda _=False: self.go_back(k))
        self.strip.insertWidget(self.strip.count() - 1, b)
        self.adopted.show()
        self.history_buttons.append(b)

    def go_back(self, index: int) -> None:
        self.w.doc.set_state(self.history[index], "Back to an adopted face")
        self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()


def open_variations(window) -> VariationsDialog:
    dialog = getattr(window, "variations_dialog", None)
    if dialog is None:
        dialog = window.variations_dialog = VariationsDialog(window)
    dialog.show()
    dialog.raise_()
    return dialog
