"""Small reusable widgets: a float slider with a label, a value read-out and an optional reset."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressDialog, QSlider, QToolButton, QWidget

STEPS_PER_UNIT = 100
KEY_GESTURE_MS = 700  # arrow-key presses closer together than this are one undo step
_STEP_KEYS = {Qt.Key_Left, Qt.Key_Right, Qt.Key_Up, Qt.Key_Down, Qt.Key_PageUp, Qt.Key_PageDown, Qt.Key_Home,
              Qt.Key_End}


class FloatSlider(QWidget):
    """A QSlider over floats. `valueChanged` fires only for user moves; `set_value` is silent,
    so syncing from the document never echoes back into it."""

    valueChanged = Signal(float)
    pressed = Signal()
    released = Signal()

    def __init__(self, label: str, lo: float, hi: float, value: float = 0.0, *, default: float | None = None,
                 tooltip: str = "", fmt: str = "{:+.2f}", label_width: int = 110, parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.fmt = lo, hi, fmt
        self.default = value if default is None else default
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(label)
        self.label.setMinimumWidth(label_width)
        self.slider = QSlider(Qt.Horizontal)
        self.set_range(lo, hi)
        self.readout = QLabel()
        self.readout.setMinimumWidth(44)
        self.readout.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.reset_button = QToolButton()
        self.reset_button.setText("⟲")
        self.reset_button.setToolTip(f"Reset to {fmt.format(self.default)}")
        self.reset_button.setAutoRaise(True)
        for w in (self.label, self.slider, self.readout, self.reset_button):
            layout.addWidget(w)
        layout.setStretch(1, 1)
        if tooltip:
            self.setToolTip(tooltip)
        self.set_value(value)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderPressed.connect(self.pressed)
        self.slider.sliderReleased.connect(self.released)
        self.reset_button.clicked.connect(self.reset)
        # Keys: a run of presses is one gesture (pressed .. released), so it makes one undo step.
        self._key_gesture = QTimer(self, singleShot=True, interval=KEY_GESTURE_MS)
        self._key_gesture.timeout.connect(self.released)
        self.slider.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.slider:
            if event.type() == QEvent.MouseButtonDblClick:
                self.reset()  # double-click: back to the default, as the ⟲ button
                return True
            if event.type() == QEvent.KeyPress and event.key() in _STEP_KEYS and not self.slider.isSliderDown():
                if not self._key_gesture.isActive():
                    self.pressed.emit()
                self._key_gesture.start()
        return super().eventFilter(obj, event)

    def value(self) -> float:
        return self.slider.value() / STEPS_PER_UNIT

    def set_range(self, lo: float, hi: float) -> None:
        """New limits (e.g. once a reach is measured); the value is clamped into them without a signal."""
        self.lo, self.hi = lo, hi
        blocked = self.slider.blockSignals(True)
        self.slider.setRange(round(lo * STEPS_PER_UNIT), round(hi * STEPS_PER_UNIT))
        self.slider.blockSignals(blocked)
        # A click on the groove or PageUp/Down moves a tenth of the range; arrows a hundredth.
        span = self.slider.maximum() - self.slider.minimum()
        self.slider.setPageStep(max(1, span // 10))
        self.slider.setSingleStep(max(1, span // 100))

    def set_warning_above(self, limit: float) -> None:
        """Values past `limit` are allowed but risky: the read-out says so in colour."""
        self._warn_above = limit
        self._style_readout(self.value())

    def _style_readout(self, value: float) -> None:
        limit = getattr(self, "_warn_above", None)
        risky = limit is not None and value > limit + 1e-9
        self.readout.setStyleSheet("color: #d9822b; font-weight: bold;" if risky else "")

    def set_value(self, value: float) -> None:
        text = self.fmt.format(value)
        if text == self.readout.text() and round(value * STEPS_PER_UNIT) == self.slider.value():
            return  # unchanged: syncing runs on every edit, so skip needless relayout and repaint
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(round(min(max(value, self.lo), self.hi) * STEPS_PER_UNIT))
        self.slider.blockSignals(blocked)
        self.readout.setText(text)
        self._style_readout(value)

    def reset(self) -> None:
        self.set_value(self.default)
        self.valueChanged.emit(self.default)

    def _on_slider(self, raw: int) -> None:
        value = raw / STEPS_PER_UNIT
        self.readout.setText(self.fmt.format(value))
        self._style_readout(value)
        self.valueChanged.emit(value)


def dismiss_progress(dialog: QProgressDialog) -> bool:
    """Close a progress dialog when its work is done; returns whether the user had cancelled it.
    close() alone is wrong twice over: closing emits canceled, and the minimumDuration timer would
    show the dialog again later. reset() stops that timer."""
    cancelled = dialog.wasCanceled()
    dialog.canceled.disconnect()
    dialog.reset()
    dialog.deleteLater()
    return cancelled
