"""A paged grid of seed thumbnails. Click: use as A. Right-click (or Ctrl+click): use as B."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

ROWS, COLS = 4, 3
THUMB = 112


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()  # copy: own the pixels


class _Thumb(QToolButton):
    picked = Signal(int, str)  # seed, 'a' | 'b'

    def __init__(self):
        super().__init__()
        self.seed = 0
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedSize(THUMB + 8, THUMB + 8)
        self.setAutoRaise(True)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.RightButton or event.modifiers() & Qt.ControlModifier:
            self.picked.emit(self.seed, "b")
        elif event.button() == Qt.LeftButton:
            self.picked.emit(self.seed, "a")
        super().mousePressEvent(event)


class Gallery(QWidget):
    picked = Signal(int, str)            # seed, 'a' | 'b'
    page_requested = Signal(tuple)       # the seeds to render

    def __init__(self, parent=None):
        super().__init__(parent)
        self.page = 0
        layout = QVBoxLayout(self)
        hint = QLabel("Click: use as A · right-click: use as B")
        hint.setStyleSheet("color: gray")
        layout.addWidget(hint)
        grid = QGridLayout()
        grid.setSpacing(2)
        self.thumbs: list[_Thumb] = []
        for i in range(ROWS * COLS):
            t = _Thumb()
            t.picked.connect(self.picked)
            grid.addWidget(t, i // COLS, i % COLS)
            self.thumbs.append(t)
        layout.addLayout(grid)
        nav = QHBoxLayout()
        self.prev_button, self.next_button = QToolButton(), QToolButton()
        self.prev_button.setText("◀")
        self.next_button.setText("▶")
        self.page_label = QLabel()
        self.page_label.setAlignment(Qt.AlignCenter)
        nav.addWidget(self.prev_button)
        nav.addWidget(self.page_label, 1)
        nav.addWidget(self.next_button)
        layout.addLayout(nav)
        layout.addStretch(1)
        self.prev_button.clicked.connect(lambda: self.show_page(max(0, self.page - 1)))
        self.next_button.clicked.connect(lambda: self.show_page(self.page + 1))

    def seeds(self) -> tuple[int, ...]:
        start = self.page * ROWS * COLS
        return tuple(range(start, start + ROWS * COLS))

    def show_page(self, page: int) -> None:
        self.page = page
        seeds = self.seeds()
        self.page_label.setText(f"seeds {seeds[0]}–{seeds[-1]}")
        self.prev_button.setEnabled(page > 0)
        for t, s in zip(self.thumbs, seeds):
            t.seed = s
            t.setToolTip(f"seed {s}")
            t.setIcon(QIcon())
            t.setText("…")
        self.page_requested.emit(seeds)

    def set_thumbnails(self, seeds: tuple[int, ...], images: list[np.ndarray]) -> None:
        if tuple(seeds) != self.seeds():
            return  # a page the user already left
        for t, img in zip(self.thumbs, images):
            pix = QPixmap.fromImage(rgb_to_qimage(img)).scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                                                Qt.SmoothTransformation)
            t.setText("")
            t.setIcon(QIcon(pix))
