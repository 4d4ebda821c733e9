"""Small reusable widgets: a float slider with a label, a value read-out and an optional reset."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressDialog, QSlider, QToolButton, QWidget

STEPS_PER_UNIT = 100


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
        self.slider.setRange(round(lo * STEPS_PER_UNIT), round(hi * STEPS_PER_UNIT))
        self.slider.setPageStep(STEPS_PER_UNIT // 10)
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

    def value(self) -> float:
        return self.slider.value() / STEPS_PER_UNIT

    def set_value(self, value: float) -> None:
        text = self.fmt.format(value)
        if text == self.readout.text() and round(value * STEPS_PER_UNIT) == self.slider.value():
            return  # unchanged: syncing runs on every edit, so skip needless relayout and repaint
        blocked = self.slider.blockSignals(True)
        self.slider.setValue(round(min(max(value, self.lo), self.hi) * STEPS_PER_UNIT))
        self.slider.blockSignals(blocked)
        self.readout.setText(text)

    def reset(self) -> None:
        self.set_value(self.default)
        self.valueChanged.emit(self.default)

    def _on_slider(self, raw: int) -> None:
        value = raw / STEPS_PER_UNIT
        self.readout.setText(self.fmt.format(value))
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
