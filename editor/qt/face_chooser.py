"""Which face of a photo with several: each found face shown as the aligned crop the import would fit.

A list of "face 2: 108 px wide at (463, 221)" asked the user to measure pixels; pictures need no reading.
A find the detector is unsure of says so: a badge or a printed pattern can pass its test (a mission patch
on a sleeve did), and the user sees at once that it is no face.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout

from ..measures.align import Face
from ..pipeline import shrink
from .gallery import rgb_to_qimage

THUMB = 160


class FaceChooser(QDialog):
    """Emits `chosen(index)` (into the faces given, largest first) on OK or a double click; nothing on cancel."""
    chosen = Signal(int)

    def __init__(self, parent, faces: list[tuple[Face, np.ndarray]], name: str):
        super().__init__(parent)
        self.setWindowTitle("Which face?")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{len(faces)} faces in {name}. Pick the one to import:"))
        self.list = QListWidget()
        self.list.setViewMode(QListView.IconMode)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setGridSize(QSize(THUMB + 24, THUMB + 44))
        self.list.setMovement(QListView.Static)
        self.list.setFlow(QListView.LeftToRight)
        self.list.setWrapping(True)
        self.list.setResizeMode(QListView.Adjust)
        self.list.setWordWrap(True)
        first_sure = None
        for i, (face, crop) in enumerate(faces):
            label = f"face {i + 1}" + ("\n(maybe no face)" if face.unsure else "")
            item = QListWidgetItem(QIcon(QPixmap.fromImage(rgb_to_qimage(shrink(crop, THUMB)))), label)
            item.setToolTip(f"{face.box[2] - face.box[0]} px wide at ({face.box[0]}, {face.box[1]})")
            self.list.addItem(item)
            if first_sure is None and not face.unsure:
                first_sure = i
        self.list.setCurrentRow(first_sure or 0)
        columns = min(len(faces), 4)
        rows = min(-(-len(faces) // columns), 2)  # more than 2 rows scroll
        self.list.setMinimumSize(columns * (THUMB + 24) + 28, rows * (THUMB + 44) + 8)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText("Import this face")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        layout.addWidget(buttons)

    def accept(self) -> None:
        row = self.list.currentRow()
        super().accept()
        if row >= 0:
            self.chosen.emit(row)
