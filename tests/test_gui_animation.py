"""File › Export animation… on the real default model: frames render on the dialog's own thread (not the
GUI thread, not the view's render worker), editing goes on during an export, the export is the edit as it
was when it started, the preview shows frames, and Cancel leaves no file. Offscreen; waits on conditions."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")
from PySide6.QtCore import QThread  # noqa: E402

from editor.motion import frames as motion_frames  # noqa: E402
from editor.qt import animation_dialog  # noqa: E402
from editor.render import RenderRequest, render  # noqa: E402
from tests.support import LongWork, full_render, new_state  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")


@pytest.fixture
def gated(monkeypatch):
    """Jobs stop after their first frame until the test opens `gate`; where each ran is recorded."""
    box = {"gate": threading.Event(), "reached": threading.Event(), "threads": []}

    def render_animation(gen, frames, directions, size, writer, progress, cancelled, on_frame):
        box["threads"].append((threading.get_ident(), QThread.currentThread()))

        def step(i, n):
            progress(i, n)
            if i == 1:
                box["reached"].set()
                assert box["gate"].wait(120), "the test never opened the gate"
        return motion_frames.render_animation(gen, frames, directions, size, writer, progress=step,
                                              cancelled=cancelled, on_frame=on_frame)
    monkeypatch.setattr(animation_dialog, "render_animation", render_animation)
    return box


def open_dialog(w):
    action = next(a for a in w.menuBar().actions()[0].menu().actions() if a.text() == "Export &animation…")
    action.trigger()
    d = w.animation_dialog
    assert d is not None and d.isVisible()
    return d


def test_export_runs_beside_editing_and_is_the_edit_it_started_from(qtbot, gen, make_window, tmp_path, gated):
    w = make_window(new_state(gen, 3, 4))
    full_render(qtbot, w)
    start = w.doc.state
    d = open_dialog(w)
    d.kind.setCurrentIndex(list(animation_dialog.KINDS).index("morph"))
    d.frames.setValue(3)
    d.size.setValue(64)
    d.export_to(str(tmp_path / "frames"))  # no suffix: a folder of PNGs, exact pixels to compare
    job = d.job
    qtbot.waitUntil(gated["reached"].is_set, timeout=60_000)

    # Mid-export (the job is held after frame 1): the view still renders a new edit to full resolution.
    shown = full_render(qtbot, w, lambda: w.doc.set_state(w.doc.state.with_psi(0.3), "psi"))
    assert shown.error is None and shown.state.psi == 0.3
    assert job.isRunning() and not d.export_button.isEnabled() and d.cancel_button.isEnabled()

    with qtbot.waitSignal(job.done, timeout=120_000):
        gated["gate"].set()
    ident, thread = gated["threads"][0]
    assert ident != threading.get_ident() and thread is job and thread is not w.worker
    assert d.picture.pixmap() is not None and not d.picture.pixmap().isNull()
    assert "Exported" in d.status.text() and d.export_button.isEnabled()

    # The frames are the edit as it was when the export started (psi 0.7), A alone to B alone.
    pngs = sorted((tmp_path / "frames").iterdir())
    assert len(pngs) == 3
    for png, mix in ((pngs[0], 0.0), (pngs[-1], 1.0)):
        expected = render(gen, RenderRequest(0, start.with_group_mix(range(gen.num_ws), mix)), w.directions)
        got = np.asarray(Image.open(png))
        assert np.array_equal(got, motion_frames.resize_frame(expected.images[0], 64)), png.name


def test_preview_plays_frames_and_cancel_leaves_the_old_file(qtbot, gen, make_window, tmp_path, gated):
    w = make_window(new_state(gen, 5, 6))
    d = open_dialog(w)
    d.kind.setCurrentIndex(list(animation_dialog.KINDS).index("sweep"))
    d.target.setCurrentText("age")
    assert (d.sweep_from.value(), d.sweep_to.value()) == (-w.directions["age"].range, w.directions["age"].range)
    d.frames.setValue(4)
    gated["gate"].set()  # the preview runs straight through
    d.preview()
    with qtbot.waitSignal(d.job.done, timeout=120_000):
        pass
    assert len(d._preview) == 4 and d.status.text().startswith("Preview: 4 frames")
    qtbot.waitUntil(lambda: d._shown != 0, timeout=10_000)  # it plays

    target = tmp_path / "c.mp4"
    target.write_bytes(b"an older export")
    gated["gate"].clear()
    gated["reached"].clear()
    d.size.setValue(64)
    d.export_to(str(target))
    job = d.job
    qtbot.waitUntil(gated["reached"].is_set, timeout=60_000)
    d.cancel_button.click()
    with qtbot.waitSignal(job.cancelled, timeout=60_000):
        gated["gate"].set()
    assert target.read_bytes() == b"an older export" and [p.name for p in tmp_path.iterdir()] == ["c.mp4"]
    assert d.status.text().startswith("Cancelled") and d.export_button.isEnabled()


def test_a_bad_walk_keyframe_is_reported_in_the_dialog(qtbot, gen, make_window):
    w = make_window(new_state(gen, 1, 2))
    d = open_dialog(w)
    d.kind.setCurrentIndex(list(animation_dialog.KINDS).index("walk"))
    d.walk_seeds.setText("1, two, 3")
    d.preview()
    assert d.job is None and "keyframes must be seeds" in d.status.text()


def test_cancel_stops_an_export_inside_its_frame_and_leaves_no_file(qtbot, tmp_path, monkeypatch):
    """A frame of a big model takes seconds on a CPU: Cancel stops it at its next network block, not after it,
    and the partial file goes, as for a cancel between frames."""
    work = LongWork()  # the second frame: 30 s of network blocks unless stopped

    def slow(gen, frames, directions, size, writer, progress, cancelled, on_frame):
        with writer:
            writer.write(np.zeros((size, size, 3), np.uint8))
            work()
        return 2
    monkeypatch.setattr(animation_dialog, "render_animation", slow)
    path = tmp_path / "walk.gif"
    job = animation_dialog.AnimationJob(None, {}, lambda gen: [None, None], 64, 12.0, str(path))
    job.start()
    qtbot.waitUntil(work.entered.is_set, timeout=60_000)
    with qtbot.waitSignal(job.cancelled, timeout=60_000):  # liveness limits, not speed bounds
        job.cancel()
    assert job.wait(60_000)
    assert work.stopped and work.done < work.blocks  # stopped inside the frame, at a block, not after it
    assert list(tmp_path.iterdir()) == []


def test_each_kind_shows_its_own_rows_in_the_dialogs_one_form(qtbot, gen, make_window):
    """The kinds' rows share the dialog's label column and only the chosen kind's show (nested pages had a
    label column of their own and left the tallest page's height empty under the others)."""
    dialog = animation_dialog.open_animation_dialog(make_window(new_state(gen, 1, 2)))
    form = dialog.form
    labels = {form.labelForField(w).text(): form.labelForField(w) for rows in dialog.kind_rows for _, w in rows
              if form.labelForField(w) is not None and form.labelForField(w).text()}
    assert {"Order", "Direction or slider", "Keyframes", "Noise strength"} <= set(labels)
    column = form.labelForField(dialog.frames).x()
    heights = []
    for index, rows in enumerate(dialog.kind_rows):
        dialog.kind.setCurrentIndex(index)
        qtbot.wait(50)
        for i, others in enumerate(dialog.kind_rows):
            assert all(w.isVisible() == (i == index) for _, w in others), (index, i)
        assert all(label.x() == column for label in labels.values() if label.isVisible())
        heights.append(dialog.height())
    assert heights[3] < heights[1]  # the noise loop's one row is shorter than the sweep's four
