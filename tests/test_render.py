"""editor.render: a render that produces non-finite pixels comes back as an error, never as a black face."""

import torch

from editor.edit import EditState
from editor.model.generator import Generator
from editor.render import RenderRequest, render
from tests.support import tiny_mobile_net as tiny_net


def make(poison: bool) -> Generator:
    net = tiny_net()
    if poison:
        with torch.no_grad():
            net.blocks[-1].conv2.bias[0] = float("nan")  # a model that is broken past the mapping
    w_avg = net.mapping(torch.randn(8, 16)).mean(0)
    return Generator(net, w_avg=w_avg, name="t", fingerprint="t:1", device="cpu")


def test_good_render_has_pixels_and_no_error():
    gen = make(False)
    result = render(gen, RenderRequest(1, EditState.new("t:1", gen.num_ws)), {})
    assert result.error is None and result.images[0].shape == (128, 128, 3) and result.images[0].std() > 0


def test_non_finite_pixels_are_reported_not_shown():
    gen = make(True)
    for request in (RenderRequest(1, EditState.new("t:1", gen.num_ws)),
                    RenderRequest(2, EditState.new("t:1", gen.num_ws), 64, "gallery", (0, 1))):
        result = render(gen, request, {})
        assert result.images == [] and "NaN or infinite" in result.error, request.kind
