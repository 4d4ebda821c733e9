"""Control panels. Each edits the document through `set_state` and mirrors it in `sync(state)`."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from ..defaults import DEFAULT_PSI, NOISE_MODES
from ..directions.hold_loop import LOOPED
from ..compose import Direction
from ..edit import EditState, Source
from .document import Document
from .gallery import A_COLOUR, B_COLOUR, rgb_to_qimage
from .widgets import FloatSlider

MAX_SEED = 2 ** 31 - 1  # QSpinBox is a signed int
GROUP_HELP = {"coarse": "pose, face shape, glasses", "middle": "features, hair style, eyes",
              "fine": "colour scheme, skin and hair micro-structure"}


@dataclass(frozen=True)
class ModelInfo:
    """What the widgets need to know about the model, read once when it is loaded (no torch here)."""
    name: str
    fingerprint: str
    num_ws: int
    layer_resolutions: tuple[int, ...]
    layer_groups: dict
    device: str
    dtype: str

    @classmethod
    def of(cls, gen) -> "ModelInfo":
        return cls(gen.name, gen.fingerprint, gen.num_ws, tuple(gen.layer_resolutions), dict(gen.layer_groups),
                   str(gen.device), str(gen.dtype).removeprefix("torch."))

    def group_label(self, name: str) -> str:
        r = self.layer_groups[name]
        if not r:
            return f"{name.capitalize()} (none)"
        lo, hi = self.layer_resolutions[r.start], self.layer_resolutions[r.stop - 1]
        return f"{name.capitalize()} {lo}–{hi}²"


def slider_gesture(doc: Document, slider: FloatSlider) -> None:
    slider.pressed.connect(doc.begin_gesture)
    slider.released.connect(doc.end_gesture)


class SourcePanel(QGroupBox):
    """The source's face (unedited, framed in its gallery colour) beside a seed spin box with previous /
    next / random, or the name of a latent or photo it was loaded from."""

    load_latent_requested = Signal(str)  # 'a' or 'b'
    FACE = 64

    def __init__(self, which: str, doc: Document, parent=None):
        title = "Source A · the base face" if which == "a" else "Source B · mixed into A"
        super().__init__(title, parent)
        self.which, self.doc = which, doc
        layout = QHBoxLayout(self)
        self.face = QLabel()
        self.face.setFixedSize(self.FACE + 6, self.FACE + 6)
        self.face.setAlignment(Qt.AlignCenter)
        colour = A_COLOUR if which == "a" else B_COLOUR
        self.face.setStyleSheet(f"border: 3px solid {colour}; border-radius: 3px; background: #ddd")
        self.face.setToolTip(f"Face {which.upper()} on its own, before mixing and directions")
        layout.addWidget(self.face)
        rows = QVBoxLayout()
        top, bottom = QHBoxLayout(), QHBoxLayout()
        rows.addLayout(top)
        rows.addLayout(bottom)
        layout.addLayout(rows, 1)
        self.prev_button, self.next_button = QToolButton(), QToolButton()
        self.prev_button.setText("◀")
        self.next_button.setText("▶")
        self.prev_button.setToolTip("Previous seed")
        self.next_button.setToolTip("Next seed")
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setPrefix("seed ")
        self.seed.setKeyboardTracking(False)
        self.seed.setMinimumWidth(90)
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("A random seed (R for A, Shift+R for B)")
        self.latent_button = QPushButton("Latent…")
        self.latent_button.setToolTip("Use a latent file (.npz from NVIDIA's projector, or .npy w / w+)")
        self.what = QLabel()
        self.what.setMinimumWidth(60)
        for w in (self.prev_button, self.seed, self.next_button, self.what):
            top.addWidget(w)
        top.setStretch(1, 1)
        top.setStretch(3, 1)
        for w in (self.random_button, self.latent_button):
            bottom.addWidget(w)
        self.seed.valueChanged.connect(self._set_seed)
        self.prev_button.clicked.connect(lambda: self._set_seed(max(0, self.seed.value() - 1)))
        self.next_button.clicked.connect(lambda: self._set_seed(min(MAX_SEED, self.seed.value() + 1)))
        self.random_button.clicked.connect(lambda: self._set_seed(random.randint(0, 99_999)))
        self.latent_button.clicked.connect(lambda: self.load_latent_requested.emit(self.which))

    def set_face(self, rgb) -> None:
        self.face.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)).scaled(
            self.FACE, self.FACE, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def _set_seed(self, seed: int) -> None:
        state = self.doc.state
        self.doc.set_state(state.with_source(self.which, Source.from_seed(seed)),
                           f"Seed {self.which.upper()} {seed}")

    def sync(self, state: EditState) -> None:
        src = state.source_a if self.which == "a" else state.source_b
        is_seed = src.kind == "seed"
        # A latent or photo source is not a seed: its seed controls would show an old, unrelated number.
        for w in (self.prev_button, self.seed, self.next_button):
            w.setVisible(is_seed)
        self.what.setVisible(not is_seed)
        if is_seed:
            blocked = self.seed.blockSignals(True)
            self.seed.setValue(min(src.seed, MAX_SEED))
            self.seed.blockSignals(blocked)
            self.what.setText("")
        else:
            self.what.setText(src.display_name)
            self.what.setToolTip(src.path or src.display_name)


class MixPanel(QGroupBox):
    """Coarse / middle / fine: how much of B replaces A; per-row sliders behind a toggle."""

    def __init__(self, doc: Document, info: ModelInfo, parent=None):
        super().__init__("Mix B into A", parent)
        self.doc, self.info = doc, info
        layout = QVBoxLayout(self)
        self.groups: dict[str, FloatSlider] = {}
        for name, rows in info.layer_groups.items():
            s = FloatSlider(info.group_label(name), 0.0, 1.0, 0.0, fmt="{:.2f}",
                            tooltip=f"{GROUP_HELP[name]} (w+ rows {rows.start}–{rows.stop - 1})")
            s.setEnabled(bool(rows))
            s.valueChanged.connect(lambda v, n=name: self._set_group(n, v))
            slider_gesture(doc, s)
            layout.addWidget(s)
            self.groups[name] = s
        self.layers_toggle = QToolButton()
        self.layers_toggle.setText("Per-layer ▸")
        self.layers_toggle.setCheckable(True)
        self.layers_toggle.setToolButtonStyle(Qt.ToolButtonTextOnly)
        layout.addWidget(self.layers_toggle)
        self.layers_box = QWidget()
        grid = QGridLayout(self.layers_box)
        grid.setContentsMargins(0, 0, 0, 0)
        self.layers: list[FloatSlider] = []
        for i in range(info.num_ws):
            s = FloatSlider(f"row {i} · {info.layer_resolutions[i]}²", 0.0, 1.0, 0.0, fmt="{:.2f}", label_width=90)
            s.valueChanged.connect(lambda v, k=i: self._set_layer(k, v))
            slider_gesture(doc, s)
            grid.addWidget(s, i, 0)
            self.layers.append(s)
        self.layers_box.setVisible(False)
        layout.addWidget(self.layers_box)
        self.layers_toggle.toggled.connect(self._toggle_layers)

    def _toggle_layers(self, on: bool) -> None:
        self.layers_box.setVisible(on)
        self.layers_toggle.setText("Per-layer ▾" if on else "Per-layer ▸")

    def _set_group(self, name: str, value: float) -> None:
        self.doc.set_state(self.doc.state.with_group_mix(self.info.layer_groups[name], value),
                           f"Mix {name}", merge_key=f"mix:{name}")

    def _set_layer(self, index: int, value: float) -> None:
        self.doc.set_state(self.doc.state.with_layer_mix(index, value), f"Mix row {index}",
                           merge_key=f"mix:{index}")

    def sync(self, state: EditState) -> None:
        for name, s in self.groups.items():
            s.set_value(state.group_value(self.info.layer_groups[name]))
        for i, s in enumerate(self.layers):
            s.set_value(state.mix[i])


class AdjustPanel(QGroupBox):
    """Truncation psi and stochastic noise."""

    def __init__(self, doc: Document, parent=None):
        super().__init__("Truncation and noise", parent)
        self.doc = doc
        layout = QVBoxLayout(self)
        self.psi = FloatSlider("Truncation ψ", 0.0, 1.5, DEFAULT_PSI, default=DEFAULT_PSI, fmt="{:.2f}",
                               tooltip="0 = the average face, 1 = the model's full variety. Faces stay "
                                       "reliable up to about 1.0; above that they break more and more often "
                                       "(the read-out turns orange). Acts on seed faces only: latents and "
                                       "photos are shown as they are.")
        self.psi.set_warning_above(1.0)
        self.psi.valueChanged.connect(lambda v: doc.set_state(doc.state.with_psi(v), "Truncation", "psi"))
        slider_gesture(doc, self.psi)
        layout.addWidget(self.psi)
        row = QHBoxLayout()
        row.addWidget(QLabel("Noise"))
        self.noise_mode = QComboBox()
        self.noise_mode.addItems(list(NOISE_MODES))
        self.noise_mode.setToolTip("const: the model's fixed noise · random: fresh noise (Reseed) · off: none")
        self.noise_mode.currentTextChanged.connect(lambda m: doc.set_state(doc.state.with_noise(mode=m), "Noise"))
        row.addWidget(self.noise_mode)
        self.reseed = QPushButton("Reseed")
        self.reseed.setToolTip("New random noise maps (switches noise to 'random')")
        self.reseed.clicked.connect(self._reseed)
        row.addWidget(self.reseed)
        row.addStretch(1)
        layout.addLayout(row)
        self.strength = FloatSlider("Noise strength", 0.0, 2.0, 1.0, default=1.0, fmt="{:.2f}")
        self.strength.valueChanged.connect(
            lambda v: doc.set_state(doc.state.with_noise(strength=v), "Noise strength", "noise"))
        slider_gesture(doc, self.strength)
        layout.addWidget(self.strength)
        # StyleGAN3 only: move / turn the face by re-sampling the network's Fourier input (a new render,
        # not a warp of the old picture). Hidden for models that cannot do it.
        tip = "StyleGAN3: {} the face by re-sampling the model's input (the model renders it there)"
        self.move_x = FloatSlider("Move →", -0.5, 0.5, 0.0, default=0.0, fmt="{:+.2f}",
                                  tooltip=tip.format("move") + "; in image widths")
        self.move_y = FloatSlider("Move ↓", -0.5, 0.5, 0.0, default=0.0, fmt="{:+.2f}",
                                  tooltip=tip.format("move") + "; in image heights")
        self.rotate = FloatSlider("Rotate °", -180.0, 180.0, 0.0, default=0.0, fmt="{:+.0f}",
                                  tooltip=tip.format("rotate") + "; degrees, counter-clockwise")
        for key, slider in (("tx", self.move_x), ("ty", self.move_y), ("angle_deg", self.rotate)):
            slider.valueChanged.connect(lambda v, k=key: doc.set_state(
                doc.state.with_input_transform(**{k: v}), "Move/rotate", "input_transform"))
            slider_gesture(doc, slider)
            layout.addWidget(slider)
        self.set_transform_supported(False)

    def set_transform_supported(self, on: bool) -> None:
        """Show the move/rotate sliders only for a model that acts on them."""
        for slider in (self.move_x, self.move_y, self.rotate):
            slider.setVisible(on)

    def _reseed(self) -> None:
        state = self.doc.state
        self.doc.set_state(state.with_noise(mode="random", seed=(state.noise_seed + 1) % 2 ** 32), "Reseed noise")

    def sync(self, state: EditState) -> None:
        self.psi.set_value(state.psi)
        self.strength.set_value(state.noise_strength)
        for slider, value in zip((self.move_x, self.move_y, self.rotate), state.input_transform):
            slider.set_value(value)
        blocked = self.noise_mode.blockSignals(True)
        self.noise_mode.setCurrentText(state.noise_mode)
        self.noise_mode.blockSignals(blocked)


class PaintPanel(QGroupBox):
    """A painted-portrait style over the render: part of the edit, so it previews live, exports and undoes."""

    STYLES = (("none", "Photo (no paint)"), ("oil", "Oil"), ("watercolour", "Watercolour"), ("ink", "Ink (pencil)"))

    def __init__(self, doc: Document, parent=None):
        super().__init__("Painted portrait", parent)
        self.doc = doc
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("Style"))
        self.style = QComboBox()
        for key, label in self.STYLES:
            self.style.addItem(label, key)
        self.style.setToolTip("Image-space painting of the rendered face; exported images are painted too")
        self.style.currentIndexChanged.connect(
            lambda i: doc.set_state(doc.state.with_paint(style=self.style.itemData(i)), "Paint style"))
        row.addWidget(self.style, 1)
        layout.addLayout(row)
        self.strength = FloatSlider("Strength", 0.0, 1.0, 1.0, default=1.0, fmt="{:.2f}",
                                    tooltip="0 = the photo-real render, 1 = fully painted")
        self.strength.valueChanged.connect(
            lambda v: doc.set_state(doc.state.with_paint(strength=v), "Paint strength", "paint"))
        slider_gesture(doc, self.strength)
        layout.addWidget(self.strength)

    def sync(self, state: EditState) -> None:
        self.strength.set_value(state.paint_strength)
        self.strength.setEnabled(state.paint != "none")
        blocked = self.style.blockSignals(True)
        self.style.setCurrentIndex(self.style.findData(state.paint))
        self.style.blockSignals(blocked)


LOCKABLE = {"age": "age", "gender": "gender", "smile": "smile", "yaw": "yaw", "eyeglasses": "glasses",
            "hair_lightness": "hair colour"}  # direction -> the checkbox's words
DESCRIPTIONS = {
    "age": "Older (+) or younger (−): about 7 years per 2 σ (dlib age model).",
    "gender": "More male (+) or female (−) as the dlib gender model reads it; faces keep their age on average "
              "(a single face can still read a few years older or younger: Keep age corrects it).",
    "freckles": "Freckles (+): round tan dots painted on the cheeks and nose of the render, more and darker "
                "as you go (placed by the face's landmarks, kept to skin; Reseed gives another pattern). "
                "(−): the model's own spot direction reversed: clearer, pinker skin (fine layers).",
    "smile": "Smile (+) or a closed, neutral mouth (−), as fer's emotion model reads 'happy'.",
    "eyeglasses": "Glasses appear (+, on most faces from about +4 σ; dark or sunglasses near the end) or "
                  "thin out (−) (coarse and middle layers).",
    "hair_lightness": "Lighter hair (+: brown, light brown at +3 σ) or darker (−); the skin lightens with it.",
    "yaw": "Turn the head towards the image's right (+) or left (−); coarse layers only.",
}


class DirectionsPanel(QGroupBox):
    """One slider per direction in the library, in sigma units."""

    import_requested = Signal()
    RANGE = 3.0

    def __init__(self, doc: Document, parent=None):
        super().__init__("Directions (σ)", parent)
        self.doc = doc
        self.sliders: dict[str, FloatSlider] = {}
        self._layout = QVBoxLayout(self)
        self._rows = QVBoxLayout()
        self._layout.addLayout(self._rows)
        self.empty = QLabel("No directions for this model yet: Directions › Fit… makes age, gender, "
                            "freckles, smile and yaw for it.")
        self.empty.setWordWrap(True)
        self._layout.addWidget(self.empty)
        locks = QGridLayout()  # two columns: four in a row do not fit a narrow dock
        self.locks: dict[str, QCheckBox] = {}
        for i, (name, words) in enumerate(LOCKABLE.items()):
            box = QCheckBox(f"Keep {words}")
            loop = (f", and after each render the meters' reading is brought back by moving the {name} slider "
                    "(up to five renders)") if name in LOOPED else ""
            box.setToolTip(f"While other sliders move, hold the {words} where it is: each shipped direction "
                           f"carries a measured correction along {name}{loop} (README: Directions)")
            box.toggled.connect(lambda on, n=name: doc.set_state(doc.state.with_lock(n, on),
                                                                 f"{'Keep' if on else 'Release'} {n}"))
            locks.addWidget(box, i // 2, i % 2)
            self.locks[name] = box
        self._layout.addLayout(locks)
        buttons = QHBoxLayout()
        self.reset_all = QPushButton("Reset all")
        self.reset_all.clicked.connect(lambda: doc.set_state(doc.state.without_directions(), "Reset directions"))
        self.add_button = QPushButton("Add direction…")
        self.add_button.setToolTip("Import an InterFaceGAN boundary (.npy, [1, 512] or [num_ws, 512])")
        self.add_button.clicked.connect(self.import_requested)
        buttons.addWidget(self.reset_all)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        self._layout.addLayout(buttons)

    def set_directions(self, directions: dict[str, Direction]) -> None:
        for s in self.sliders.values():
            s.setParent(None)
            s.deleteLater()
        self.sliders = {}
        for name in sorted(directions):
            reach = getattr(directions[name], "range", self.RANGE)
            d = directions[name]
            rows = d.rows(len(self.doc.state.mix))
            what = getattr(d, "tooltip", "") or DESCRIPTIONS.get(name, f"Moves the face along '{name}'.")
            for k, per_sigma in getattr(d, "carry", {}).items():
                what += f"\nAlso moves {k.replace('_', ' ')} by {per_sigma:+.2f} σ per σ (a hold built in)."
            s = FloatSlider(name.replace("_", " ").capitalize(), -reach, reach, 0.0, default=0.0,
                            tooltip=f"{what}\nUnits: σ, standard deviations of the model's faces along this "
                                    f"direction; reach ±{reach:g} σ, measured: beyond it faces break or stop "
                                    f"changing. Acts on w+ rows {rows.start}–{rows.stop - 1}. Double-click resets.")
            s.valueChanged.connect(lambda v, n=name: self.doc.set_state(self.doc.state.with_direction(n, v),
                                                                         f"Direction {n}", f"dir:{n}"))
            slider_gesture(self.doc, s)
            self._rows.addWidget(s)
            self.sliders[name] = s
        self.empty.setVisible(not directions)
        self.reset_all.setEnabled(bool(directions))
        for name, box in self.locks.items():
            box.setVisible(name in directions)
        self.sync(self.doc.state)

    def sync(self, state: EditState) -> None:
        for name, s in self.sliders.items():
            s.set_value(state.direction_amount(name))
        for name, box in self.locks.items():
            blocked = box.blockSignals(True)
            box.setChecked(name in state.locks)
            box.blockSignals(blocked)
