from editor.runtime import configure_process

configure_process()  # as the app does at start-up, and before torch loads (its OpenMP reads the wait policy once)

import faulthandler
import gc
import sys

import pytest
import torch


@pytest.fixture(scope="session")
def default_weights():
    """The converted default model (converted on first use, as `make test` does beforehand)."""
    from editor.model import ensure_default_model
    return ensure_default_model()


@pytest.fixture(scope="session")
def default_fp32(default_weights):
    from editor.model import load_generator
    return load_generator(default_weights, device="cpu", dtype=torch.float32)


@pytest.fixture(scope="session")
def openvino_synthesis():
    """The original IR in OpenVINO, fp32 (OpenVINO's default on AMX CPUs is bf16, which is not the
    reference we want to match)."""
    ov = pytest.importorskip("openvino")
    from editor.model.convert_default import find_wheel_data
    data, core = find_wheel_data(), ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    mapping = core.compile_model(str(data / "MappingNetwork.xml"), "CPU", cfg)
    synthesis = core.compile_model(str(data / "SynthesisNetwork.xml"), "CPU", cfg)
    return mapping, synthesis


@pytest.fixture(autouse=True)
def _close_without_asking(request, monkeypatch):
    """Windows that tests leave with unsaved edits are closed at teardown: answer the unsaved-edit
    question with Discard there (tests of the question itself patch it again)."""
    try:
        from editor.qt.main_window import MainWindow
    except ImportError:  # no Qt here
        return
    from editor.qt.files import FileActions
    monkeypatch.setattr(MainWindow, "ask_unsaved", lambda self: "discard")
    # A modal question would hang an offscreen run: plain images are declined unless a test says otherwise.
    monkeypatch.setattr(FileActions, "offer_photo_import", lambda self, path: False)


@pytest.fixture(autouse=True)
def _modal_dialogs_fail_the_test(request, monkeypatch):
    """Offscreen, a modal dialog waits forever for a click nobody makes: an error box that only one machine
    shows (out of memory, a missing file) would hang the run with nothing printed. In GUI tests each one is
    answered as the user's Cancel and fails the test, naming its title and text. Tests that mean to answer a
    dialog patch it again."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
    shown = []

    def cancel(kind, answer):
        def answered(*args, **kwargs):
            texts = [a for a in args if isinstance(a, str)][:2]
            shown.append(f"{kind}: {' / '.join(texts)}")
            return answer
        return staticmethod(answered)
    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, cancel(f"QMessageBox.{kind}", QMessageBox.Cancel))
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda box: shown.append(f"QMessageBox: {box.windowTitle()} / {box.text()}") or 0)
    for kind in ("getOpenFileName", "getSaveFileName", "getOpenFileNames"):
        monkeypatch.setattr(QFileDialog, kind, cancel(f"QFileDialog.{kind}", ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", cancel("QFileDialog.getExistingDirectory", ""))
    for kind in ("getText", "getItem", "getInt", "getDouble"):
        monkeypatch.setattr(QInputDialog, kind, cancel(f"QInputDialog.{kind}", (None, False)))
    yield
    if shown:
        pytest.fail("a modal dialog the test did not answer was shown: " + "; ".join(shown), pytrace=False)


# The longest test takes ~25 s on 2 cores; one past this has hung (a deadlock, or a modal dialog offscreen).
HANG_S = 600


@pytest.fixture(autouse=True)
def _a_hung_test_ends_the_run(request):
    """Print every thread's stack and exit, instead of waiting silently until CI's own limit kills the run
    with nothing to show (as happened once, at the 80th minute). Written where pytest's faulthandler writes:
    the terminal, not the test's captured stderr, which is lost on exit."""
    from _pytest.faulthandler import fault_handler_stderr_fd_key
    fd = request.config.stash.get(fault_handler_stderr_fd_key, None)
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=sys.stderr if fd is None else fd)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _collect_in_the_main_thread(request):
    """As in the app (editor.qt.gui_gc): during a GUI test no automatic collection runs, since it would run on
    whichever worker thread allocates and free Qt objects there. At teardown, after pytest-qt has closed the
    test's windows (their threads stopped), each main window is deleted and the garbage collected here: a
    window's signal connections keep it, and its generator, alive until its C++ side is gone (100-700 MB a
    window; the suite peaked at 12 GB before). Tests without Qt keep Python's automatic collection."""
    gui = "qtbot" in request.fixturenames
    if gui:
        gc.disable()
    else:
        gc.enable()
    yield
    if not gui:
        return
    from PySide6.QtWidgets import QApplication
    from editor.qt.main_window import MainWindow
    from PySide6.QtCore import QCoreApplication, QEvent
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow):
            # closeEvent stops its threads and clears its undo history; Qt sends it to a window never shown
            # or not handed to qtbot, and not again to one already closed.
            widget.close()
            widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    gc.collect()


@pytest.fixture
def make_default_window(qtbot, default_weights, tmp_path, monkeypatch):
    """make(state=None, seed_a=8, seed_b=9): the real window with the default model, its settings, user
    library and caches in tmp_path, shown offscreen."""
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from editor.edit import EditState
    from editor.model import load_generator
    from editor.qt.main_window import MainWindow
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    gen = load_generator(default_weights, device="cpu")

    def make(state=None, seed_a: int = 8, seed_b: int = 9):
        w = MainWindow(gen, state or EditState.new(gen.fingerprint, gen.num_ws, seed_a=seed_a, seed_b=seed_b),
                       QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
        qtbot.addWidget(w)
        w.show()
        return w
    return make


# ------------------------------------------------------------------------------- GUI fixtures (shared)
@pytest.fixture
def private_home(tmp_path, monkeypatch):
    """Autosave, QSettings and user directions go to tmp, never to the real home. GUI modules use it for
    every test: `pytestmark = pytest.mark.usefixtures("private_home")`."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def gen(default_weights):
    """The real default model, at the precision this machine's trial picks (as the app loads it)."""
    from editor.model import load_generator
    return load_generator(default_weights, device="cpu")


@pytest.fixture
def make_window(qtbot, gen, tmp_path):
    """make(state=None, settings_file='s.ini'): the real window on `gen`, settings in tmp_path, shown."""
    from PySide6.QtCore import QSettings

    from editor.qt.main_window import MainWindow

    def make(state=None, settings_file: str = "s.ini") -> MainWindow:
        window = MainWindow(gen, state, QSettings(str(tmp_path / settings_file), QSettings.IniFormat))
        qtbot.addWidget(window)  # closed at teardown, which stops its render worker
        window.show()
        return window
    return make


# --------------------------------------------------------------------------------------------- markers
# Applied here, by what a test uses, so no test has to remember them: `pytest -m unit` is the fast subset
# (no real model, no Qt), `-m model` the tests on the real default model, `-m gui` the pytest-qt ones.
# A test's fixture names include those its fixtures use, so `gen`, `default_fp32` etc. count through these.
MODEL_FIXTURES = {"default_weights", "openvino_synthesis"}
# Modules that load the default model without a fixture (converting it, or through the CLI).
MODEL_MODULES = {"test_carry", "test_convert_default", "test_default_model", "test_freckles"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        names = set(item.fixturenames)
        gui = "qtbot" in names or module.startswith(("test_gui", "test_qt"))
        model = bool(names & MODEL_FIXTURES) or module in MODEL_MODULES
        if gui:
            item.add_marker(pytest.mark.gui)
        if model:
            item.add_marker(pytest.mark.model)
        if not gui and not model:
            item.add_marker(pytest.mark.unit)
