"""The render-free locality regulariser (editor.photo.moments) on a tiny MobileStyleGAN: its penalty is the
mean squared change a delta makes to a layer's output over the faces its moments came from."""

import torch

from editor.photo.delta import WeightDelta
from editor.photo import moments
from editor.photo.moments import Moments
from tests.support import tiny_mobile_net as tiny_net


def _latents(net, n=3):
    g = torch.Generator().manual_seed(5)
    return net.mapping(torch.randn(n, net.z_dim, generator=g, dtype=net.const.dtype))[:, None].expand(n, net.num_ws, -1)


def test_the_penalty_is_zero_for_no_change_and_the_same_for_factors_or_their_product():
    net = tiny_net()
    m = Moments(net, _latents(net))
    zero = WeightDelta.zeros_like(net, rank=2, full_below=300)
    assert float(m.penalty(zero.factors)) == 0.0
    g = torch.Generator().manual_seed(1)
    f = {k: tuple(t + 0.05 * torch.randn(t.shape, generator=g) for t in v) for k, v in zero.factors.items()}
    assert any(len(v) == 2 for v in f.values())
    dense = {k: ((v[0] @ v[1]).reshape(zero.shapes[k]),) if len(v) == 2 else v for k, v in f.items()}
    assert torch.allclose(m.penalty(f), m.penalty(dense), rtol=1e-4)


def test_the_last_layers_penalty_is_the_images_mean_squared_change_relative_to_its_energy(monkeypatch):
    # The last layer is linear in its weights and the inverse Haar step after it is orthonormal, so the
    # image's change per 2x2 cell is exactly the layer's: the penalty times E|out|^2 must equal it.
    monkeypatch.setattr(moments, "POSITIONS", 10 ** 6)  # every pixel sampled: the penalty is then exact
    net = tiny_net().double()  # float64: exact up to rounding
    ws = _latents(net)
    m = Moments(net, ws)  # the tiny model has no 512² preview: full renders
    energy = 1 / m.terms["to_wavelets"]["bias"]
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        before = net.synthesis(ws)
    cells = before.shape[0] * (before.shape[-1] // 2) ** 2
    # Weight and bias alone (together a cross term the penalty leaves out would enter).
    for name in ("to_wavelets.weight", "to_wavelets.bias"):
        param = dict(net.named_parameters())[name]
        change = 0.05 * torch.randn(param.shape, generator=g, dtype=param.dtype)
        with torch.no_grad():
            param.add_(change)
            after = net.synthesis(ws)
            param.sub_(change)
        measured = float((after - before).square().sum()) / cells
        assert abs(float(m.penalty({name: (change,)})) * energy / measured - 1) < 1e-4, name


def test_cancel_stops_the_moments_between_renders():
    """The app's Cancel during tuning's set-up: no more renders start; what was collected is kept."""
    net = tiny_net()
    calls = []
    original = net.synthesis
    net.synthesis = lambda *a, **k: calls.append(1) or original(*a, **k)
    asked = iter([False, True])
    m = Moments(net, _latents(net), should_stop=lambda: next(asked))
    assert len(calls) == 1 and m.terms  # one face rendered, then stopped
    none = Moments(net, _latents(net), should_stop=lambda: True)
    zero = WeightDelta.zeros_like(net, rank=2, full_below=300)
    g = torch.Generator().manual_seed(1)
    f = {k: tuple(t + 0.05 * torch.randn(t.shape, generator=g) for t in v) for k, v in zero.factors.items()}
    assert none.terms == {} and float(none.penalty(f)) == 0.0
