"""The MobileStyleGAN port on tiny configs: wavelets, folded inverse Haar, w+ routing, noise, previews, batching."""

import pytest
import torch
import torch.nn.functional as F

from editor.model.mobilestylegan import (MobileStyleGAN, haar_analysis, haar_synthesis,
                                         interleave_bands)

from tests.support import TINY_MOBILE as TINY  # noqa: E402
from tests.support import tiny_mobile_net as tiny_net  # noqa: E402


def reference_haar(low, high):
    """pytorch_wavelets' db1 synthesis as the IR spells it: 1-D transposed convs, rows then columns."""
    a = 2 ** -0.5
    g0, g1 = torch.tensor([a, a]), torch.tensor([a, -a])
    c = low.shape[1]

    def up(x, g, dim):
        k = g.view(1, 1, 2, 1) if dim == 2 else g.view(1, 1, 1, 2)
        stride = (2, 1) if dim == 2 else (1, 2)
        return F.conv_transpose2d(x, k.repeat(c, 1, 1, 1), stride=stride, groups=c)

    lh, hl, hh = high.unbind(2)
    lo = up(low, g0, 2) + up(lh, g1, 2)
    hi = up(hl, g0, 2) + up(hh, g1, 2)
    return up(lo, g0, 3) + up(hi, g1, 3)


def test_haar_matches_the_trained_transform_and_inverts():
    torch.manual_seed(0)
    low, high = torch.randn(2, 3, 5, 7), torch.randn(2, 3, 3, 5, 7)
    interleaved = torch.cat([low[:, :, None], high], 2).reshape(2, 12, 5, 7)
    ours = haar_synthesis(interleaved)
    assert ours.shape == (2, 3, 10, 14)
    torch.testing.assert_close(ours, reference_haar(low, high), atol=1e-6, rtol=0)
    torch.testing.assert_close(haar_analysis(ours), interleaved, atol=1e-6, rtol=0)


def test_interleave_bands_is_a_permutation_grouping_each_channel():
    perm = interleave_bands(12)
    assert sorted(perm) == list(range(12))
    assert perm[:4] == [0, 3, 4, 5]  # channel 0: low, then its three high bands


def test_shapes_and_layer_bookkeeping():
    net = tiny_net()
    assert net.num_ws == 2 + 3 * 4 and net.resolution == 128
    assert net.layer_resolutions == [4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64, 128]
    w = net.mapping(torch.randn(3, 16))
    assert w.shape == (3, 16)
    ws = w[:, None].expand(-1, net.num_ws, -1)
    assert net.synthesis(ws).shape == (3, 3, 128, 128)
    for s in (32, 64):
        assert net.synthesis(ws, size=s).shape == (3, 3, s, s)
    with pytest.raises(ValueError):
        net.synthesis(ws, size=48)
    with pytest.raises(AssertionError):
        net.synthesis(w)  # w+ is required at this level


@torch.inference_mode()
def test_batch_equals_single_images():
    """The single-image path folds modulation into weights; the batch path does not. Same numbers."""
    net = tiny_net()
    ws = torch.randn(3, net.num_ws, 16)
    batch = net.synthesis(ws)
    singles = torch.cat([net.synthesis(ws[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net.synthesis(ws, size=64), torch.cat([net.synthesis(ws[i:i + 1], size=64)
                                                                     for i in range(3)]), atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_every_style_row_matters_in_the_image_and_in_every_preview():
    """Previews run every layer (only the last block at half resolution), so no row is invisible in them."""
    net = tiny_net()
    ws = torch.randn(1, net.num_ws, 16)
    base = {s: net.synthesis(ws, size=s) for s in (None, 32, 64)}
    for k in range(net.num_ws):
        moved = ws.clone()
        moved[:, k] += 1.0
        for s, img in base.items():
            assert not torch.allclose(net.synthesis(moved, size=s), img, atol=1e-4), f"w+ row {k}, size {s}"


def reference_synthesis(net: MobileStyleGAN, ws: torch.Tensor) -> torch.Tensor:
    """The network written out the plain way: modulate, inverse Haar (the IR's own transform), convolve."""
    x = net.conv1(net.const.expand(ws.shape[0], -1, -1, -1), ws[:, 0], "const", 1.0)
    for i, block in enumerate(net.blocks):
        style = block.up.affine(ws[:, 1 + 3 * i])[:, :, None, None]
        x = haar_synthesis(x * style)
        x = block.conv2(block.conv1(x, ws[:, 2 + 3 * i], "const", 1.0), ws[:, 3 + 3 * i], "const", 1.0)
    return haar_synthesis(net.to_wavelets(x, ws[:, -1]))


@torch.inference_mode()
def test_folded_inverse_haar_equals_the_plain_network():
    """The upsamplers and the last layer fold the inverse Haar (and the style) into one conv + pixel
    shuffle; one image and a batch must both give the plain network's pixels."""
    net = tiny_net()
    ws = torch.randn(2, net.num_ws, 16)
    torch.testing.assert_close(net.synthesis(ws), reference_synthesis(net, ws), atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(net.synthesis(ws[:1]), reference_synthesis(net, ws[:1]), atol=2e-5, rtol=1e-5)


@torch.inference_mode()
def test_coarse_kernels_are_exact_for_flat_inputs():
    """The half-resolution tail's kernels are the coarse equivalents of the fine ones: exact when the map
    they see is piecewise constant over 2x2 cells (on the real model: test_default_model, >= 27 dB)."""
    from editor.model.mobilestylegan import coarse_kernel
    k = torch.randn(3, 1, 3, 3)
    flat = torch.randn(1, 3, 6, 6)
    fine = F.conv2d(F.interpolate(flat, scale_factor=2, mode="nearest"), k, padding=1, groups=3)
    torch.testing.assert_close(F.avg_pool2d(fine, 2)[..., 1:-1, 1:-1],
                               F.conv2d(flat, coarse_kernel(k), padding=1, groups=3)[..., 1:-1, 1:-1],
                               atol=1e-5, rtol=1e-5)


def test_old_files_with_fitted_preview_heads_still_load():
    net = tiny_net()
    state = net.state_dict()
    state["previews.64.weight"] = torch.zeros(12, 16, 1, 1)
    state["previews.64.bias"] = torch.zeros(12)
    fresh = MobileStyleGAN(TINY)
    fresh.load_state_dict(state, strict=True)
    with pytest.raises(RuntimeError):
        fresh.load_state_dict({**state, "stray.weight": torch.zeros(1)}, strict=True)


@torch.inference_mode()
def test_noise_modes():
    net = tiny_net()
    ws = torch.randn(1, net.num_ws, 16)
    const = net.synthesis(ws, noise_mode="const")
    assert torch.equal(const, net.synthesis(ws, noise_mode="const"))
    r1, r2 = net.synthesis(ws, noise_mode="random"), net.synthesis(ws, noise_mode="random")
    assert not torch.allclose(r1, r2)
    off = net.synthesis(ws, noise_mode="off")
    assert not torch.allclose(off, const)
    torch.testing.assert_close(net.synthesis(ws, noise_mode="const", noise_strength=0.0), off)
    torch.testing.assert_close(net.synthesis(ws, noise_mode="random", noise_strength=0.0), off)
    stronger = net.synthesis(ws, noise_mode="const", noise_strength=2.0)
    assert (stronger - off).abs().mean() > (const - off).abs().mean()
    with pytest.raises(ValueError):
        net.synthesis(ws, noise_mode="loud")


@torch.inference_mode()
def test_channels_last_and_bf16_agree_with_fp32():
    net = tiny_net()
    ws = torch.randn(1, net.num_ws, 16)
    ref = net.synthesis(ws)
    cl = net.to(memory_format=torch.channels_last).synthesis(ws)
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=1e-5)
    low = net.to(torch.bfloat16).synthesis(ws.bfloat16()).float()
    assert (low - ref).abs().max() < 0.1


def test_the_exact_half_size_is_the_2x2_mean_of_the_full_render():
    """The wavelet low band alone gives the full image's area-downsample, not an approximation."""
    net = tiny_net()
    ws = torch.randn(2, net.num_ws, net.w_dim, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = net.synthesis(ws)
        half = net.synthesis(ws, size=net.resolution // 2, exact=True)
    assert net.exact_sizes == (net.resolution // 2,)
    assert torch.allclose(half, F.avg_pool2d(full, 2), atol=1e-5)
    with pytest.raises(ValueError, match="exact"):
        net.synthesis(ws, size=net.resolution // 4, exact=True)


@pytest.mark.parametrize("exact", [False, True])
def test_a_render_stops_between_blocks_only_where_a_check_asks(exact):
    """editor.model.interrupt: the render thread drops a drag frame mid-way once a full render waits."""
    from editor.model.interrupt import Superseded, interruptible
    net = tiny_net()
    ws = torch.randn(1, net.num_ws, TINY.w_dim)
    size = net.exact_sizes[0] if exact else None
    calls = []
    with torch.no_grad(), interruptible(lambda: calls.append(1) or len(calls) > 2):
        with pytest.raises(Superseded):
            net.synthesis(ws, size=size, exact=exact)
    assert len(calls) == 3  # stopped at the third block boundary, not run to the end
    with torch.no_grad():  # no check installed: renders as always
        assert net.synthesis(ws, size=size, exact=exact).shape[-1] == (size or net.resolution)
