"""The Qt layer: render worker, document/undo and the panels bound to it, the main window on the real
default model, file actions (good and bad files) and `main.py --screenshot`.

Run offscreen (QT_QPA_PLATFORM=offscreen). Nothing here sleeps: waits are on signals or conditions.
Every test gets its own XDG data/config folders, so autosave, settings and user directions stay in tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QProgressDialog  # noqa: E402

from editor import io  # noqa: E402
from editor.edit import EditState  # noqa: E402
from editor.paint import paint  # noqa: E402
from editor.photo.delta import WeightDelta  # noqa: E402
from editor.qt.document import Document  # noqa: E402
from editor.qt.main_window import MainWindow  # noqa: E402
from editor.qt.panels import AdjustPanel, MixPanel, ModelInfo, SourcePanel  # noqa: E402
from editor.qt.render_worker import RenderWorker  # noqa: E402
from editor.qt.widgets import STEPS_PER_UNIT, FloatSlider  # noqa: E402
from editor.render import RenderRequest, RenderResult  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NUM_WS = 23
GROUPS = {"coarse": range(0, 4), "middle": range(4, 10), "fine": range(10, NUM_WS)}
ALL_ROWS = range(NUM_WS)


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


# =========================================================================================== worker
class FakeRender:
    """A render fn without a model. Stamps in `block` wait on `gate` until the test opens it."""

    def __init__(self, block=()):
        self.block = set(block)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, request: RenderRequest) -> RenderResult:
        if request.stamp in self.block:
            self.entered.set()
            if not self.gate.wait(20):
                raise RuntimeError("the test never opened the gate")
        return RenderResult(request.stamp, request.kind, request.state, request.size or 8, seeds=request.seeds)


FAKE_STATE = EditState.new("fake", NUM_WS)


def view(stamp: int) -> RenderRequest:
    return RenderRequest(stamp, FAKE_STATE, None)


def gallery(stamp: int) -> RenderRequest:
    return RenderRequest(stamp, FAKE_STATE, 64, "gallery", (0, 1, 2))


@pytest.fixture
def fake_worker(qtbot):
    made = []

    def make(block=()):
        fn = FakeRender(block)
        worker = RenderWorker(fn)
        results: list[RenderResult] = []
        worker.rendered.connect(lambda r: results.append(r))
        made.append((fn, worker))
        return fn, worker, results

    yield make
    for fn, worker in made:
        fn.gate.set()
        worker.stop()


def test_worker_drops_the_middle_request(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)  # stamp 1 is being rendered; the worker is busy
    worker.submit(view(2))
    worker.submit(view(3))  # replaces 2, which never started
    fn.gate.set()
    qtbot.waitUntil(lambda: any(r.stamp == 3 for r in results))
    assert worker.rendered_stamps == [1, 3]
    assert [r.stamp for r in results] == [1, 3]


def test_worker_view_and_gallery_slots_are_independent(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)
    worker.submit(gallery(2))
    worker.submit(view(3))     # must not replace the gallery request
    worker.submit(gallery(4))  # replaces gallery 2 only
    fn.gate.set()
    qtbot.waitUntil(lambda: len(results) == 3)
    # The view slot goes first even though a gallery request was submitted before it.
    assert worker.rendered_stamps == [1, 3, 4]
    assert [(r.kind, r.stamp) for r in results] == [("view", 1), ("view", 3), ("gallery", 4)]
    assert results[2].seeds == (0, 1, 2)


class BlockwiseRender(FakeRender):
    """Like a network: a checkpoint between 'blocks' (here: gate polls) where a render may be stopped."""

    def __call__(self, request: RenderRequest) -> RenderResult:
        from editor.model.interrupt import checkpoint
        if request.stamp in self.block:
            self.entered.set()
            while not self.gate.wait(0.01):
                checkpoint()
        return RenderResult(request.stamp, request.kind, request.state, request.size or 8, seeds=request.seeds)


@pytest.mark.parametrize("then", ["full", "frame"])
def test_a_drag_frame_under_way_is_stopped_for_a_waiting_full_render_not_for_another_frame(qtbot, then):
    fn = BlockwiseRender(block={1})
    worker = RenderWorker(fn)
    results: list[RenderResult] = []
    worker.rendered.connect(results.append)
    try:
        worker.submit(RenderRequest(1, FAKE_STATE, 32))  # a drag frame, held at its checkpoints
        qtbot.waitUntil(fn.entered.is_set)
        worker.submit(RenderRequest(2, FAKE_STATE, None if then == "full" else 32))
        if then == "full":  # released: the frame is dropped mid-render, the full render comes at once
            qtbot.waitUntil(lambda: [r.stamp for r in results] == [2], timeout=5000)
            assert worker.stopped_stamps == [1] and worker.rendered_stamps == [2]
        else:  # still dragging: the frame under way finishes and is shown, then the next
            qtbot.wait(100)
            assert results == [] and worker.stopped_stamps == []
            fn.gate.set()
            qtbot.waitUntil(lambda: [r.stamp for r in results] == [1, 2], timeout=5000)
    finally:
        fn.gate.set()
        worker.stop()


def _long_work(entered: threading.Event, seconds: float = 30.0):
    """Work that takes `seconds` between network blocks, as a big model's render or a photo import does."""
    from editor.model.interrupt import checkpoint
    entered.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        checkpoint()
        time.sleep(0.01)
    return "finished"


def test_closing_stops_long_renders_and_background_jobs_at_their_next_block(qtbot):
    """A 20 s render of a big model, or a 90 s photo import, must not hold the closing window: stop() stops
    the work under way at its next network block and nothing is reported."""
    from editor.qt.background import BackgroundWorker
    entered = threading.Event()
    worker = RenderWorker(lambda request: _long_work(entered))
    results = []
    worker.rendered.connect(results.append)
    worker.submit(view(1))  # a full render: never stopped for frames, but stopped for closing
    qtbot.waitUntil(entered.is_set)
    t0 = time.perf_counter()
    worker.stop()
    assert time.perf_counter() - t0 < 5.0 and worker.stopped_stamps == [1]  # the work alone takes 30 s

    entered.clear()
    jobs = BackgroundWorker(lambda: None)
    reported = []
    jobs.done.connect(lambda *a: reported.append(a))
    jobs.submit("project", 1, lambda gen: _long_work(entered))
    qtbot.waitUntil(entered.is_set)
    t0 = time.perf_counter()
    jobs.stop()
    assert time.perf_counter() - t0 < 5.0
    QCoreApplication.processEvents()
    assert results == [] and reported == []


def test_worker_stop_while_rendering(qtbot, fake_worker):
    fn, worker, results = fake_worker(block={1})
    worker.submit(view(1))
    qtbot.waitUntil(fn.entered.is_set)
    worker.submit(view(2))  # pending when stop comes: must be dropped

    stopped_at = []
    stopper = threading.Thread(target=lambda: (worker.stop(), stopped_at.append(time.perf_counter())))
    stopper.start()  # stop() waits for the render under way, so it runs beside the test
    qtbot.waitUntil(lambda: worker._abort)  # stop() has flagged the worker and is now waiting
    assert stopper.is_alive(), "stop() returned while a render was still running"
    released_at = time.perf_counter()
    fn.gate.set()
    stopper.join(10)
    assert not stopper.is_alive(), "stop() did not return after the render finished"
    assert stopped_at[0] - released_at < 2.0
    assert worker.isFinished()

    QCoreApplication.processEvents()  # deliver anything the worker might have queued
    assert worker.rendered_stamps == [1]  # 2 was never rendered
    assert results == []                  # and the result of 1 was not emitted after stop

    worker.submit(view(5))  # a stopped worker ignores new work and does not start again
    QCoreApplication.processEvents()
    assert not worker.isRunning()
    assert worker.rendered_stamps == [1] and results == []


# ============================================================================= document and panels
INFO = ModelInfo("fake", "fake", NUM_WS, tuple(2 ** (2 + i // 2) for i in range(NUM_WS)), dict(GROUPS),
                 "cpu", "float32")


@pytest.fixture
def panels(qtbot):
    """The panels bound to one document, wired as MainWindow wires them (doc.changed -> sync)."""
    doc = Document(FAKE_STATE)
    mix, source, adjust = MixPanel(doc, INFO), SourcePanel("a", doc), AdjustPanel(doc)
    for p in (mix, source, adjust):
        qtbot.addWidget(p)
        doc.changed.connect(p.sync)
    return SimpleNamespace(doc=doc, stack=doc.undo_stack, mix=mix, coarse=mix.groups["coarse"],
                           source=source, adjust=adjust)


def test_slider_drag_is_one_undo_step(panels):
    p = panels
    drag(p.coarse, 0.1, 0.3, 0.5)
    expected = FAKE_STATE.with_group_mix(GROUPS["coarse"], 0.5)
    assert p.stack.count() == 1
    assert p.doc.state == expected
    assert not p.doc.dragging

    p.stack.undo()
    assert p.doc.state == FAKE_STATE
    assert p.coarse.value() == 0.0 and p.mix.layers[0].value() == 0.0
    p.stack.redo()
    assert p.doc.state == expected
    assert p.coarse.value() == 0.5 and all(p.mix.layers[i].value() == 0.5 for i in GROUPS["coarse"])
    assert p.mix.layers[4].value() == 0.0
    assert p.stack.count() == 1  # syncing the widgets pushed nothing


def test_two_drags_are_two_undo_steps(panels):
    p = panels
    drag(p.coarse, 0.2, 0.4)
    drag(p.coarse, 0.6, 0.8)
    drag(p.adjust.psi, 0.9, 1.1)
    assert p.stack.count() == 3
    s1 = FAKE_STATE.with_group_mix(GROUPS["coarse"], 0.4)
    s2 = s1.with_group_mix(GROUPS["coarse"], 0.8)
    s3 = s2.with_psi(1.1)
    assert p.doc.state == s3
    p.stack.undo()
    assert p.doc.state == s2 and p.adjust.psi.value() == 0.7 and p.coarse.value() == 0.8
    p.stack.undo()
    assert p.doc.state == s1 and p.coarse.value() == 0.4
    p.stack.undo()
    assert p.doc.state == FAKE_STATE and p.coarse.value() == 0.0
    for _ in range(3):
        p.stack.redo()
    assert p.doc.state == s3 and p.coarse.value() == 0.8 and p.adjust.psi.value() == 1.1


def test_seed_changes_are_separate_steps(panels):
    p = panels
    for seed in (5, 6, 7):
        p.source.seed.setValue(seed)
    assert p.stack.count() == 3
    assert p.doc.state.source_a.seed == 7
    p.stack.undo()
    assert p.doc.state.source_a.seed == 6 and p.source.seed.value() == 6
    p.stack.undo()
    assert p.doc.state.source_a.seed == 5 and p.source.seed.value() == 5
    p.stack.redo()
    assert p.doc.state.source_a.seed == 6 and p.source.seed.value() == 6
    assert p.doc.state == FAKE_STATE.with_source("a", FAKE_STATE.source_a.from_seed(6))
    assert p.stack.count() == 3


def test_document_drives_the_widgets_without_echo(panels):
    p = panels
    seen = []
    p.doc.changed.connect(seen.append)
    new = (FAKE_STATE.with_group_mix(GROUPS["middle"], 0.75).with_layer_mix(12, 0.25).with_psi(0.9)
           .with_noise(mode="off", strength=1.5).with_source("a", FAKE_STATE.source_a.from_seed(42)))
    p.doc.set_state(new, "Load")
    assert p.stack.count() == 1 and seen == [new]  # one command, one change: the widgets did not echo
    assert p.doc.state == new
    assert p.mix.groups["middle"].value() == 0.75 and p.coarse.value() == 0.0
    assert p.mix.layers[12].value() == 0.25 and p.mix.layers[5].value() == 0.75
    assert p.mix.groups["fine"].value() == round(0.25 / 13, 2)  # the mean of its rows
    assert p.adjust.psi.value() == 0.9 and p.adjust.strength.value() == 1.5
    assert p.adjust.noise_mode.currentText() == "off"
    assert p.source.seed.value() == 42
    p.stack.undo()
    assert p.doc.state == FAKE_STATE and len(seen) == 2 and p.stack.count() == 1
    assert p.mix.groups["middle"].value() == 0.0 and p.adjust.noise_mode.currentText() == "const"
    assert p.source.seed.value() == 0


# ===================================================================== main window on the real model
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


def test_window_renders_and_the_mix_slider_changes_the_face(qtbot, gen, make_window):
    assert gen.num_ws == NUM_WS and dict(gen.layer_groups) == GROUPS
    w = make_window(new_state(gen, 3, 4))
    first = full_render(qtbot, w)
    assert first.error is None and first.size == gen.resolution == 1024
    assert w.view.image.shape == (1024, 1024, 3) and np.array_equal(w.view.image, first.images[0])
    assert w.view.item.image.shape == (1024, 1024, 3)
    assert first.images[0].std() > 20  # a face, not a flat colour

    moved = full_render(qtbot, w, lambda: drag(w.mix.groups["coarse"], 0.4, 0.8, 1.0))
    assert w.doc.state.mix == (1.0,) * 4 + (0.0,) * 19
    assert w.doc.undo_stack.count() == 1
    assert np.array_equal(w.view.image, moved.images[0])
    assert np.abs(moved.images[0].astype(int) - first.images[0]).mean() > 5  # pose/shape of B

    # Mixing endpoint: with every row from B, the face is exactly the face of seed B on its own.
    drag(w.mix.groups["middle"], 1.0)
    all_b = full_render(qtbot, w, lambda: drag(w.mix.groups["fine"], 1.0))
    assert w.doc.state.mix == (1.0,) * NUM_WS and w.doc.undo_stack.count() == 3
    only_b = full_render(qtbot, w, lambda: w.doc.set_state(new_state(gen, 4, 77)))
    assert np.array_equal(all_b.images[0], only_b.images[0])
    assert np.array_equal(all_b.wplus, only_b.wplus)
    # The document drove the widgets back, and that pushed no command of its own.
    assert w.mix.groups["fine"].value() == 0.0 and w.source_a.seed.value() == 4
    assert w.doc.undo_stack.count() == 4

    undone = full_render(qtbot, w, w.doc.undo_stack.undo)
    assert w.doc.state.mix == (1.0,) * NUM_WS and w.mix.groups["coarse"].value() == 1.0
    assert np.array_equal(undone.images[0], all_b.images[0])


def test_export_png_then_open_it_in_a_fresh_window(qtbot, gen, make_window, tmp_path):
    w = make_window(new_state(gen, 3, 4))
    state = new_state(gen, 3, 4).with_group_mix(GROUPS["middle"], 0.6).with_psi(0.8).with_noise(strength=0.5)
    photo = full_render(qtbot, w, lambda: w.doc.set_state(state))
    # Paint it through the panel: the style and a strength drag are two undo steps and show live.
    shown = full_render(qtbot, w, lambda: (w.paint.style.setCurrentIndex(w.paint.style.findData("oil")),
                                           drag(w.paint.strength, 0.5, 0.8)))
    state = state.with_paint("oil", 0.8)
    assert w.doc.state == state and w.doc.undo_stack.count() == 3
    assert np.abs(shown.images[0].astype(int) - photo.images[0]).mean() > 2
    assert np.array_equal(shown.images[0], paint(photo.images[0], "oil", 0.8))
    path = tmp_path / "face.png"
    w.files.export(str(path))
    qtbot.waitUntil(path.exists)
    png = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(png, shown.images[0])

    w2 = make_window(new_state(gen, 10, 11))
    opened = full_render(qtbot, w2, lambda: w2.files.open_edit(str(path)))
    assert w2.doc.state == state
    assert w2.doc.undo_stack.count() == 1  # opening is one undoable step
    assert np.array_equal(opened.images[0], png)


def test_save_latent_and_load_it_as_source_b(qtbot, gen, make_window, tmp_path):
    w = make_window(new_state(gen, 3, 4).with_group_mix(GROUPS["coarse"], 0.5))
    shown = full_render(qtbot, w)
    path = tmp_path / "face_w.npz"
    w.files.save_latent(str(path))
    qtbot.waitUntil(path.exists)
    with np.load(path) as z:
        saved = z["w"]
    assert saved.shape == (1, 23, 512) and saved.dtype == np.float32
    assert np.array_equal(saved[0], shown.wplus)

    assert w.files.load_latent(str(path), "b")
    b = w.doc.state.source_b
    assert b.kind == "latent" and np.array_equal(b.w, saved[0]) and b.display_name == "face_w.npz"
    assert "face_w.npz" in w.windowTitle()
    # All rows from B at psi 1 render B's w+ exactly as saved: the same face, pixel for pixel.
    again = full_render(qtbot, w, lambda: w.doc.set_state(w.doc.state.with_group_mix(ALL_ROWS, 1.0).with_psi(1.0)))
    assert np.array_equal(again.wplus, shown.wplus)
    assert np.array_equal(again.images[0], shown.images[0])


def test_bad_files_report_one_error_and_leave_the_edit(qtbot, gen, make_window, tmp_path, monkeypatch):
    from tests.ckpt_fixtures import tiny_net, write_nvidia_pickle

    errors = []

    def record(self, title, message):
        errors.append(SimpleNamespace(title=title, message=message,
                                      gui_thread=threading.current_thread() is threading.main_thread()))

    monkeypatch.setattr(MainWindow, "error", record)
    w = make_window(new_state(gen, 3, 4).with_group_mix(GROUPS["fine"], 0.5))
    first = full_render(qtbot, w)
    before, steps = w.doc.state, w.doc.undo_stack.count()

    good = tmp_path / "good.png"
    io.export_image(good, first.images[0], before, gen.name)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    plain = tmp_path / "plain.png"
    Image.fromarray(first.images[0][::8, ::8]).save(plain)
    wrong = tmp_path / "wrong_shape.npy"
    np.save(wrong, np.zeros((5, 512), np.float32))
    wrong_dim = tmp_path / "wrong_dim.npy"
    np.save(wrong_dim, np.zeros((23, 100), np.float32))

    def check(name: str) -> None:
        assert len(errors) == 1, [e.message for e in errors]
        assert name in errors[0].message
        assert errors[0].gui_thread, "the error dialog would be shown from a worker thread"
        assert w.doc.state == before and w.doc.undo_stack.count() == steps
        errors.clear()

    assert w.files.open_edit(str(corrupt)) is False
    check("corrupt.png")
    offered = []
    monkeypatch.setattr(w.files, "offer_photo_import", lambda path: offered.append(path) or False)
    assert w.files.open_edit(str(plain)) is False  # no edit in it: offered as a photo, declined
    assert offered == [str(plain)] and errors == []
    assert w.doc.state == before and w.doc.undo_stack.count() == steps
    assert w.files.load_latent(str(wrong), "b") is False
    check("wrong_shape.npy")
    w.files.open_any(str(wrong_dim))  # the drop / recent-files route
    check("wrong_dim.npy")

    full = write_nvidia_pickle(tmp_path / "full.pkl", tiny_net())
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    w.files.open_model(str(truncated))
    loader = w.files._loader
    qtbot.waitUntil(lambda: len(errors) == 1 and loader.isFinished(), timeout=30_000)
    check("truncated.pkl")
    assert w.gen is gen
    assert not [d for d in w.findChildren(QProgressDialog) if d.isVisible()]

    # Still alive: a new edit renders.
    after = full_render(qtbot, w, lambda: w.source_a.seed.setValue(8))
    assert after.error is None and after.state.source_a.seed == 8
    assert not np.array_equal(after.images[0], first.images[0])
    assert errors == []


def test_recent_files_written_by_an_earlier_run(qtbot, gen, make_window, tmp_path):
    """QSettings' INI format stores a one-item list as a plain string; read back in a later run it must
    still be a list of paths, not the characters of one path."""
    (tmp_path / "recent.ini").write_text("[files]\nrecent=/earlier/face.png\n")
    w = make_window(new_state(gen, 3, 4), settings_file="recent.ini")
    latent = tmp_path / "w.npy"
    np.save(latent, np.zeros((1, 512), np.float32))
    assert w.files.load_latent(str(latent), "b")
    assert list(w.settings.value("files/recent")) == [str(latent), "/earlier/face.png"]
    w.files.fill_recent_menu()
    assert [a.text() for a in w.recent_menu.actions()] == [str(latent), "/earlier/face.png"]


# ========================================================================================= main.py
def test_main_screenshot(tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "main.py", "--seed", "3", "--screenshot", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Image.open(out) as im:
        shot = np.asarray(im.convert("RGB"))
    h, w, _ = shot.shape
    assert w > 800 and h > 600
    centre = shot[h // 2 - 100:h // 2 + 100, w // 2 - 100:w // 2 + 100].astype(float)
    assert centre.std() > 10, "the centre of the window (the face) is flat"
    assert len(np.unique(centre.reshape(-1, 3), axis=0)) > 1000
    assert not (tmp_path / "data" / "face-editor" / "autosave.json").exists()  # a clean exit


# =================================================================== direction tools in the window
def test_direction_sliders_locks_sefa_and_teaching(qtbot, gen, make_window):
    from editor.directions import load_library
    w = make_window(new_state(gen, 3, 4))
    base = full_render(qtbot, w)
    # The shipped directions have sliders; moving age changes the face, and the reach is the manifest's.
    age = w.directions_panel.sliders["age"]
    assert age.hi == pytest.approx(6.0)
    older = full_render(qtbot, w, lambda: drag(age, 2.0, 4.0))
    assert w.doc.state.direction_amount("age") == pytest.approx(4.0)
    assert not np.array_equal(older.images[0], base.images[0])
    # "Keep age" is part of the edit, and undoable.
    w.directions_panel.locks["age"].setChecked(True)
    assert w.doc.state.locks == ("age",)
    w.doc.undo_stack.undo()
    assert w.doc.state.locks == () and not w.directions_panel.locks["age"].isChecked()

    # SeFa: components appear as sliders, move the face, and one can be saved under a name.
    with qtbot.waitSignal(w.sefa.directions_changed, timeout=30_000):
        w.sefa.compute.click()
    assert len(w.sefa.sliders) == 5
    first = next(iter(w.sefa.sliders))
    moved = full_render(qtbot, w, lambda: drag(w.sefa.sliders[first], 2.5))
    assert not np.array_equal(moved.images[0], older.images[0])
    from PySide6.QtWidgets import QInputDialog
    orig = QInputDialog.getText
    QInputDialog.getText = staticmethod(lambda *a, **k: ("jaw", True))
    try:
        w.sefa.save(first)
    finally:
        QInputDialog.getText = orig
    assert "jaw" in w.directions_panel.sliders
    assert "jaw" in load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0]

    # Teach: five faces with the trait, five without -> a new slider, saved in the user's library.
    assert not w.teach.fit_button.isEnabled()
    assert w.teach.counts.text() == "has it: none yet · lacks it: none yet (at least 5 each)"
    for seed, has in [(s, True) for s in (1, 2, 3, 8, 11)] + [(s, False) for s in (0, 4, 5, 7, 9)]:
        w.source_a.seed.setValue(seed)
        (w.teach.has_button if has else w.teach.lacks_button).click()
    assert w.teach.counts.text().startswith("has it: 5 (seeds 1, 2, 3, 8, 11) · lacks it: 5 (seeds 0, 4, 5, 7, 9)")
    assert w.teach.fit_button.isEnabled()
    w.teach.name.setText("manly")
    w.teach.fit_button.click()
    qtbot.waitUntil(lambda: "manly" in w.directions_panel.sliders, timeout=30_000)
    d = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0]["manly"]
    # Seeds 1, 2, 3, 8, 11 are men, 0, 4, 5, 7, 9 women (by eye): the taught direction leans towards the
    # fitted gender normal (cosine 0.43 here; unrelated directions in 512-d are at about +-0.05).
    assert d.vector @ w.library_dirs["gender"].vector > 0.3


def test_import_photo_projects_into_source_b_without_writing_anything(qtbot, gen, make_window, tmp_path):
    from editor.model import to_uint8
    from editor.qt.files import autosave_path
    face = to_uint8(gen.synthesis(gen.mapping(gen.z_from_seed(900010), psi=0.7)))[0]
    canvas = np.full((1200, 1200, 3), 110, np.uint8)
    canvas[88:1112, 88:1112] = face
    photo = tmp_path / "me.jpg"
    Image.fromarray(canvas).save(photo, quality=95)
    w = make_window(new_state(gen, 3, 4))
    full_render(qtbot, w)
    before = set(tmp_path.rglob("*"))
    w.photos.import_photo(str(photo))  # faces are found on the background thread, a busy dialog meanwhile
    assert w.photos.finding is not None and w.photos.finding.isVisible()
    qtbot.waitUntil(lambda: w.photos.dialog is not None, timeout=60_000)
    dialog = w.photos.dialog
    dialog.which.setCurrentText("B")
    dialog.seconds.setValue(16)  # the whole import: a few projection steps, then a few tuning steps
    dialog.start_button.click()
    # Editing stays live while the photo projects: a new A is rendered and shown meanwhile.
    qtbot.waitUntil(lambda: w.background.running == "project", timeout=30_000)
    live = full_render(qtbot, w, lambda: w.source_a.seed.setValue(5))
    assert live.state.source_a.seed == 5 and w.background.running == "project"
    qtbot.waitUntil(lambda: w.doc.state.source_b.kind == "latent", timeout=90_000)
    src = w.doc.state.source_b
    assert src.display_name == "photo: me.jpg" and isinstance(src.delta, WeightDelta)
    assert dialog.bar.value() >= 1 and "tuning" in dialog.status.text()
    assert w.meters.photos[src].shape == (128,)  # the identity meter's reference, in memory
    w.files.autosave_now()
    # The photo's latent is not written behind the user's back (an autosave of the edit before it may stay).
    assert not autosave_path().exists() or "me.jpg" not in autosave_path().read_text()
    # Settings (.ini), that autosave, and onnxruntime's own state in the cache folder (the meters run its age
    # model) only.
    cache, data = tmp_path / "xdg-cache", tmp_path / "xdg-data"
    written = {p for p in set(tmp_path.rglob("*")) - before
               if p not in (cache, data) and cache not in p.parents and data not in p.parents}
    assert written <= {p for p in tmp_path.rglob("*") if p.suffix == ".ini"}
    # Saving the session writes the delta beside it (never the photo); opening it brings the delta back.
    (tmp_path / "s").mkdir()
    w.files.save_session(str(tmp_path / "s" / "me.json"))
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(["me.json", f"{src.delta.digest}.delta.safetensors"])
    w.doc.set_state(new_state(gen, 3, 4), "reset")
    assert w.files.open_edit(str(tmp_path / "s" / "me.json"))
    assert w.doc.state.source_b.delta == src.delta and isinstance(w.doc.state.source_b.delta, WeightDelta)
    # Forget photo: B becomes a seed again and the delta file is gone; the session itself stays.
    assert w.photos.forget() == 1
    assert w.doc.state.source_b.kind == "seed" and not w.meters.photos
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["me.json"]
    # No face: a message naming the file, and nothing changes.
    errors = []
    w.error = lambda title, msg: errors.append(msg)
    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 300), (200, 200, 200)).save(blank)
    state = w.doc.state
    w.photos.dialog = None
    w.photos.import_photo(str(blank))
    qtbot.waitUntil(lambda: len(errors) > 0, timeout=60_000)
    assert len(errors) == 1 and "wall.png" in errors[0] and w.doc.state == state and w.photos.dialog is None


def test_sefa_rows_are_the_users_and_each_component_gets_a_measured_reach(qtbot, gen, make_window, monkeypatch):
    import editor.directions.reach as reach
    # Test faces of the tiny model are noise to dlib; here a 'face' is any image brighter than 100 on average,
    # so the reach is where the component darkens or brightens the test faces past that.
    monkeypatch.setattr(reach, "faces_found", lambda images: images.reshape(len(images), -1).mean(1) > 100)
    w = make_window(new_state(gen, 3, 4))
    full_render(qtbot, w)
    w.sefa.first.setValue(2)
    w.sefa.last.setValue(5)
    assert w.sefa.group.currentText() == "custom" and w.sefa.rows() == range(2, 6)
    with qtbot.waitSignal(w.sefa.directions_changed, timeout=30_000):
        w.sefa.compute.click()
    assert all(d.layers == range(2, 6) for d in w.sefa.directions.values())
    assert all(s.hi == w.sefa.PROVISIONAL for s in w.sefa.sliders.values())  # until measured
    qtbot.waitUntil(lambda: not w.sefa.reach_pending, timeout=120_000)
    reaches = {n: d.range for n, d in w.sefa.directions.items()}
    for name, s in w.sefa.sliders.items():
        assert s.hi == reaches[name] and s.lo == -reaches[name] and "measured" in s.toolTip()
    assert all(r % 0.5 == 0 and 0.5 <= r <= 5.0 for r in reaches.values())
    assert w.directions[next(iter(reaches))].range == reaches[next(iter(reaches))]  # the renderer has them too
    w.sefa.group.setCurrentText("fine")
    assert w.sefa.rows() == gen.layer_groups["fine"]
