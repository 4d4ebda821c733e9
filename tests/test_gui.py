"""The main window on the real default model: renders and mixing, export and reopen, latents, bad files,
recent files, `main.py --screenshot`, the direction tools, photo import and SeFa.

Run offscreen (QT_QPA_PLATFORM=offscreen). Nothing here sleeps: waits are on signals or conditions.
Every test gets its own XDG data/config folders, so autosave, settings and user directions stay in tmp.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")
from PySide6.QtWidgets import QProgressDialog  # noqa: E402

from editor import io  # noqa: E402
from editor.paint import paint  # noqa: E402
from editor.photo.delta import WeightDelta  # noqa: E402
from editor.qt.main_window import MainWindow  # noqa: E402

from tests.support import ALL_ROWS, GROUPS, NUM_WS, drag, full_render, new_state  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")

ROOT = Path(__file__).resolve().parents[1]


# ===================================================================== main window on the real model

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
    from tests.support import tiny_net, write_nvidia_pickle

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
    qtbot.wait(50)  # laid out: each component's slider is about as long as a direction's (its Save button
    widths = [s.slider.width() for s in w.sefa.sliders.values()]  # left it 25 px of the directions' 93)
    assert min(widths) >= 0.8 * w.directions_panel.sliders["age"].slider.width(), widths
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


def test_a_photo_with_several_faces_asks_which_with_pictures(qtbot, gen, make_window):
    """The choice shows each face's aligned crop; an unsure find says so and is not the one offered first;
    the face picked is the one the import dialog fits."""
    from PySide6.QtWidgets import QDialogButtonBox

    from editor.measures.align import UNSURE, Face
    w = make_window(new_state(gen, 3, 4))
    crops = [np.full((1024, 1024, 3), v, np.uint8) for v in (40, 120, 200)]
    faces = [(Face((10, 10, 200, 200), np.zeros((5, 2)), UNSURE / 2), crops[0]),
             (Face((300, 10, 400, 110), np.zeros((5, 2)), 2.0), crops[1]),
             (Face((500, 10, 590, 100), np.zeros((5, 2)), 1.0), crops[2])]
    w.photos._choose(faces, "group.jpg", None)
    chooser = w.photos.chooser
    assert chooser is not None and chooser.isVisible() and w.photos.dialog is None
    items = [chooser.list.item(i) for i in range(chooser.list.count())]
    assert [i.text().splitlines()[0] for i in items] == ["face 1", "face 2", "face 3"]
    assert "maybe no face" in items[0].text() and "maybe" not in items[1].text()
    icon = items[2].icon().pixmap(160, 160).toImage()
    assert not icon.isNull() and icon.pixelColor(80, 80).red() == 200  # the crop itself, shrunk
    assert chooser.list.currentRow() == 1  # the unsure find is not the default
    chooser.list.setCurrentRow(2)
    chooser.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert w.photos.chooser is None and w.photos.dialog is not None
    assert w.photos.dialog.face is crops[2]
    w.photos.dialog.close()


def test_import_photo_projects_into_source_b_without_writing_anything(qtbot, gen, make_window, tmp_path,
                                                                     monkeypatch):
    from editor.model import to_uint8
    from editor.photo import importer
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
    qtbot.waitUntil(lambda: dialog.costs is not None, timeout=60_000)  # measured before it starts
    assert "on this machine" in dialog.estimate.text()
    dialog.preset.setCurrentText("custom")  # a few pivot, tuning and detail steps, each kept (the flow, not the check)
    for box, n in zip(dialog.steps, (3, 3, 4)):
        box.setValue(n)
    fits = iter(range(100))  # each stage's check sees a better fit (tests/test_photo.py tests the check itself)
    monkeypatch.setattr(importer, "fit_measures", lambda *a: (20.0 + next(fits), 10.0))
    dialog.start_button.click()
    # Editing stays live while the photo projects: a new A is rendered and shown meanwhile.
    qtbot.waitUntil(lambda: w.background.running == "project", timeout=30_000)
    live = full_render(qtbot, w, lambda: w.source_a.seed.setValue(5))
    assert live.state.source_a.seed == 5 and w.background.running == "project"
    qtbot.waitUntil(lambda: w.doc.state.source_b.kind == "latent", timeout=180_000)
    src = w.doc.state.source_b
    assert src.display_name == "photo: me.jpg" and isinstance(src.delta, WeightDelta)
    assert dialog.bar.value() >= 1 and "fitting the detail" in dialog.status.text()  # the last stage
    assert src.delta.maps  # the detail maps travel with the tuned weights
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

