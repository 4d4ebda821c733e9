"""A paged grid of seed thumbnails. Click: use as A. Right-click (or Ctrl+click): use as B.
The seeds that are A and B right now are framed in their colours (the source panels use the same)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

# Two narrow columns: the dock stays ~200 px wide so the face gets most of a 1024 px window.
ROWS, COLS = 6, 2
THUMB = 84
A_COLOUR, B_COLOUR = "#1a73e8", "#e8710a"


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
        self.marked: dict[str, int | None] = {"a": None, "b": None}
        layout = QVBoxLayout(self)
        hint = QLabel(f"Click: <b style='color:{A_COLOUR}'>A</b> · right-click: <b style='color:{B_COLOUR}'>B</b>")
        hint.setStyleSheet("color: gray")
        hint.setToolTip("Click a face to make it source A, right-click (or Ctrl+click) to make it source B. "
                        "The current A and B are framed in blue and orange.")
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
            t.setIcon(QIcon())
            t.setText("…")
        self._frame()
        self.page_requested.emit(seeds)

    def mark(self, seed_a: int | None, seed_b: int | None) -> None:
        """Frame the thumbnails of the current sources (None: that source is not a seed)."""
        marked = {"a": seed_a, "b": seed_b}
        if marked == self.marked:
            return  # called on every edit, drags included: restyling 12 buttons each time cost the render CPU
        self.marked = marked
        self._frame()

    def _frame(self) -> None:
        for t in self.thumbs:
            roles = [w.upper() for w in ("a", "b") if self.marked[w] == t.seed]
            colour = A_COLOUR if roles == ["A"] else B_COLOUR if roles == ["B"] else A_COLOUR if roles else None
            t.setStyleSheet(f"QToolButton {{ border: 3px solid {colour}; border-radius: 3px; }}" if colour else "")
            t.setToolTip(f"seed {t.seed}" + (f" · source {' and '.join(roles)}" if roles else ""))

    def set_thumbnails(self, seeds: tuple[int, ...], images: list[np.ndarray]) -> None:
        if tuple(seeds) != self.seeds():
            return  # a page the user already left
        for t, img in zip(self.thumbs, images):
            pix = QPixmap.fromImage(rgb_to_qimage(img)).scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                                                Qt.SmoothTransformation)
            t.setText("")
            t.setIcon(QIcon(pix))
