"""Bad files through the window (issue 11): whatever fails while opening, the user sees one message naming
the file and the edit on screen is the one they had. Offscreen; the window runs the default model."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QSettings  # noqa: E402

from editor import io  # noqa: E402
from editor.edit import EditState, Source  # noqa: E402
from editor.qt import app as qt_app  # noqa: E402
from editor.qt.main_window import MainWindow  # noqa: E402


pytestmark = pytest.mark.usefixtures("private_home")  # conftest's; `gen` is conftest's too


@pytest.fixture
def window(qtbot, gen, tmp_path, monkeypatch):
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(MainWindow, "error", lambda self, title, message: errors.append((title, message)))
    w = MainWindow(gen, EditState.new(gen.fingerprint, gen.num_ws, seed_a=3, seed_b=4),
                   QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.show()
    w.errors = errors
    return w


def test_an_unexpected_failure_while_opening_shows_one_message_and_keeps_the_edit(window, tmp_path, monkeypatch):
    w = window
    before, steps = w.doc.state, w.doc.undo_stack.count()
    session = tmp_path / "boom.json"
    io.save_session(session, before.with_psi(0.3), {})

    def reader_bug(path):
        raise KeyError("a reader bug")

    monkeypatch.setattr(io, "load_session", reader_bug)
    w.files.open_any(str(session))  # File › Open, drops and the command line all end here
    assert len(w.errors) == 1, w.errors
    assert "boom.json" in w.errors[0][1] and "KeyError" in w.errors[0][1]
    assert w.doc.state == before and w.doc.undo_stack.count() == steps
    # The recent-files menu takes the same route.
    w.errors.clear()
    w.settings.setValue("files/recent", [str(session)])
    w.files.fill_recent_menu()
    w.recent_menu.actions()[0].trigger()
    assert len(w.errors) == 1 and "boom.json" in w.errors[0][1]
    assert w.doc.state == before and w.doc.undo_stack.count() == steps


def test_an_edit_that_does_not_fit_the_model_is_refused_or_opened_without_unknown_directions(window, gen, tmp_path):
    w = window
    before, steps = w.doc.state, w.doc.undo_stack.count()
    rows = np.zeros((5, gen.w_dim), np.float32)  # neither 1 nor num_ws rows: every render would fail
    bad = before.with_source("a", Source.from_latent(rows, "five rows"))
    io.save_session(tmp_path / "rows.json", bad, {})
    assert w.files.open_edit(str(tmp_path / "rows.json")) is False
    assert len(w.errors) == 1 and "rows.json" in w.errors[0][1] and "(5, 512)" in w.errors[0][1]
    assert w.doc.state == before and w.doc.undo_stack.count() == steps
    w.errors.clear()
    known = next(iter(w.directions))
    edit = before.with_direction(known, 1.0).with_direction("no_such_direction", 2.0)
    io.save_session(tmp_path / "unknown.json", edit, {})
    assert w.files.open_edit(str(tmp_path / "unknown.json")) is True
    assert w.doc.state.directions == ((known, 1.0),)
    assert len(w.errors) == 1 and "no_such_direction" in w.errors[0][1] and "unknown.json" in w.errors[0][1]


@pytest.mark.qt_no_exception_capture
def test_an_uncaught_exception_shows_one_bounded_message(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(qt_app.QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    monkeypatch.setattr(sys, "excepthook", lambda *a: None)  # what install_excepthook chains to
    previous = qt_app.install_excepthook()
    try:
        try:
            raise RuntimeError("x" * 1_000_000)  # a 5 MB message froze a dialog for 41 s
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.excepthook = previous
    assert len(shown) == 1 and "RuntimeError" in shown[0] and len(shown[0]) < 600


def test_a_sidecar_written_for_other_pixels_opens_with_a_warning(window, tmp_path, monkeypatch):
    w = window
    monkeypatch.setattr(io, "JPEG_XMP_LIMIT", 0)  # the edit only in the sidecar
    path = tmp_path / "cut.jpg"
    pixels = np.random.RandomState(0).randint(0, 256, (32, 32, 3), dtype=np.uint8)
    io.export_image(path, pixels, w.doc.state.with_psi(0.2), w.gen.name)
    old_sidecar = io.sidecar_path(path).read_bytes()
    io.export_image(path, pixels[::-1].copy(), w.doc.state.with_psi(0.9), w.gen.name)
    io.sidecar_path(path).write_bytes(old_sidecar)  # an export killed between its two renames
    assert w.files.open_edit(str(path)) is True
    assert w.doc.state.psi == pytest.approx(0.2)
    assert len(w.errors) == 1 and "cut.jpg.json" in w.errors[0][1] and "other pixels" in w.errors[0][1]


def test_a_model_this_machine_cannot_render_is_refused_in_one_message(window, gen, qtbot, tmp_path, monkeypatch):
    """A tiny file asking for a 4096² render with 1.5 GB free: File › Open model ends in one dialog naming
    the file and the sizes, and the window keeps its model and edit (render_memory's guard)."""
    from editor.model import render_memory
    from tests.support import tiny_sg3, write_nvidia_pickle
    w = window
    before, steps = w.doc.state, w.doc.undo_stack.count()
    path = write_nvidia_pickle(tmp_path / "huge.pkl", tiny_sg3(img_resolution=4096, channel_base=16384, channel_max=2))
    monkeypatch.setattr(render_memory, "available_bytes", lambda device: (int(1.5e9), "free"))
    w.files.open_model(str(path))
    loader = w.files._loader
    qtbot.waitUntil(lambda: len(w.errors) == 1 and loader.isFinished(), timeout=30_000)
    message = w.errors[0][1]
    assert "huge.pkl" in message and "4096×4096 render would need about" in message, message
    assert "this machine has 1.5 GB free" in message, message
    assert w.gen is gen and w.doc.state == before and w.doc.undo_stack.count() == steps
