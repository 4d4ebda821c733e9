"""The plain-PyTorch StyleGAN2: structure, numerics of its building blocks, noise modes, early-stop previews."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from editor.model.protocol import SynthesisNet
from editor.model.protocol import estimate_w_avg
from editor.model.stylegan2 import StyleGAN2
from editor.model.stylegan2_ops import modulated_conv2d, setup_filter, upsample2d
from tests.support import TINY, tiny_net, upfirdn2d_ref


@pytest.fixture(autouse=True)
def _inference_only():
    with torch.no_grad():
        yield


def _ws(net: StyleGAN2, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = net.mapping(torch.randn([batch, net.z_dim], generator=g))
    return w.unsqueeze(1).repeat(1, net.num_ws, 1) + 0.5 * torch.randn([batch, net.num_ws, net.w_dim], generator=g)


@pytest.mark.parametrize("res", [8, 32, 64, 128])
def test_shapes_num_ws_and_layer_resolutions(res):
    net = tiny_net(img_resolution=res, channel_base=512)
    log2 = int(math.log2(res))
    assert isinstance(net, SynthesisNet)
    assert (net.z_dim, net.w_dim, net.resolution, net.img_channels) == (32, 32, res, 3)
    assert net.num_ws == 2 * log2 - 2
    # Two rows per resolution, the papers' style-mixing convention (conv1 of 4x4, then conv0+conv1 per
    # block and one more for the last torgb make the count come out even).
    expected = [2 ** k for k in range(2, log2 + 1) for _ in (0, 1)]
    assert net.layer_resolutions == expected and len(expected) == net.num_ws
    w = net.mapping(torch.randn(3, 32))
    assert w.shape == (3, 32)
    img = net.synthesis(w.unsqueeze(1).repeat(1, net.num_ws, 1))
    assert img.shape == (3, 3, res, res) and torch.isfinite(img).all()


def test_nvidia_1024_layouts_config_f_and_e():
    with torch.device("meta"):  # shapes only: no 30M random numbers
        f = StyleGAN2(img_resolution=1024)
        e = StyleGAN2(img_resolution=1024, channel_base=16384)
    sd = f.state_dict()
    assert f.num_ws == 18 and f.layer_resolutions[:5] == [4, 4, 8, 8, 16] and f.layer_resolutions[-3:] == [512, 1024, 1024]
    assert sd["synthesis.b4.const"].shape == (512, 4, 4)
    assert sd["synthesis.b64.conv0.weight"].shape == (512, 512, 3, 3)
    assert sd["synthesis.b1024.conv1.weight"].shape == (32, 32, 3, 3)
    assert sd["synthesis.b1024.torgb.affine.weight"].shape == (32, 512)
    assert sd["synthesis.b128.conv1.noise_const"].shape == (128, 128)
    assert sd["synthesis.b8.resample_filter"].shape == (4, 4) and sd["mapping.w_avg"].shape == (512,)
    assert "mapping.fc7.weight" in sd and "mapping.fc8.weight" not in sd
    assert e.state_dict()["synthesis.b64.conv0.weight"].shape == (256, 512, 3, 3)
    assert f.preview_sizes == (64, 128, 256, 512)
    n_params = sum(p.numel() for p in f.parameters())
    assert 29e6 < n_params < 31e6  # NVIDIA's FFHQ-1024 config-f generator has ~30M


def test_mapping_is_equalized_lr_mlp():
    net = tiny_net()
    z = torch.randn(4, 32)
    x = z / z.pow(2).mean(1, keepdim=True).add(1e-8).sqrt()
    for i in range(2):
        fc = getattr(net.mapping, f"fc{i}")
        x = F.leaky_relu(x @ (fc.weight * 0.01 / math.sqrt(32)).t() + fc.bias * 0.01, 0.2) * math.sqrt(2)
    torch.testing.assert_close(net.mapping(z), x)
    with pytest.raises(AssertionError):
        net.mapping(torch.randn(4, 31))


def test_upsample2d_matches_zero_insert_reference():
    x = torch.randn(2, 3, 5, 5)
    f = setup_filter([1, 3, 3, 1])
    torch.testing.assert_close(upsample2d(x, f), upfirdn2d_ref(x, f, up=2, pad=(2, 1), gain=4))


def test_modulated_upconv_matches_upsample_then_convolve():
    # NVIDIA's generic path: upfirdn (up 2, pad (3, 2), gain 4) then a true convolution with the weights.
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 4, 6, 6), torch.randn(5, 4, 3, 3), torch.randn(2, 4)
    f = setup_filter([1, 3, 3, 1])
    got = modulated_conv2d(x, weight, styles, up=2, resample_filter=f)
    for b in range(2):
        w = weight * styles[b].view(1, -1, 1, 1)
        w = w / (w.square().sum([1, 2, 3], keepdim=True) + 1e-8).sqrt()
        ref = F.conv2d(upfirdn2d_ref(x[b:b + 1], f, up=2, pad=(3, 2), gain=4), w.flip([2, 3]))
        torch.testing.assert_close(got[b:b + 1], ref, rtol=1e-4, atol=1e-5)


def test_batch_samples_are_independent():
    net = tiny_net()
    ws = _ws(net, batch=3)
    together = net.synthesis(ws)
    alone = torch.cat([net.synthesis(ws[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_noise_modes():
    net = tiny_net()
    ws = _ws(net)
    const = net.synthesis(ws, noise_mode="const")
    assert torch.equal(const, net.synthesis(ws, noise_mode="const"))
    r1, r2 = net.synthesis(ws, noise_mode="random"), net.synthesis(ws, noise_mode="random")
    assert not torch.allclose(r1, r2)
    off = net.synthesis(ws, noise_mode="off")
    assert not torch.allclose(off, const)
    assert torch.equal(net.synthesis(ws, noise_mode="const", noise_strength=0.0), off)
    assert torch.equal(net.synthesis(ws, noise_mode="random", noise_strength=0.0), off)
    assert not torch.allclose(net.synthesis(ws, noise_mode="const", noise_strength=2.0), const)
    with pytest.raises(ValueError):
        net.synthesis(ws, noise_mode="none")


def test_conv_clamp_limits_every_layer_output():
    def peak(net):
        peaks = []
        hooks = [m.register_forward_hook(lambda mod, args, out: peaks.append(out.abs().max().item()))
                 for m in net.modules() if type(m).__name__ in ("SynthesisLayer", "ToRGBLayer")]
        net.synthesis(ws)
        for h in hooks:
            h.remove()
        return max(peaks)

    ws = _ws(tiny_net())
    assert peak(tiny_net(conv_clamp=0.25)) <= 0.25
    assert peak(tiny_net(conv_clamp=None)) > 0.25


def test_preview_stops_early_and_equals_the_skip_image_of_a_full_run():
    net = tiny_net(img_resolution=128, channel_base=512)
    assert net.preview_sizes == (64,)
    ws = _ws(net)
    seen = {}
    hooks = [getattr(net.synthesis, f"b{r}").register_forward_hook(
        lambda mod, args, out, r=r: seen.__setitem__(r, out[1].clone())) for r in (64, 128)]
    full = net.synthesis(ws)
    assert torch.equal(seen[128], full)
    skip64 = seen.pop(64)
    seen.clear()
    preview = net.synthesis(ws, size=64)
    for h in hooks:
        h.remove()
    assert preview.shape == (2, 3, 64, 64)
    assert torch.equal(preview, skip64)
    assert 128 not in seen  # the last block never ran
    assert torch.equal(net.synthesis(ws, size=128), full)
    for bad in (16, 32, 100, 256):
        with pytest.raises(ValueError):
            net.synthesis(ws, size=bad)


@pytest.mark.parametrize("arch", ["orig", "resnet"])
def test_other_architectures(arch):
    net = tiny_net(architecture=arch, img_resolution=64, channel_base=512)
    assert not hasattr(net.synthesis.b32, "torgb") and hasattr(net.synthesis.b64, "torgb")
    assert hasattr(net.synthesis.b32, "skip") == (arch == "resnet")
    assert net.num_ws == 10 and net.preview_sizes == ()
    img = net.synthesis(_ws(net))
    assert img.shape == (2, 3, 64, 64) and torch.isfinite(img).all()


def test_ws_shape_is_checked():
    net = tiny_net()
    with pytest.raises(AssertionError):
        net.synthesis(torch.zeros(1, net.num_ws - 1, net.w_dim))
    with pytest.raises(AssertionError):
        net.synthesis(torch.zeros(1, net.num_ws, net.w_dim + 1))


def test_runs_in_the_chosen_dtype():
    net = tiny_net()
    ws = _ws(net)
    ref = net.synthesis(ws)
    out = net.double().synthesis(ws.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), ref, rtol=1e-3, atol=1e-4)


def test_estimate_w_avg_is_the_mean_mapped_latent():
    net = tiny_net()
    est = estimate_w_avg(net, samples=4000)
    assert est.shape == (TINY["w_dim"],)
    assert torch.equal(est, estimate_w_avg(net, samples=4000))
    z = torch.randn(4000, 32, generator=torch.Generator().manual_seed(7))
    other = net.mapping(z).mean(0)
    spread = net.mapping(z).std(0)
    assert ((est - other).abs() < 0.15 * spread + 1e-3).all()


def test_a_stylegan2_render_stops_between_blocks_where_a_check_asks():
    from editor.model.interrupt import Superseded, interruptible
    net = tiny_net()
    ws = torch.randn(1, net.num_ws, net.w_dim)
    with torch.no_grad(), interruptible(lambda: True), pytest.raises(Superseded):
        net.synthesis(ws)
