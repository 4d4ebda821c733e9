"""First start: a dialog that fetches the missing default model (editor.setup_models) with progress and Cancel.

The work runs on a thread; Cancel sets an Event the set-up checks between steps (and kills pip), so nothing
half-made is kept. A failure (offline) shows the message and offers Retry.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from .. import setup_models


class SetupWorker(QThread):
    progress = Signal(str, int, int)
    done = Signal(object)  # None on success, else the message (empty: cancelled)

    def __init__(self, names: list[str]):
        super().__init__()
        self.names, self.cancel = names, threading.Event()

    def run(self) -> None:
        try:
            setup_models.setup_all(self.names, progress=lambda *a: self.progress.emit(*a), cancel=self.cancel)
        except setup_models.SetupCancelled:
            self.done.emit("")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can retry
            self.done.emit(str(exc)[:600])
            return
        self.done.emit(None)


def run_setup(names: list[str], parent=None) -> bool:
    """Set up `names` (see setup_models.PINS) with a modal progress dialog; True once they are all there.
    False when the user cancels or gives up after a failure."""
    from PySide6.QtCore import QEventLoop
    while True:
        dialog = QProgressDialog("Setting up the face model for the first start…", "Cancel", 0, 0, parent)
        dialog.setWindowTitle("Face editor set-up")
        dialog.setMinimumDuration(0)
        worker = SetupWorker(names)
        loop, result = QEventLoop(), {}

        def on_progress(stage: str, i: int, n: int) -> None:
            dialog.setLabelText(f"First start: {stage}…")
            dialog.setMaximum(max(n, 1))
            dialog.setValue(i)

        def on_done(message) -> None:
            result["message"] = message
            loop.quit()

        worker.progress.connect(on_progress)
        worker.done.connect(on_done)
        dialog.canceled.connect(worker.cancel.set)
        worker.start()
        dialog.show()
        loop.exec()
        worker.wait()
        dialog.close()
        message = result.get("message")
        if message is None:
            return True
        if message == "":
            return False
        answer = QMessageBox.warning(parent, "Set-up failed", message, QMessageBox.Retry | QMessageBox.Cancel)
        if answer != QMessageBox.Retry:
            return False
