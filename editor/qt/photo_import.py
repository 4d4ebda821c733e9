"""File › Import photo: pick a face in a photo and import it (editor.photo.importer: pivot, pivotal tuning,
detail maps) by a step preset, or within a time budget if asked, with an estimate of the time before it
starts, a live preview and Cancel (the best so far is kept), and use the result as source A or B: a latent
carrying its weight delta. The photo stays in memory; nothing is written until the user saves a session.

Finding the faces and the projection both run in the render scheduler's background slot
(MainWindow.run_background), never on the GUI thread; the projection pauses at its network blocks for the
view's renders: the face on screen keeps following the sliders meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel,
                               QProgressBar, QProgressDialog, QPushButton, QSpinBox, QVBoxLayout)

from ..edit import Source
from ..measures.align import PhotoError, aligned_faces
from ..photo.importer import DEFAULT, PRESETS
from .face_chooser import FaceChooser
from .gallery import rgb_to_qimage
from .widgets import dismiss_progress

PHOTO_LABEL = "photo: "  # sources made from a photo; autosave leaves edits holding one alone
THUMB = 256


class _Relay(QObject):
    """Carries progress from the background thread to the GUI thread (queued signal)."""
    step = Signal(str, int, int, float, object)
    opened = Signal(object)  # the ProjectDialog, once the faces are found


# What each preset gave on our benchmark faces (README's table; docs/photo-import.md has the measurements).
PRESET_GIVES = {"quick": "A first likeness, softer than the photo",
                "normal": "Close to the photo, the same person",
                "best": "More steps still, for a final picture"}


class ProjectDialog(QDialog):
    def __init__(self, parent, face: np.ndarray, name: str):
        super().__init__(parent)
        self.setWindowTitle(f"Project {name}")
        self.face = face  # the aligned crop this dialog fits
        self.cancelled = False
        layout = QVBoxLayout(self)
        pics = QHBoxLayout()
        self.target, self.current = QLabel(), QLabel()
        for label in (self.target, self.current):
            label.setFixedSize(THUMB, THUMB)
            label.setAlignment(Qt.AlignCenter)
            pics.addWidget(label)
        self.target.setPixmap(_pixmap(face))
        self.current.setText("…")
        layout.addLayout(pics)
        row = QHBoxLayout()
        row.addWidget(QLabel("Use as"))
        self.which = QComboBox()
        self.which.addItems(["A", "B"])
        row.addWidget(self.which)
        row.addWidget(QLabel("Mode"))
        self.mode = QComboBox()
        self.mode.addItems(["w+", "w"])
        self.mode.setToolTip("w+: closer to the photo; w: a latent that edits and mixes more like generated faces")
        row.addWidget(self.mode)
        row.addWidget(QLabel("Quality"))
        self.preset = QComboBox()
        self.preset.addItems([*PRESETS, "custom"])
        self.preset.setCurrentText(DEFAULT)
        self.preset.setToolTip("Step counts (pivot + tuning + detail): " + "; ".join(
            f"{k} {'+'.join(map(str, v.steps))}" for k, v in PRESETS.items())
            + ". The same photo gives the same face however many cores your machine has and however busy it is; "
            "a slower one only takes longer")
        row.addWidget(self.preset)
        self.steps = []
        for what, n in zip(("pivot", "tuning", "detail"), PRESETS[DEFAULT].steps):
            box = QSpinBox()
            box.setRange(0, 5000)
            box.setValue(n)
            box.setToolTip(f"custom: {what} steps")
            box.setVisible(False)
            row.addWidget(box)
            self.steps.append(box)
        self.budget = QCheckBox("Time limit")
        self.budget.setToolTip("Stop at a time instead: the result then depends on the machine, and a stage "
                               "that cannot reach its minimum steps in the time is skipped")
        row.addWidget(self.budget)
        self.seconds = QSpinBox()
        self.seconds.setRange(5, 1800)
        self.seconds.setValue(90)
        self.seconds.setSuffix(" s")
        self.seconds.setEnabled(False)
        self.seconds.setToolTip("The whole import: finding the latent, tuning the weights, the detail maps")
        row.addWidget(self.seconds)
        self.tune = QCheckBox("Tune weights")
        self.tune.setChecked(True)
        self.tune.setToolTip("Pivotal tuning: a small change to the model's weights for this face only, so hair, "
                             "eyes and background come back, then detail maps for the rest (about 4 MB, saved beside sessions)")
        row.addWidget(self.tune)
        layout.addLayout(row)
        self.costs = None  # measured on the background thread when the dialog opens
        self.estimate = QLabel("Estimating the time on this machine…")
        layout.addWidget(self.estimate)
        for signal in (self.preset.currentTextChanged, self.budget.toggled, self.seconds.valueChanged,
                       self.tune.toggled, *(b.valueChanged for b in self.steps)):
            signal.connect(self._update_estimate)
        self.bar = QProgressBar()
        self.status = QLabel("Runs on this machine; the photo is never written anywhere.")
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.start_button, self.cancel_button = QPushButton("Project"), QPushButton("Cancel")
        buttons.addStretch(1)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.cancel_button.clicked.connect(self._cancel)

    def schedule(self):
        """The step schedule chosen: a preset's, or the custom counts."""
        from ..photo.importer import Schedule
        if self.preset.currentText() in PRESETS:
            return PRESETS[self.preset.currentText()]
        return Schedule(*(b.value() for b in self.steps))

    def set_costs(self, costs) -> None:
        self.costs = costs
        self._update_estimate()

    def _update_estimate(self, *_args) -> None:
        from ..photo.importer import describe_seconds
        custom = self.preset.currentText() not in PRESETS
        for box in self.steps:
            box.setVisible(custom)
        self.seconds.setEnabled(self.budget.isChecked())
        if self.budget.isChecked():
            self.estimate.setText(f"At most about {self.seconds.value()} s; stages that do not fit are skipped, "
                                  "and the result depends on this machine's speed")
        elif self.costs is not None:
            gives = PRESET_GIVES.get(self.preset.currentText()) if self.tune.isChecked() else None
            self.estimate.setText(f"{'+'.join(map(str, self.schedule().steps))} steps: "
                                  f"{describe_seconds(self.costs.seconds(self.schedule(), self.tune.isChecked()))}"
                                  " on this machine" + (f". {gives}" if gives else ""))

    def _cancel(self) -> None:
        self.cancelled = True
        self.reject()

    def show_step(self, stage: str, step: int, steps: int, loss: float, img) -> None:
        self.bar.setMaximum(steps)
        self.bar.setValue(step)
        what = {"pivot": "finding the latent", "tuning": "tuning the weights"}.get(stage, "fitting the detail")
        self.status.setText(f"{what}: "
                            f"step {step}/{steps}  loss {loss:.3f}")
        if img is not None:
            self.current.setPixmap(_pixmap(img))


def _pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.SmoothTransformation)


class PhotoImporter:
    def __init__(self, window):
        self.w = window
        self.relay = _Relay()
        self.dialog: ProjectDialog | None = None
        self.finding = None  # the busy dialog while faces are being found
        self.chooser = None  # the "Which face?" dialog while it is open

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Import photo", self.w.files._dir(),
                                              "Photos (*.jpg *.jpeg *.png *.webp);;All files (*)")
        if path:
            self.import_photo(path)

    def import_photo(self, path: str, face_index: int | None = None) -> None:
        """Find the faces (on the background thread, with a busy dialog at once), ask which one if there
        are several, then open the projection dialog (`self.dialog`, also sent as `dialog_opened`)."""
        name = Path(path).name
        busy = QProgressDialog(f"Finding faces in {name}…", "Cancel", 0, 0, self.w)
        busy.setWindowTitle("Import photo")
        busy.setMinimumDuration(0)
        busy.show()
        self.finding = busy

        def job(_gen):
            try:
                return aligned_faces(path)
            except PhotoError as exc:  # expected: said in a message box, not a traceback
                return exc

        def done(faces, error):
            self.finding = None
            cancelled = busy.wasCanceled()
            dismiss_progress(busy)
            if cancelled:
                return
            if error or isinstance(faces, PhotoError):
                self.w.error("Cannot use photo", str(faces) if isinstance(faces, PhotoError) else f"{name}: {error}")
                return
            self._choose(faces, name, face_index)

        self.w.run_background("detect", job, done)

    def _choose(self, faces, name: str, face_index: int | None) -> None:
        if face_index is None and len(faces) > 1:  # ask with pictures (self.chooser), then go on from there
            self.chooser = chooser = FaceChooser(self.w, faces, name)
            chooser.chosen.connect(lambda i: self._open(faces[i][1], name))
            chooser.finished.connect(lambda _r: setattr(self, "chooser", None))
            chooser.open()
            return
        self._open(faces[face_index or 0][1], name)

    def _open(self, face: np.ndarray, name: str) -> None:
        self.dialog = dialog = ProjectDialog(self.w, face, name)
        dialog.start_button.clicked.connect(lambda: self._start(dialog, face, name))
        dialog.show()

        def measure(gen):  # a few steps' time, on the background thread: the estimate before it starts
            from ..photo.importer import measure_costs
            return measure_costs(gen)
        self.w.run_background("estimate", measure, lambda costs, error: costs is not None and dialog.set_costs(costs))
        self.relay.opened.emit(dialog)

    def _start(self, dialog: ProjectDialog, face: np.ndarray, name: str) -> None:
        import time

        from ..model import to_uint8
        from ..photo.importer import import_photo
        dialog.start_button.setEnabled(False)
        mode, which = dialog.mode.currentText(), dialog.which.currentText().lower()
        seconds = dialog.seconds.value() if dialog.budget.isChecked() else None
        tuning, started, schedule, costs = dialog.tune.isChecked(), time.perf_counter(), dialog.schedule(), dialog.costs
        relay = self.relay
        relay.step.connect(dialog.show_step)

        def job(gen):
            def progress(stage, step, n, loss, img):
                relay.step.emit(stage, step, n, loss, None if img is None else to_uint8(img)[0])
            from ..measures.identity import descriptor
            result = import_photo(gen, face, schedule, seconds=seconds, mode=mode, tuning=tuning, started=started,
                                  costs=costs, progress=progress, cancelled=lambda: dialog.cancelled)
            try:  # for the identity meter; kept in memory only, like the photo
                result.descriptor = descriptor(face)
            except RuntimeError:  # the identity model is not installed: no identity meter
                result.descriptor = None
            return result

        def done(result, error):
            relay.step.disconnect(dialog.show_step)
            if error:
                dialog.close()
                self.w.error("Projection failed", error)
                return
            if dialog.cancelled and result is None:
                return
            src = Source.from_latent(result.wplus, f"{PHOTO_LABEL}{name}", delta=result.delta)
            if result.descriptor is not None:
                self.w.meters.remember_photo(src, result.descriptor)
            self.w.doc.set_state(self.w.doc.state.with_source(which, src), f"Photo as {which.upper()}")
            tuned = "" if result.delta is None else f", {result.pivot_psnr_db:.1f} dB latent" + (
                f", {result.tuned_psnr_db:.1f} tuned" if result.tuned_psnr_db not in (None, result.psnr_db) else "") + \
                f", {result.psnr_db:.1f} dB in all"
            dropped = [s.line() for s in result.stages if s.why and tuning]
            self.w.statusBar().showMessage(
                f"{name}: {'+'.join(map(str, result.steps))} steps, {result.seconds:.0f} s"
                f"{tuned or f', {result.psnr_db:.1f} dB'}" + (" (stopped early)" if result.cancelled else "")
                + (f". {'; '.join(dropped)}" if dropped else ""), 20_000)
            if dropped:  # which stages did not run or were not kept, and why: said where it will be read
                self.w.statusBar().setToolTip(result.summary())
            dialog.accept()

        self.w.run_background("project", job, done)  # beside the view's renders: editing stays live

    def forget(self) -> int:
        """File › Forget photo: the edit's photo sources become seeds again, the meter drops their
        descriptors, and their delta files beside sessions this run saved or opened are deleted. Returns how
        many sources were forgotten."""
        from ..photo.delta import delta_file
        state, forgotten = self.w.doc.state, 0
        for which, seed in (("a", 0), ("b", 1)):
            src = getattr(state, f"source_{which}")
            if not src.label.startswith(PHOTO_LABEL):
                continue
            if src.delta_digest is not None:
                for folder in self.w.files.delta_folders:
                    delta_file(folder, src.delta_digest).unlink(missing_ok=True)
            self.w.meters.forget_photo(src)
            state, forgotten = state.with_source(which, Source.from_seed(seed)), forgotten + 1
        if forgotten:
            self.w.doc.set_state(state, "Forget photo")
        return forgotten
