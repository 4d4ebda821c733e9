"""Direction tools in the app: SeFa components, teaching a direction from marked faces, and fitting the
age / gender / freckle directions for the loaded model (the CLI in a child process, with progress).

Everything that touches the model runs as a job on the render worker (MainWindow.run_job).
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace

import numpy as np
import torch
from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit, QProgressDialog,
                               QPushButton, QSpinBox, QToolButton, QVBoxLayout)

from ..directions import DirectionError, save_user_direction
from ..compose import Direction, held
from .widgets import FloatSlider, dismiss_progress

MIN_MARKED = 5


class SefaPanel(QGroupBox):
    """'SeFa 1..K' sliders from SeFa on a chosen range of w+ rows; any one can be named and saved.
    Each component's reach is measured after it appears (editor.directions.reach, on the background
    thread: the face being edited keeps rendering): until then its slider spans a cautious ±PROVISIONAL σ."""

    directions_changed = Signal(dict)  # the current SeFa directions, name -> Direction
    K = 5
    PROVISIONAL = 2.0

    def __init__(self, window, parent=None):
        super().__init__("SeFa components (closed form)", parent)
        self.w = window
        self.sliders: dict[str, FloatSlider] = {}
        self.directions: dict[str, Direction] = {}
        self.reach_pending: list[str] = []
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.group = QComboBox()
        self.group.addItems(["coarse", "middle", "fine", "all", "custom"])
        self.group.setToolTip("A layer group, or 'custom': the w+ rows in the boxes")
        self.first, self.last = QSpinBox(), QSpinBox()
        for box, tip in ((self.first, "First w+ row"), (self.last, "Last w+ row (included)")):
            box.setToolTip(f"{tip}: 0 = the 4² layer, higher rows act at higher resolutions")
        row.addWidget(QLabel("Layers"))
        row.addWidget(self.group)
        row.addWidget(self.first)
        row.addWidget(QLabel("–"))
        row.addWidget(self.last)
        row.addStretch(1)
        layout.addLayout(row)
        self.compute = QPushButton("Find components")
        self.compute.setToolTip("Eigenvectors of the chosen layers' style weights: the directions that change "
                                "those layers most. Each gets a measured reach (how far before faces break)")
        layout.addWidget(self.compute)
        self._rows = QVBoxLayout()
        layout.addLayout(self._rows)
        self.compute.clicked.connect(self.find)
        self.group.currentTextChanged.connect(self._preset)
        self.first.valueChanged.connect(self._custom)
        self.last.valueChanged.connect(self._custom)
        self.model_changed()

    def model_changed(self) -> None:
        n = self.w.gen.num_ws
        for box in (self.first, self.last):
            box.setRange(0, n - 1)
        self._preset(self.group.currentText())

    def _preset(self, group: str) -> None:
        if group == "custom":
            return
        rows = range(self.w.gen.num_ws) if group == "all" else self.w.gen.layer_groups[group]
        for box, v in ((self.first, rows.start), (self.last, rows.stop - 1)):
            blocked = box.blockSignals(True)
            box.setValue(v)
            box.blockSignals(blocked)

    def _custom(self, *_) -> None:
        if self.last.value() < self.first.value():
            self.last.setValue(self.first.value())
        blocked = self.group.blockSignals(True)
        self.group.setCurrentText("custom")
        self.group.blockSignals(blocked)

    def rows(self) -> range:
        return range(self.first.value(), self.last.value() + 1)

    def find(self) -> None:
        from ..directions.sefa import sefa_directions
        rows = self.rows()
        label = f"-{rows.start}-{rows.stop - 1}"
        self.compute.setEnabled(False)
        self.w.run_job("sefa", lambda gen: sefa_directions(gen, rows, self.K, label=label), self._found)

    def _found(self, directions, error) -> None:
        self.compute.setEnabled(True)
        if error:
            self.w.error("SeFa failed", error)
            return
        for s in self.sliders.values():
            s.setParent(None)
            s.deleteLater()
        self.sliders = {}
        directions = {n: replace(d, range=self.PROVISIONAL) for n, d in directions.items()}
        self.directions = directions
        doc = self.w.doc
        for i, (name, d) in enumerate(directions.items()):
            s = FloatSlider(f"SeFa {i + 1}", -d.range, d.range, 0.0, default=0.0, label_width=52,
                            tooltip=f"SeFa component {i + 1} of w+ rows {d.layers.start}–{d.layers.stop - 1}, in σ. "
                                    f"Reach: measuring… (±{d.range:g} σ until then)")
            s.valueChanged.connect(lambda v, n=name: doc.set_state(doc.state.with_direction(n, v), n, f"dir:{n}"))
            s.pressed.connect(doc.begin_gesture)
            s.released.connect(doc.end_gesture)
            save = QToolButton(text="Save…", autoRaise=False)  # a push button's width left the slider 25 px
            save.setToolTip("Name this component and keep it in your direction library (with its reach)")
            save.clicked.connect(lambda _=False, n=name: self.save(n))
            s.layout().addWidget(save)
            self._rows.addWidget(s)
            self.sliders[name] = s
        self.directions_changed.emit(directions)
        self.reach_pending = list(directions)
        self._measure_next()

    def _measure_next(self) -> None:
        from ..directions.sefa import reach_job
        if not self.reach_pending:
            return
        name = self.reach_pending[0]
        self.w.run_background("sefa-reach", reach_job(self.directions[name]),
                       lambda value, error, n=name, ds=self.directions: self._measured(ds, n, value, error))

    def _measured(self, directions: dict, name: str, reach, error) -> None:
        if directions is not self.directions:
            return  # components found again meanwhile: their own measurements are under way
        self.reach_pending.remove(name)
        if not error and reach:
            d = replace(self.directions[name], range=float(reach))
            self.directions = {**self.directions, name: d}
            s = self.sliders[name]
            s.set_range(-d.range, d.range)
            s.setToolTip(s.toolTip().split(" Reach:")[0] + f" Reach ±{d.range:g} σ, measured: beyond it faces "
                                                            "break or wash out on test faces.")
            self.directions_changed.emit(self.directions)
        self._measure_next()

    def save(self, name: str) -> None:
        new, ok = QInputDialog.getText(self, "Save direction", "Name of this direction:")
        if not ok or not new.strip():
            return
        d = self.directions[name]
        gen = self.w.gen
        saved = Direction(new.strip(), d.vector, (d.rows(gen.num_ws).start, d.rows(gen.num_ws).stop), d.scale, d.range)
        try:
            save_user_direction(gen.name, gen.fingerprint, saved, f"SeFa {name}", gen.num_ws)
        except (DirectionError, OSError) as exc:
            self.w.error("Cannot save direction", str(exc))
            return
        self.w.reload_directions()

    def sync(self, state) -> None:
        for name, s in self.sliders.items():
            s.set_value(state.direction_amount(name))


def teach_direction(gen, name: str, has: list[int], lacks: list[int], hold: list[np.ndarray],
                    samples: int = 2000) -> Direction:
    """A direction from marked faces: the difference of the two groups' mean w, with the held attributes
    projected out; one unit = one sigma of the model's w along it. Runs on the render thread."""
    w = lambda seeds: gen.mapping(torch.cat([gen.z_from_seed(s) for s in seeds])).cpu().numpy()  # noqa: E731
    v = w(has).mean(0) - w(lacks).mean(0)
    v = held(v / np.linalg.norm(v), hold)
    v = v / np.linalg.norm(v)
    scale = float((gen.mapping(gen.z_from_seed(0, batch=samples)).cpu().numpy() @ v).std())
    return Direction(name, v, None, scale, 3.0)


def _marked(seeds: list[int], shown: int = 6) -> str:
    """'none yet', or the count and the newest seeds, e.g. '8 (seeds …, 4, 7, 9, 11, 12, 15)'."""
    if not seeds:
        return "none yet"
    more = "…, " if len(seeds) > shown else ""
    return f"{len(seeds)} (seed{'s' if len(seeds) > 1 else ''} {more}{', '.join(map(str, seeds[-shown:]))})"


class TeachPanel(QGroupBox):
    """Mark faces (as source A) as having or lacking a trait; with five of each, fit and keep it."""

    def __init__(self, window, parent=None):
        super().__init__("Teach a direction", parent)
        self.w = window
        self.has: list[int] = []
        self.lacks: list[int] = []
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("trait, e.g. beard")
        row.addWidget(self.name)
        self.has_button, self.lacks_button = QPushButton("A has it"), QPushButton("A lacks it")
        self.has_button.setToolTip("Mark the face in source A (pick it in the gallery) as having the trait")
        row.addWidget(self.has_button)
        row.addWidget(self.lacks_button)
        layout.addLayout(row)
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        layout.addWidget(self.counts)
        row = QHBoxLayout()
        self.fit_button, self.clear_button = QPushButton("Fit and add slider"), QPushButton("Clear")
        row.addWidget(self.fit_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.has_button.clicked.connect(lambda: self.mark(True))
        self.lacks_button.clicked.connect(lambda: self.mark(False))
        self.clear_button.clicked.connect(self.clear)
        self.fit_button.clicked.connect(self.fit)
        self._update()

    def mark(self, has: bool) -> None:
        src = self.w.doc.state.source_a
        if src.kind != "seed":
            self.w.error("Teach a direction", "Mark seed faces (pick them in the gallery or type a seed for A).")
            return
        (self.has if has else self.lacks).append(src.seed)
        other = self.lacks if has else self.has
        if src.seed in other:
            other.remove(src.seed)
        self._update()

    def clear(self) -> None:
        self.has, self.lacks = [], []
        self._update()

    def _update(self) -> None:
        self.has = list(dict.fromkeys(self.has))
        self.lacks = list(dict.fromkeys(self.lacks))
        self.counts.setText(f"has it: {_marked(self.has)} · lacks it: {_marked(self.lacks)} "
                            f"(at least {MIN_MARKED} each)")
        self.fit_button.setEnabled(len(self.has) >= MIN_MARKED and len(self.lacks) >= MIN_MARKED)

    def fit(self) -> None:
        name = self.name.text().strip() or "taught"
        state, dirs = self.w.doc.state, self.w.directions
        hold = [np.asarray(dirs[k].vector) for k in state.locks if k in dirs and np.ndim(dirs[k].vector) == 1]
        has, lacks = list(self.has), list(self.lacks)
        self.fit_button.setEnabled(False)
        self.w.run_job("teach", lambda gen: teach_direction(gen, name, has, lacks, hold), self._fitted)

    def _fitted(self, direction, error) -> None:
        self._update()
        if error:
            self.w.error("Teach a direction", error)
            return
        gen = self.w.gen
        try:
            save_user_direction(gen.name, gen.fingerprint, direction,
                                {"method": "mean difference of marked faces", "has": self.has, "lacks": self.lacks},
                                gen.num_ws)
        except (DirectionError, OSError) as exc:
            self.w.error("Cannot save direction", str(exc))
            return
        self.w.reload_directions()
        self.w.statusBar().showMessage(f"Added direction {direction.name!r}", 5000)


class FitDirectionsRunner:
    """`python -m editor directions fit` for the loaded model in a child process, with a progress dialog.
    A child process keeps the app responsive and leaves the render worker alone for the minutes it takes."""

    def __init__(self, window):
        self.w = window
        self.proc: QProcess | None = None

    def start(self) -> None:
        gen = self.w.gen
        args = ["-m", "editor", "directions", "fit"]
        if gen.source is not None and not gen.source.name.startswith("mobilestylegan-ffhq-1024"):
            args += ["--model", str(gen.source)]
        self.dialog = QProgressDialog("Sampling, rendering and scoring faces…", "Cancel", 0, 100, self.w)
        self.dialog.setWindowTitle("Fit directions")
        self.dialog.setMinimumDuration(0)
        self.proc = QProcess(self.w)
        self.proc.setProcessChannelMode(QProcess.MergedChannels)
        self.proc.readyRead.connect(self._progress)
        self.proc.finished.connect(self._finished)
        self.dialog.canceled.connect(self.proc.kill)
        self._log = ""
        self.proc.start(sys.executable, args)

    def _progress(self) -> None:
        text = bytes(self.proc.readAll()).decode(errors="replace")
        self._log = (self._log + text)[-4000:]
        hits = re.findall(r"(\d+)/(\d+) \[", text)
        if hits:
            done, total = map(int, hits[-1])
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)

    def _finished(self, code: int, _status) -> None:
        cancelled = dismiss_progress(self.dialog)
        if cancelled:
            return
        if code != 0:
            self.w.error("Fit directions failed", self._log[-1500:])
            return
        self.w.reload_directions()
        self.w.statusBar().showMessage("Fitted age, gender, freckle, smile and yaw directions", 5000)
