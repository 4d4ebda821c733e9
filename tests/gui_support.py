"""What the GUI tests share: a private home for every test, the real default model's window, waiting for
its full render, and a slider drag as the mouse does it. Imported by the test modules (fixtures included)."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QSettings  # noqa: E402

from editor.edit import EditState  # noqa: E402
from editor.qt.main_window import MainWindow  # noqa: E402
from editor.qt.widgets import STEPS_PER_UNIT, FloatSlider  # noqa: E402
from editor.render import RenderResult  # noqa: E402

NUM_WS = 23  # the default model's w+ rows
GROUPS = {"coarse": range(0, 4), "middle": range(4, 10), "fine": range(10, NUM_WS)}
ALL_ROWS = range(NUM_WS)
FAKE_STATE = EditState.new("fake", NUM_WS)  # for renders without a model


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Autosave, QSettings and user directions go to tmp, never to the real home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))



def drag(slider: FloatSlider, *values: float) -> None:
    """What QSlider does for a mouse drag of its handle: press, moves (valueChanged each), release."""
    s = slider.slider
    s.setSliderDown(True)  # emits sliderPressed
    for v in values:
        s.setSliderPosition(round(v * STEPS_PER_UNIT))  # tracking on: emits valueChanged
    s.setSliderDown(False)  # emits sliderReleased



def long_work(entered: threading.Event, seconds: float = 30.0):
    """Work that takes `seconds` between network blocks, as a big model's render or a photo import does."""
    from editor.model.interrupt import checkpoint
    entered.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        checkpoint()
        time.sleep(0.01)
    return "finished"


@pytest.fixture(scope="module")
def gen(default_weights):
    from editor.model import load_generator
    return load_generator(default_weights, device="cpu")


@pytest.fixture
def make_window(qtbot, gen, tmp_path):
    def make(state: EditState | None = None, settings_file: str = "s.ini") -> MainWindow:
        window = MainWindow(gen, state, QSettings(str(tmp_path / settings_file), QSettings.IniFormat))
        qtbot.addWidget(window)  # closed at teardown, which stops its render worker
        window.show()
        return window
    return make


def full_render(qtbot, window: MainWindow, action=lambda: None, timeout: int = 60_000) -> RenderResult:
    """Do `action`, then wait until the full-resolution render of the (then) current state is on screen."""
    with qtbot.waitSignal(window.full_render_shown, timeout=timeout,
                          check_params_cb=lambda r: r.state == window.doc.state) as blocker:
        action()
    return blocker.args[0]


def new_state(gen, a: int, b: int) -> EditState:
    return EditState.new(gen.fingerprint, gen.num_ws, seed_a=a, seed_b=b)

