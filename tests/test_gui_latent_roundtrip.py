"""Save latent, then Latent… on it: the face it was saved from (B's mix was once applied a second time)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from tests.support import full_render, new_state  # noqa: E402


def test_a_saved_latent_reopens_as_the_face_it_was_saved_from(qtbot, gen, make_window, tmp_path):
    state = new_state(gen, 3, 4).with_group_mix(gen.layer_groups["coarse"], 0.7).with_psi(0.6)
    w = make_window(state)
    saved = full_render(qtbot, w)
    w.files.save_latent(str(tmp_path / "me.npz"))  # written once the full render is there (it is)
    qtbot.waitUntil(lambda: (tmp_path / "me.npz").is_file(), timeout=60_000)
    assert (tmp_path / "me.npz").is_file() and not (tmp_path / "me.delta.safetensors").exists()
    reopened = full_render(qtbot, w, lambda: w.files.load_latent(str(tmp_path / "me.npz"), "a"))
    assert not any(reopened.state.mix) and reopened.state.source_a.kind == "latent"
    assert np.abs(reopened.images[0].astype(int) - saved.images[0]).max() <= 1  # float order only
    w.doc.undo_stack.undo()  # one step brings the mix back
    assert w.doc.state == state
