"""File › Export animation…: a morph, sweep, seed walk or noise loop of the current edit, with a live
preview, progress and cancel.

The frames render on a thread of the dialog's own (`AnimationJob`), never on the GUI thread and never on
the window's render worker: that one keeps serving the face being edited, so editing goes on while an
export runs. A job takes a snapshot of the edit, the generator and the directions when it starts; later
edits do not change an export under way. The dialog is modeless; closing it leaves an export running
(the status bar says when it is written), closing the window cancels it.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout)

from ..edit import EditState, Source
from ..model.interrupt import Superseded, interruptible
from ..motion import timeline
from ..motion.frames import Cancelled, render_animation
from ..motion.writers import open_writer
from .gallery import rgb_to_qimage

KINDS = {"morph": "Morph A → B", "sweep": "Sweep a direction or slider", "walk": "Seed walk (loop)",
         "noise": "Noise loop"}
PREVIEW_FRAMES = 12
PREVIEW_SIZE = 192


class _Frames:
    """A writer that keeps nothing: the preview only shows frames as they come."""

    def write(self, rgb):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class AnimationJob(QThread):
    """Plans and renders one animation (an export to `path`, or a preview when path is None)."""

    frame_ready = Signal(int, object)  # index, uint8 [H, W, 3]
    progress = Signal(int, int)
    done = Signal(str)                 # a summary for the status bar
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, gen, directions: dict, make_plan: Callable, size: int, fps: float, path: str | None,
                 parent=None):
        super().__init__(parent)
        self.gen, self.directions, self.make_plan = gen, dict(directions), make_plan
        self.size, self.fps, self.path = size, fps, path
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            frames = self.make_plan(self.gen)
            if self.path is None:  # a preview: the export's own frames, a dozen of them spread over it
                step = max(1, math.ceil(len(frames) / PREVIEW_FRAMES))
                frames = frames[::step]
            writer = _Frames() if self.path is None else open_writer(self.path, self.size, self.fps)
            # Cancel (or closing the window) stops the frame under way at its next network block too: a
            # frame of a big model on the CPU takes seconds. The writer removes the partial file either way.
            with interruptible(self._stop.is_set):
                n = render_animation(self.gen, frames, self.directions, self.size, writer,
                                     progress=lambda i, total: self.progress.emit(i, total),
                                     cancelled=self._stop.is_set,
                                     on_frame=lambda i, image: self.frame_ready.emit(i, image))
            what = "Preview" if self.path is None else f"Exported {self.path}"
            self.done.emit(f"{what}: {n} frames, {self.size}² in {time.perf_counter() - t0:.0f} s")
        except (Cancelled, Superseded):
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - reported in the dialog; the app stays up
            self.failed.emit(f"{type(exc).__name__}: {str(exc)[:400]}")


class AnimationDialog(QDialog):
    job_started = Signal(object)  # AnimationJob, for tests

    def __init__(self, window):
        super().__init__(window)
        self.w = window
        self.setWindowTitle("Export animation")
        self.job: AnimationJob | None = None
        self._preview: list[QPixmap] = []
        self._play = QTimer(self, interval=1000 // 12)
        self._play.timeout.connect(self._next_preview)
        self._shown = 0

        self.kind = QComboBox()
        for key, text in KINDS.items():
            self.kind.addItem(text, key)
        # Each kind's own rows live in the one form, shown for that kind only: nested in a stack of pages
        # they had a label column of their own and the tallest page's height under every kind.
        self.kind_rows = [self._morph_rows(), self._sweep_rows(), self._walk_rows(), self._noise_rows()]

        self.frames = QSpinBox(minimum=1, maximum=10_000, value=48)
        self.fps = QDoubleSpinBox(minimum=1, maximum=120, value=24, decimals=1)
        self.size = QSpinBox(minimum=16, maximum=window.gen.resolution, value=min(512, window.gen.resolution),
                             singleStep=2)
        self.size.setToolTip("Frames are rendered at full resolution, then resized; MP4 needs an even size")
        self.easing = QComboBox()
        self.easing.addItems(list(timeline.EASINGS))
        self.easing.setCurrentText("ease-in-out")
        common = QFormLayout()
        common.addRow("Animation", self.kind)
        for rows in self.kind_rows:
            for label, widget in rows:
                common.addRow(label, widget)
        self.form = common
        self.kind.currentIndexChanged.connect(self._show_kind_rows)
        self._show_kind_rows(self.kind.currentIndex())
        common.addRow("Frames", self.frames)
        common.addRow("Frames a second", self.fps)
        common.addRow("Size (px)", self.size)
        common.addRow("Easing", self.easing)

        self.picture = QLabel("Preview shows a dozen of the frames here, played in a loop")
        self.picture.setFixedSize(PREVIEW_SIZE, PREVIEW_SIZE)
        self.picture.setWordWrap(True)
        self.picture.setAlignment(Qt.AlignCenter)
        self.picture.setStyleSheet("QLabel { background: #202124; color: #bdc1c6; }")  # the view's colours
        self.bar = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.preview_button = QPushButton("Preview")
        self.export_button = QPushButton("Export…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.preview_button.clicked.connect(self.preview)
        self.export_button.clicked.connect(self.export_dialog)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        for b in (self.preview_button, self.export_button, self.cancel_button):
            buttons.addWidget(b)
        layout = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addLayout(common)
        left.addLayout(buttons)
        left.addWidget(self.bar)
        left.addWidget(self.status)
        layout.addLayout(left)
        layout.addWidget(self.picture, 0, Qt.AlignTop)

    # ---------------------------------------------------------------------------------- each kind's rows
    def _show_kind_rows(self, index: int) -> None:
        for i, rows in enumerate(self.kind_rows):
            for _label, widget in rows:
                self.form.setRowVisible(widget, i == index)
        self.adjustSize()

    def _morph_rows(self) -> list:
        self.order = QComboBox()
        self.order.addItems(list(timeline.MORPH_ORDERS))
        self.order.setToolTip("coarse-first: pose and shape, then features, then colour and texture")
        self.morph_loop = QCheckBox("there and back (A → B → A)")
        return [("Order", self.order), ("", self.morph_loop)]

    def _sweep_rows(self) -> list:
        self.target = QComboBox()
        self.sweep_from = QDoubleSpinBox(minimum=-20, maximum=20, decimals=2, singleStep=0.1)
        self.sweep_to = QDoubleSpinBox(minimum=-20, maximum=20, decimals=2, singleStep=0.1)
        self.sweep_loop = QCheckBox("there and back")
        self.target.currentTextChanged.connect(self._target_changed)
        return [("Direction or slider", self.target), ("From", self.sweep_from), ("To", self.sweep_to),
                ("", self.sweep_loop)]

    def _walk_rows(self) -> list:
        self.walk_seeds = QLineEdit()
        self.walk_seeds.setPlaceholderText("seeds, e.g. 1, 2, 3 (empty: sources A and B)")
        self.walk_space = QComboBox()
        self.walk_space.addItems(["z", "w"])
        self.walk_space.setToolTip("z: great circles between the seeds' z; w: a smooth spline through their w "
                                   "(latents and photos need w)")
        return [("Keyframes", self.walk_seeds), ("Space", self.walk_space)]

    def _noise_rows(self) -> list:
        self.noise_strength = QDoubleSpinBox(minimum=0, maximum=5, value=1.0, decimals=2, singleStep=0.1)
        return [("Noise strength", self.noise_strength)]

    def showEvent(self, event) -> None:
        self.refresh_targets()
        super().showEvent(event)

    def refresh_targets(self) -> None:
        current = self.target.currentText()
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItems([*sorted(self.w.directions), *timeline.SLIDERS])
        self.target.blockSignals(False)
        self.target.setCurrentText(current if current else self.target.itemText(0))
        self._target_changed(self.target.currentText())

    def _target_changed(self, name: str) -> None:
        if not name:
            return
        _, (lo, hi) = timeline.slider_setter(name, self.w.directions, self.w.gen.layer_groups)
        self.sweep_from.setValue(lo)
        self.sweep_to.setValue(hi)

    # ---------------------------------------------------------------------------------- plans
    def plan_maker(self) -> Callable:
        """A function gen -> frames for the current settings and edit, run on the job's thread."""
        kind, state, n = self.kind.currentData(), self.w.doc.state, self.frames.value()
        easing, groups, directions = self.easing.currentText(), dict(self.w.gen.layer_groups), dict(self.w.directions)
        if kind == "morph":
            order, loop = self.order.currentText(), self.morph_loop.isChecked()
            return lambda gen: timeline.morph(state, groups, n, easing, order, loop)
        if kind == "sweep":
            target, lo, hi, loop = (self.target.currentText(), self.sweep_from.value(), self.sweep_to.value(),
                                    self.sweep_loop.isChecked())
            return lambda gen: timeline.sweep(state, target, directions, groups, n, lo, hi, easing, loop)
        if kind == "walk":
            keys = self._walk_keys(state)
            space = self.walk_space.currentText()
            return lambda gen: timeline.seed_walk(state, keys, gen, n, space, easing)
        strength = self.noise_strength.value()
        return lambda gen: timeline.noise_loop(state, n, strength)

    def _walk_keys(self, state: EditState) -> list[Source]:
        text = self.walk_seeds.text().replace(",", " ").split()
        try:
            return [Source.from_seed(int(t)) for t in text] if text else [state.source_a, state.source_b]
        except ValueError as exc:
            raise ValueError(f"keyframes must be seeds (0 .. 2³²-1): {exc}") from None

    # ---------------------------------------------------------------------------------- running
    def preview(self) -> None:
        self._start(None, PREVIEW_SIZE)

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export animation", self.w.files._dir(),
                                              "MP4 video (*.mp4);;GIF (*.gif)")
        if path:
            self.export_to(path if Path(path).suffix else path + ".mp4")

    def export_to(self, path: str) -> None:
        self._start(path, self.size.value())

    def _start(self, path: str | None, size: int) -> None:
        if self.job is not None and self.job.isRunning():
            self.status.setText("An animation is already being rendered; cancel it first.")
            return
        try:
            make_plan = self.plan_maker()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        # The model the view shows: renders never write into it (photo deltas are per-call inputs).
        gen = self.w.blend_gen if self.w.blend_gen is not None else self.w.gen
        self.job = AnimationJob(gen, self.w.directions, make_plan, size, self.fps.value(), path, self)
        self.job.frame_ready.connect(self._on_frame)
        self.job.progress.connect(lambda i, n: (self.bar.setMaximum(n), self.bar.setValue(i)))
        self.job.done.connect(self._on_done)
        self.job.failed.connect(lambda msg: self._finished(f"Failed: {msg}"))
        self.job.cancelled.connect(lambda: self._finished("Cancelled; nothing was written."))
        self._preview, self._shown = [], 0
        self._play.stop()
        self.bar.setValue(0)
        self.status.setText("Rendering the preview…" if path is None else f"Exporting {path}…")
        self.cancel_button.setEnabled(True)
        self.preview_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.job.start()
        self.job_started.emit(self.job)

    def _on_frame(self, index: int, image: np.ndarray) -> None:
        pixmap = QPixmap.fromImage(rgb_to_qimage(image)).scaled(PREVIEW_SIZE, PREVIEW_SIZE)
        if len(self._preview) < 4 * PREVIEW_FRAMES:
            self._preview.append(pixmap)
        self.picture.setPixmap(pixmap)  # live: each frame as it is rendered

    def _on_done(self, message: str) -> None:
        self._finished(message)
        if self.job is not None and self.job.path:
            self.w.files._remember(self.job.path)
            self.w.statusBar().showMessage(message, 5000)
        if self._preview:
            self._play.setInterval(max(20, round(1000 / self.fps.value())))
            self._play.start()

    def _finished(self, message: str) -> None:
        self.status.setText(message)
        self.cancel_button.setEnabled(False)
        self.preview_button.setEnabled(True)
        self.export_button.setEnabled(True)

    def _next_preview(self) -> None:
        if self._preview:
            self._shown = (self._shown + 1) % len(self._preview)
            self.picture.setPixmap(self._preview[self._shown])

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def stop(self) -> None:
        """Cancel and wait for the job (the window is closing): at most the frame under way."""
        self._play.stop()
        if self.job is not None:
            self.job.cancel()
            self.job.wait()


def open_animation_dialog(window) -> AnimationDialog:
    """The window's one animation dialog, made on first use."""
    dialog = getattr(window, "animation_dialog", None)
    if dialog is None:
        dialog = window.animation_dialog = AnimationDialog(window)
    dialog.show()
    dialog.raise_()
    return dialog
