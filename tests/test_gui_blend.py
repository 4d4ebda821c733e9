"""The blend panel on the real default model: a second model of the same architecture paints the fine
layers; the amount slider, removal and an incompatible model behave."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("pytestqt")
from tests.support import full_render, new_state, tiny_net  # noqa: E402

from editor.model import Generator  # noqa: E402
from editor.model.blend import BlendSettings, blend  # noqa: E402
from editor.render import RenderRequest, render  # noqa: E402

pytestmark = pytest.mark.usefixtures("private_home")


@pytest.fixture(scope="module")
def style(gen):  # noqa: F811
    """The default model with its fine (to-image) layer and a coarse block changed: a stand-in 'painted'
    fine-tune. Only the fine change may show in the blend."""
    net = copy.deepcopy(gen.net)
    with torch.no_grad():
        net.to_wavelets.bias[0::4] += 0.4   # low band of every colour: a colour cast
        net.blocks[0].conv1.bias += 3.0       # 8²: would change the face's shape if it leaked in
    return Generator(net, w_avg=gen.w_avg, name="painted", fingerprint="painted-1", device="cpu",
                     dtype=gen.dtype)


def test_blend_panel_renders_fine_layers_from_the_style_model(qtbot, gen, style, make_window,  # noqa: F811
                                                              monkeypatch):
    state = new_state(gen, 3, 4)
    w = make_window(state)
    errors = []
    monkeypatch.setattr(w, "error", lambda title, message: errors.append(message))
    base = full_render(qtbot, w).images[0]
    assert not w.blend.amount.isEnabled()

    shown = full_render(qtbot, w, lambda: w.blend.use_style_model(style)).images[0]
    assert w.blend.swap_at.currentData() == 64 and "painted" in w.model_label.text()
    expect = render(blend(gen, style, BlendSettings(64)), RenderRequest(0, state), {}).images[0]
    assert np.array_equal(shown, expect)
    diff = shown.astype(int) - base
    assert diff.mean() > 10                         # the colour cast of the style model's fine layer...
    assert np.corrcoef(shown[..., 1].ravel(), base[..., 1].ravel())[0, 1] > 0.9  # ...on the same face
    assert w.doc.undo_stack.count() == 0            # blending is a view of the model, not an edit

    none = full_render(qtbot, w, lambda: w.blend.amount.slider.setValue(0)).images[0]
    assert np.array_equal(none, base)
    removed = full_render(qtbot, w, w.blend.remove).images[0]
    assert np.array_equal(removed, base) and w.blend_gen is None and "painted" not in w.model_label.text()

    tiny = Generator(tiny_net(), w_avg=torch.zeros(32), name="tiny", fingerprint="t", device="cpu",
                     dtype=torch.float32)
    w.blend.use_style_model(tiny)
    assert len(errors) == 1 and "tiny" in errors[0] and w.blend.style_gen is None
