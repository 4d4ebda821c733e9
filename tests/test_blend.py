"""Model blending (layer swapping) on tiny models of the same architecture."""

from __future__ import annotations

import pytest
import torch

from editor.model import Generator
from editor.model.blend import BlendError, BlendSettings, blend, check_compatible, swap_resolutions
from editor.model.mobilestylegan import MobileStyleGAN
from tests.support import TINY_MOBILE, tiny_net


def gen(net, name: str) -> Generator:
    return Generator(net, w_avg=torch.zeros(net.w_dim), name=name, fingerprint=f"{name}-fp", device="cpu",
                     dtype=torch.float32)


@pytest.fixture(scope="module")
def pair():
    return gen(tiny_net(seed=0), "ffhq"), gen(tiny_net(seed=1), "metfaces")


def ws(g: Generator, seed: int = 5) -> torch.Tensor:
    return g.broadcast(g.mapping(g.z_from_seed(seed), psi=0.8))


def test_every_synthesis_parameter_has_a_resolution():
    for net in (tiny_net(), MobileStyleGAN(TINY_MOBILE)):
        res = {k: net.param_resolution(k) for k in net.state_dict()}
        mapping = {k for k, r in res.items() if r is None}
        assert mapping and all(k.startswith(("mapping.", "mapping_net.")) for k in mapping)
        assert {r for r in res.values() if r is not None} <= set(net.layer_resolutions) | {net.resolution}
    with pytest.raises(KeyError):
        tiny_net().param_resolution("torgb.weight")


def test_swapping_everything_renders_the_style_model_and_nothing_renders_the_base(pair):
    base, style = pair
    w = ws(base)
    lowest, *_ = swap_resolutions(base)
    assert swap_resolutions(base) == [4, 8, 16, 32]
    all_style = blend(base, style, BlendSettings(lowest))
    assert torch.equal(all_style.synthesis(w), style.synthesis(w))
    none = blend(base, style, BlendSettings(lowest, amount=0.0))
    assert torch.equal(none.synthesis(w), base.synthesis(w))
    # The latent is still the base model's: its mapping, mean latent and fingerprint.
    z = base.z_from_seed(9)
    assert torch.equal(all_style.mapping(z, psi=0.5), base.mapping(z, psi=0.5))
    assert all_style.fingerprint == base.fingerprint and "metfaces" in all_style.name


@pytest.mark.parametrize("fine_from", ["style", "base"])
def test_coarse_layers_from_one_model_fine_from_the_other(pair, fine_from):
    base, style = pair
    mixed = blend(base, style, BlendSettings(16, fine_from=fine_from))
    coarse_src, fine_src = (base, style) if fine_from == "style" else (style, base)
    sd, sd_c, sd_f = (g.net.state_dict() for g in (mixed, coarse_src, fine_src))
    for k, v in sd.items():
        r = mixed.net.param_resolution(k)
        expect = base.net.state_dict()[k] if r is None else (sd_c[k] if r < 16 else sd_f[k])
        assert torch.equal(v, expect), k
    # Behaviour: the 8² block's output is the coarse model's, the image differs from both models.
    seen = {}
    for name, g in (("mixed", mixed), ("coarse", coarse_src)):
        h = g.net.synthesis.b8.register_forward_hook(lambda m, a, out, name=name: seen.__setitem__(name, out[0]))
        g.synthesis(ws(base))
        h.remove()
    assert torch.equal(seen["mixed"], seen["coarse"])
    img = mixed.synthesis(ws(base))
    for other in (base, style):
        assert (img - other.synthesis(ws(base))).abs().mean() > 0.01


def test_amount_interpolates_the_swapped_weights(pair):
    base, style = pair
    half = blend(base, style, BlendSettings(16, amount=0.5)).net.state_dict()
    k = "synthesis.b32.conv1.weight"
    assert torch.allclose(half[k], (base.net.state_dict()[k] + style.net.state_dict()[k]) / 2)
    k = "synthesis.b8.conv1.weight"
    assert torch.equal(half[k], base.net.state_dict()[k])
    with pytest.raises(ValueError, match="amount"):
        blend(base, style, BlendSettings(16, amount=1.5))


def test_blending_leaves_both_models_untouched(pair):
    base, style = pair
    before = {k: v.clone() for k, v in base.net.state_dict().items()}
    blend(base, style, BlendSettings(8))
    assert all(torch.equal(v, before[k]) for k, v in base.net.state_dict().items())


def test_incompatible_models_are_refused_by_name(pair, tmp_path):
    base, _ = pair
    wider = gen(tiny_net(img_resolution=64), "bigger")
    with pytest.raises(BlendError, match="bigger.*resolution or width|bigger.*different architecture"):
        check_compatible(base, wider)
    mobile = gen(MobileStyleGAN(TINY_MOBILE), "mobile")
    with pytest.raises(BlendError, match="mobile: a MobileStyleGAN cannot blend with a StyleGAN2"):
        blend(base, mobile, BlendSettings(8))
