"""While dragging, the window shows only faithful frames: trusted preview sizes, else full renders
(each the face the user will get), and never asks twice for a full render it already has."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")


@pytest.fixture
def window(qtbot, make_default_window, monkeypatch):
    w = make_default_window(seed_a=5, seed_b=6)
    qtbot.waitUntil(lambda: w.last_full is not None and w.last_full.state == w.doc.state, timeout=60_000)
    sent = []
    submit = w.worker.submit
    monkeypatch.setattr(w.worker, "submit", lambda r: (sent.append(r), submit(r)))
    return w, sent


def drag_coarse(w, *values):
    s = w.mix.groups["coarse"].slider
    s.setSliderDown(True)
    for v in values:
        s.setSliderPosition(round(v * (s.maximum() - s.minimum())) + s.minimum())


def test_a_face_shown_small_drags_as_exact_half_size_frames(qtbot, window, monkeypatch):
    """Up to 1.5x the exact size on screen, a drag renders the full render's own 2x2 mean (512² for the
    default model): the same pixels as shrinking the full render, labelled 'exact' in the status bar."""
    import numpy as np
    from PIL import Image
    w, sent = window
    monkeypatch.setattr(w.view, "shown_pixels", lambda: 700.0)
    monkeypatch.setattr(w, "_rest", SimpleNamespace(start=lambda *a: None, stop=lambda: None))  # a long hold
    drag_coarse(w, 0.4)
    assert [r.size for r in sent if r.kind == "view"] == [512]
    qtbot.waitUntil(lambda: w._on_screen is not None and w._on_screen.shape[0] == 512, timeout=60_000)
    assert "exact 512²" in w.ms_label.text()
    frame, state = w._on_screen, w.doc.state
    w.mix.groups["coarse"].slider.setSliderDown(False)
    qtbot.waitUntil(lambda: w.last_full is not None and w.last_full.state == state, timeout=60_000)
    shrunk = np.asarray(Image.fromarray(w.last_full.images[0]).resize((512, 512), Image.BOX)).astype(int)
    assert np.abs(shrunk - frame.astype(int)).mean() < 1.0  # bf16 or fp32 rounding only
    monkeypatch.setattr(w.view, "shown_pixels", lambda: 800.0)  # larger on screen: full frames again ...
    w._render_ms[1024] = 60.0  # ... where full renders keep up with a drag (a GPU)
    drag_coarse(w, 0.7)
    assert [r.size for r in sent if r.kind == "view"][-1] is None


def test_where_full_frames_cannot_keep_up_a_larger_face_drags_exact_up_to_twice_its_size(qtbot, window, monkeypatch):
    w, sent = window
    monkeypatch.setattr(w, "_rest", SimpleNamespace(start=lambda *a: None, stop=lambda: None))
    w._render_ms[1024] = 150.0  # a CPU: 6-7 full frames a second
    for shown, size in ((800.0, 512), (1024.0, 512), (1100.0, None)):  # past 1:1 of the full render: full
        monkeypatch.setattr(w.view, "shown_pixels", lambda shown=shown: shown)
        drag_coarse(w, 0.2 + len(sent) * 0.01)
        assert [r.size for r in sent if r.kind == "view"][-1] == size, shown
    # The figure follows the renders: fast full renders bring full frames back at 800 px.
    for _ in range(8):
        w._note_ms(1024, 40.0)
    monkeypatch.setattr(w.view, "shown_pixels", lambda: 800.0)
    drag_coarse(w, 0.9)
    assert [r.size for r in sent if r.kind == "view"][-1] is None


def test_untrusted_previews_are_never_requested_drags_render_full(qtbot, window, monkeypatch):
    w, sent = window
    monkeypatch.setattr(w.view, "shown_pixels", lambda: 1100.0)  # past 1:1: no exact frames
    monkeypatch.setattr(w.gen, "trusted_preview_sizes", ())
    drag_coarse(w, 0.2, 0.5)
    views = [r for r in sent if r.kind == "view"]
    assert len(views) == 2 and all(r.size is None for r in views)  # full renders, no preview
    # Input rests: the full render of this state was already asked for, so nothing new is sent.
    qtbot.waitUntil(lambda: w.last_full is not None and w.last_full.state == w.doc.state, timeout=60_000)
    qtbot.wait(400)  # past the rest timer
    assert len([r for r in sent if r.kind == "view"]) == 2
    assert "full 1024²" in w.ms_label.text()


def test_only_trusted_preview_sizes_are_used(qtbot, window, monkeypatch):
    w, sent = window
    assert set(w.gen.preview_sizes) == {256, 512}
    monkeypatch.setattr(w.view, "shown_pixels", lambda: 1100.0)
    monkeypatch.setattr(w.gen, "trusted_preview_sizes", (256,))
    w._render_ms = {512: 1.0}  # 512 would be fast enough, but it is not trusted
    drag_coarse(w, 0.3, 0.6)
    assert [r.size for r in sent if r.kind == "view"] == [256, 256]
    w.mix.groups["coarse"].slider.setSliderDown(False)
    qtbot.waitUntil(lambda: w.last_full is not None and w.last_full.state == w.doc.state, timeout=60_000)
    assert [r for r in sent if r.kind == "view"][-1].size is None


def test_gallery_pages_render_in_chunks_the_view_can_overtake(qtbot, window):
    w, sent = window
    w.gallery.show_page(1)
    qtbot.waitUntil(lambda: all(not t.icon().isNull() and t.text() == "" for t in w.gallery.thumbs), timeout=120_000)
    chunks = [r.seeds for r in sent if r.kind == "gallery"]
    assert all(1 <= len(c) <= 3 for c in chunks)
    assert sum(chunks, ()) == w.gallery.seeds()  # the page, in order, each seed once


def test_bench_ui_drags_every_slider_the_issue_names(window):
    """bench-ui --all-drags: the mixing groups, truncation, each direction, and a W+ latent whose rows
    disagree (as a projected photo's), each from the same start."""
    import numpy as np
    from tools.bench_ui import _drag_plan
    w, _ = window
    base = w.doc.state
    assert [n for n, _, _ in _drag_plan(w, w.gen, base, False)] == ["coarse", "middle", "fine"]
    plan = _drag_plan(w, w.gen, base, True)
    names = [n for n, _, _ in plan]
    assert names[:4] == ["coarse", "middle", "fine", "psi"] and names[-1] == "W+ coarse"
    assert set(names[4:-1]) == set(w.directions_panel.sliders) and len(names[4:-1]) >= 5
    assert all(state is base for n, _, state in plan[:-1])
    rows = np.asarray(plan[-1][2].source_a.w)
    assert rows.shape == (w.gen.num_ws, w.gen.w_dim) and np.std(rows, axis=0).mean() > 0.1
