"""Blend with a second model of the same architecture (layer swapping): the panel and its wiring.

The style model is loaded off the GUI thread like any model; the blended generator is built as a job on
the render thread (it copies the network, which must not race a render), then the window renders with it.
Settings changes are debounced so a slider drag builds one blend, not thirty.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..model.blend import BlendError, BlendSettings, blend, check_compatible, swap_resolutions
from .widgets import FloatSlider

DEBOUNCE_MS = 150


class BlendPanel(QGroupBox):
    def __init__(self, window, parent=None):
        super().__init__("Blend with a second model", parent)
        self.w = window
        self.style_gen = None
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self._build)
        layout = QVBoxLayout(self)
        self.status = QLabel("Load a model of painted portraits with the same architecture as this one (e.g. "
                             "MetFaces beside FFHQ) to render this face in its style.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.load_button = QPushButton("Load style model…")
        self.load_button.clicked.connect(self.load_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        row.addWidget(self.load_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addLayout(row)
        # The settings stay folded away until a style model is loaded: disabled controls only take room.
        self.details = QWidget()
        details = QVBoxLayout(self.details)
        details.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Fine layers from"))
        self.fine_from = QComboBox()
        self.fine_from.addItem("the style model", "style")
        self.fine_from.addItem("this model", "base")
        self.fine_from.setToolTip("Fine layers set texture and colour, coarse ones pose and face shape")
        row.addWidget(self.fine_from, 1)
        details.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Fine means layers from"))
        self.swap_at = QComboBox()
        self.swap_at.setToolTip("Layers at this resolution and above are the fine ones")
        row.addWidget(self.swap_at, 1)
        details.addLayout(row)
        self.amount = FloatSlider("Amount", 0.0, 1.0, 1.0, default=1.0, fmt="{:.2f}",
                                  tooltip="0 = this model alone, 1 = the swapped layers entirely the style model's")
        details.addWidget(self.amount)
        layout.addWidget(self.details)
        self.fine_from.currentIndexChanged.connect(self.changed)
        self.swap_at.currentIndexChanged.connect(self.changed)
        self.amount.valueChanged.connect(self.changed)
        self._controls = (self.remove_button, self.fine_from, self.swap_at, self.amount)
        self.reset()

    # ------------------------------------------------------------------------------------ state
    def reset(self) -> None:
        """No style model (also after the base model changes: the old one may not fit the new)."""
        self.style_gen = None
        self._debounce.stop()
        self._fill_resolutions()
        for c in self._controls:
            c.setEnabled(False)
        self.details.setVisible(False)
        self.remove_button.setVisible(False)

    def _fill_resolutions(self) -> None:
        blocked = self.swap_at.blockSignals(True)
        self.swap_at.clear()
        for r in swap_resolutions(self.w.gen)[1:]:
            self.swap_at.addItem(f"{r}²", r)
        # Default: the 'fine' group of the style-mixing paper (64² and up): colour and brushwork only.
        self.swap_at.setCurrentIndex(max(0, self.swap_at.findData(64)))
        self.swap_at.blockSignals(blocked)

    def settings(self) -> BlendSettings:
        return BlendSettings(int(self.swap_at.currentData()), self.fine_from.currentData(), self.amount.value())

    # ----------------------------------------------------------------------------------- actions
    def load_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getOpenFileName(self, "Load style model", self.w.files._dir(),
                                              "Models (*.pkl *.pt *.pth *.safetensors);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        self.w.files.open_model(path, use=self.use_style_model)

    def use_style_model(self, style_gen) -> None:
        try:
            check_compatible(self.w.gen, style_gen)
        except BlendError as exc:
            self.w.error("Cannot blend these models", str(exc))
            return
        self.style_gen = style_gen
        for c in self._controls:
            c.setEnabled(True)
        self.details.setVisible(True)
        self.remove_button.setVisible(True)
        self.status.setText(f"Style model: {style_gen.name}")
        self.changed()

    def remove(self) -> None:
        self.reset()
        self.status.setText("No style model.")
        self.w.set_blend(None)

    def changed(self, *_) -> None:
        if self.style_gen is not None:
            self._debounce.start()

    def _build(self) -> None:
        style, settings = self.style_gen, self.settings()
        if style is None:
            return

        def done(value, error):
            if error:
                self.w.error("Cannot blend these models", error)
                return
            built_for, gen = value
            if style is self.style_gen and built_for == self.settings():  # else a newer build is on its way
                self.w.set_blend(gen)

        self.w.run_job("blend", lambda base: (settings, blend(base, style, settings)), done)
