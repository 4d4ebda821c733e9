"""Crossbreed panel and Variations on the real default model: parents are undoable edits that render,
save and reopen; children render on the render worker, adopting one is an undoable edit, the history strip
goes back. Offscreen; waits on signals."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from editor import io  # noqa: E402
from editor.render import RenderRequest, render  # noqa: E402
from tests.support import drag, full_render, new_state  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")


def test_parents_are_undoable_edits_that_render_and_reopen(qtbot, gen, make_window, tmp_path):
    w = make_window(new_state(gen, 3, 4))
    full_render(qtbot, w)
    panel = w.breed
    panel.seed.setValue(9)
    full_render(qtbot, w, panel.add_seed.click)
    assert [p.source.seed for p in w.doc.state.parents] == [9] and w.doc.undo_stack.count() == 1
    assert w.doc.state.parents[0].weights == (0.5,) * gen.num_ws and len(panel.rows) == 1

    # Every group of the parent at 1: the face is exactly seed 9's.
    for group in ("coarse", "middle"):
        drag(panel.rows[0].sliders[group], 0.4, 1.0)
    shown = full_render(qtbot, w, lambda: drag(panel.rows[0].sliders["fine"], 0.7, 1.0))
    assert w.doc.state.parents[0].weights == (1.0,) * gen.num_ws and w.doc.undo_stack.count() == 4  # a drag = a step
    alone = render(gen, RenderRequest(0, new_state(gen, 9, 4)), {})
    assert np.array_equal(shown.images[0], alone.images[0])

    w.files.save_session(str(tmp_path / "bred.json"))
    assert io.load_session(tmp_path / "bred.json")[0] == w.doc.state
    w.doc.undo_stack.undo()
    assert panel.rows[0].sliders["fine"].value() == 0.5 and panel.rows[0].sliders["coarse"].value() == 1.0
    panel.rows[0].remove.click()
    assert w.doc.state.parents == () and panel.rows == []
    w.doc.undo_stack.undo()
    assert len(panel.rows) == 1 and w.doc.state.parents[0].source.seed == 9

    assert not panel.add_latent_file(str(tmp_path / "missing.npz"))  # reported, nothing added
    np.save(tmp_path / "wrong.npy", np.zeros((3, 7), np.float32))
    assert not panel.add_latent_file(str(tmp_path / "wrong.npy")) and len(w.doc.state.parents) == 1
    np.save(tmp_path / "w.npy", np.zeros((1, gen.w_dim), np.float32))
    assert panel.add_latent_file(str(tmp_path / "w.npy")) and w.doc.state.parents[1].source.kind == "latent"


def test_variations_adopt_undo_and_history(qtbot, gen, make_window):
    w = make_window(new_state(gen, 5, 6))
    original = w.doc.state
    action = next(a for a in w.menuBar().actions()[1].menu().actions() if a.text() == "&Variations…")
    from editor.qt.variations import VariationsDialog
    action.trigger()
    d = w.variations_dialog
    qtbot.waitUntil(lambda: len(d.children) == 8, timeout=120_000)
    assert isinstance(d, VariationsDialog) and len(d.children) == 8
    assert all(not b.icon().isNull() for b in d.buttons)
    assert not d.adopted.isVisible()  # nothing adopted yet
    assert len({c.source_a for c in d.children}) == 8  # eight different children
    child = d.children[2]
    with qtbot.waitSignal(d.children_shown, timeout=120_000):
        d.buttons[2].click()
    assert w.doc.state == child and child.source_a.kind == "latent" and child.mix == (0.0,) * gen.num_ws
    assert d.history == [original, child] and len(d.history_buttons) == 2 and d.adopted.isVisible()
    assert d.children[0] != child  # new children, around the adopted face
    w.doc.undo_stack.undo()
    assert w.doc.state == original
    w.doc.undo_stack.redo()
    with qtbot.waitSignal(d.children_shown, timeout=120_000):
        d.history_buttons[0].click()
    assert w.doc.state == original



def test_parent_rows_are_a_view_of_the_parents_with_no_stale_row(qtbot, gen, make_window):
    """Add seed then Add random once left the first row painted under its replacement (two handles on a
    slider), its ✕ dead. The rows shown are exactly the state's parents, and each ✕ removes its own."""
    from editor.qt.breed_panel import _ParentRow
    w = make_window(new_state(gen, 3, 4))
    panel = w.breed
    panel.seed.setValue(9)
    panel.add_seed.click()
    panel.add_random.click()
    qtbot.wait(50)  # let deferred deletes run, as the event loop would
    shown = [r for r in panel.findChildren(_ParentRow) if r.isVisibleTo(panel)]
    assert len(shown) == 2 == len(w.doc.state.parents) and set(shown) == set(panel.rows)
    assert panel.rows[0].label.text().endswith("seed 9")
    random_seed = w.doc.state.parents[1].source.seed
    panel.rows[0].remove.click()
    qtbot.wait(50)
    assert [p.source.seed for p in w.doc.state.parents] == [random_seed]
    shown = [r for r in panel.findChildren(_ParentRow) if r.isVisibleTo(panel)]
    assert len(shown) == 1 and shown[0].label.text().endswith(f"seed {random_seed}")
