"""The move/rotate sliders: shown for StyleGAN3 only, they edit the state and the face is rendered moved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402

from editor.edit import EditState  # noqa: E402
from editor.model import load_generator  # noqa: E402
from editor.qt.document import Document  # noqa: E402
from editor.qt.main_window import MainWindow  # noqa: E402
from editor.qt.panels import AdjustPanel  # noqa: E402
from tests.support import drag, tiny_sg3, write_nvidia_pickle  # noqa: E402


def test_sliders_are_hidden_for_models_that_cannot_move(qtbot):
    panel = AdjustPanel(Document(EditState.new("fp", 18)))
    qtbot.addWidget(panel)
    panel.show()
    assert not any(s.isVisible() for s in (panel.move_x, panel.move_y, panel.rotate))


def test_move_slider_moves_the_stylegan3_face(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    gen = load_generator(write_nvidia_pickle(tmp_path / "sg3.pkl", tiny_sg3()), device="cpu", dtype=torch.float32)
    w = MainWindow(gen, EditState.new(gen.fingerprint, gen.num_ws, seed_a=7),
                   QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.show()
    assert all(s.isVisible() for s in (w.adjust.move_x, w.adjust.move_y, w.adjust.rotate))
    qtbot.waitUntil(lambda: w.current_full_render() is not None, timeout=60_000)
    before = w.current_full_render().images[0]
    drag(w.adjust.move_x, 0.05, 0.25)
    assert w.doc.state.input_transform == (0.25, 0.0, 0.0) and w.doc.undo_stack.count() == 1
    qtbot.waitUntil(lambda: w.current_full_render() is not None, timeout=60_000)
    after = w.current_full_render().images[0]
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 0
    w.doc.undo_stack.undo()
    assert w.doc.state.input_transform == (0.0, 0.0, 0.0) and w.adjust.move_x.value() == 0.0
