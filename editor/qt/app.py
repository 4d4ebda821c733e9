"""Start-up: load the model off the GUI thread with a progress dialog, offer crash recovery, show the window.

`--screenshot PATH` waits for the first full-resolution render, saves a picture of the window and exits 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog

from .. import io
from ..edit import EditState
from ..safe_read import describe
from .files import ModelLoader, autosave_path
from .gui_gc import collect_in_gui_thread
from .main_window import MainWindow
from .widgets import dismiss_progress

SCREENSHOT_TIMEOUT_MS = 180_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Latent-space face editor")
    p.add_argument("file", nargs="?", help="an exported image, session (.json) or latent (.npz) to open")
    p.add_argument("--model", help="a .pkl, .pt or .safetensors generator (default: the bundled FFHQ model)")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--seed", type=int, help="seed of source A (B is the next seed)")
    p.add_argument("--screenshot", metavar="PATH", help="save a screenshot once the face is rendered, then exit")
    p.add_argument("--size", default="1400x900", help="window size for --screenshot, WxH")
    return p.parse_args(argv)


def install_excepthook():
    """Returns the hook it replaced (main() puts it back on the way out)."""
    # An exception nothing caught (in a slot, a timer, a dialog's callback) is shown in one bounded
    # message and the app carries on. Without this PySide prints the traceback on stderr and the user sees
    # nothing; the traceback still goes to stderr, for bug reports.
    previous = sys.excepthook
    showing = threading.Lock()

    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        app = QApplication.instance()
        if (app is None or not issubclass(exc_type, Exception) or threading.current_thread() is not threading.main_thread()
                or not showing.acquire(blocking=False)):  # one box at a time: a failing paint must not stack them
            return
        try:
            QMessageBox.critical(app.activeWindow(), "Unexpected error",
                                 f"That action failed: {describe(exc)}\n\nThe edit on screen is unchanged, and the "
                                 "editor keeps running. The details went to the terminal.")
        finally:
            showing.release()

    sys.excepthook = hook
    return previous


def _recovered_state(gen) -> EditState | None:
    path = autosave_path()
    if not path.is_file():
        return None
    try:
        state, _extra = io.load_session(path)
    except io.FileFormatError:
        return None
    if state.model_fingerprint != gen.fingerprint:
        return None
    from ..directions import load_library
    try:  # the same check as File › Open: a recovered edit must render with this model and library
        state, _dropped = io.fit_to_model(state, path, gen.fingerprint, gen.w_dim, gen.num_ws,
                                          load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0])
    except io.FileFormatError:
        return None
    answer = QMessageBox.question(None, "Restore edit?",
                                  "The editor did not close normally last time. Restore the edit you were working on?")
    return state if answer == QMessageBox.Yes else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    previous_hook = install_excepthook()
    collect_in_gui_thread()  # the model loads on a thread: no collection may run there
    app.setApplicationName("Face editor")
    app.setOrganizationName("face-editor")
    from ..config import settings_path  # one place for every folder (FACE_EDITOR_CONFIG overrides)
    settings = QSettings(str(settings_path()), QSettings.IniFormat)
    # Ctrl+C in the terminal closes the window as its close button does (an unsaved edit is asked about, and the
    # threads stop), then exits with 130 as every command does. The timer lets Python see the signal while Qt's
    # event loop runs.
    holder: dict = {}

    def interrupted() -> None:
        window = holder.get("window")
        if window is None or window.close():
            app.exit(130)
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, interrupted))
    wake = QTimer(interval=250)
    wake.timeout.connect(lambda: None)
    wake.start()

    # The model used last time, unless one is named; a remembered model that fails falls back to the default.
    remembered = None if args.model or args.screenshot else settings.value("model/path")
    if remembered and not Path(str(remembered)).is_file():
        remembered = None
    loaders: list[ModelLoader] = []

    def load(path: str | None, from_settings: bool) -> None:
        progress = QProgressDialog("Loading the face model…", "Quit", 0, 0)
        progress.setWindowTitle("Face editor")
        progress.setMinimumDuration(300)
        loader = ModelLoader(path, device=args.device)
        loaders.append(loader)

        def on_progress(stage, done, total):
            progress.setLabelText(f"{stage}…")
            progress.setMaximum(max(total, 1))
            progress.setValue(done)

        def on_done(gen, err):
            dismiss_progress(progress)
            if err and from_settings:
                QMessageBox.warning(None, "Cannot load model", f"{err}\n\nStarting with the default model.")
                settings.remove("model/path")
                load(None, False)
                return
            if err:
                QMessageBox.critical(None, "Cannot load model", err)
                app.exit(2)
                return
            try:
                show_window(gen)
            except Exception as exc:  # noqa: BLE001 - no window means nothing to keep running for
                traceback.print_exc()
                QMessageBox.critical(None, "Cannot open the editor", f"{type(exc).__name__}: {exc}"[:500])
                app.exit(3)

        loader.progress.connect(on_progress)
        loader.done.connect(on_done)
        progress.canceled.connect(lambda: app.exit(1))
        loader.start()

    def show_window(gen) -> None:
        state = None if args.screenshot else _recovered_state(gen)
        if state is None and args.seed is not None:
            state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=args.seed, seed_b=args.seed + 1)
        window = MainWindow(gen, state, settings)
        holder["window"] = window
        if args.screenshot:
            w, h = (int(v) for v in args.size.lower().split("x"))
            window.resize(w, h)
            _arm_screenshot(app, window, args.screenshot)
        window.show()
        if args.file:
            window.files.open_any(args.file)

    from .. import setup_models  # first start: fetch what is missing, with progress and Cancel
    needed = [n for n in setup_models.missing() if n != "default" or not (args.model or remembered)]
    if needed:
        from .setup_dialog import run_setup
        # Without the emotion / identity models the app still runs (those meters stay empty); not without a face model.
        if not run_setup(needed) and "default" in needed:
            sys.excepthook = previous_hook
            signal.signal(signal.SIGINT, previous_sigint)
            return 1
    load(args.model or remembered, from_settings=bool(remembered) and not args.model)
    code = app.exec()
    for loader in loaders:
        loader.wait()
    wake.stop()
    signal.signal(signal.SIGINT, previous_sigint)
    sys.excepthook = previous_hook
    return code


def _arm_screenshot(app: QApplication, window: MainWindow, path: str) -> None:
    def ready() -> bool:
        page = window._gallery_page
        return (window.current_full_render() is not None and len(page["images"]) == len(page["seeds"])
                and all(v is not None for v in window.source_faces.images.values()))

    def shoot(_result=None):
        if not ready():
            return
        poll.stop()
        # Let the view repaint before the picture is taken.
        QTimer.singleShot(500, lambda: (window.grab().save(path), window.doc.undo_stack.setClean(),
                                        window.close(), app.exit(0)))

    poll = QTimer(window, interval=200)  # the face, the gallery page and the source faces all on screen
    poll.timeout.connect(shoot)
    poll.start()
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: (print("screenshot: no render in time", file=sys.stderr),
                                                     app.exit(1)))
