"""StyleGAN3 (-T and -R): loaded from NVIDIA-shaped pickles through the restricted path, rendered, refused when bad.

Parity with NVIDIA's own code was measured once outside the suite (README, "Checkpoints"); here the pieces
are checked against independent reference math and the whole against the API's promises.
"""

from __future__ import annotations

import math

import numpy as np

import pytest
import torch

from editor.model import load_generator
from editor.model.errors import CheckpointError
from editor.model.nvidia_pickle import load_nvidia_pickle
from editor.model.stylegan3 import StyleGAN3
from editor.model.stylegan3_ops import design_lowpass, filtered_lrelu
from tests.support import SG3_R, tiny_net, tiny_sg3, upfirdn2d_ref, write_nvidia_pickle

CONFIGS = {"T": {}, "R": SG3_R}


@pytest.fixture(scope="module")
def pickles(tmp_path_factory):
    d = tmp_path_factory.mktemp("sg3")
    return {cfg: (write_nvidia_pickle(d / f"sg3{cfg.lower()}.pkl", tiny_sg3(seed=i, **kw)), tiny_sg3(seed=i, **kw))
            for i, (cfg, kw) in enumerate(CONFIGS.items())}


@pytest.fixture(scope="module")
def gens(pickles):
    return {cfg: load_generator(path, device="cpu", dtype=torch.float32) for cfg, (path, _) in pickles.items()}


# ------------------------------------------------------------------------------------------ loading

@pytest.mark.parametrize("cfg", CONFIGS)
def test_pickle_round_trip_copies_every_tensor(pickles, cfg):
    path, original = pickles[cfg]
    loaded, w_avg = load_nvidia_pickle(path)
    assert isinstance(loaded, StyleGAN3) and not loaded.training
    assert torch.equal(w_avg, original.mapping.w_avg)
    mine, theirs = loaded.state_dict(), original.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    if cfg == "R":  # radial (2-D) down filters except in the critically sampled layers; 1x1 convs
        assert loaded.synthesis.L0_36_16.down_filter.ndim == 2 and loaded.synthesis.L0_36_16.weight.shape[-1] == 1
        critical = getattr(loaded.synthesis, loaded.synthesis.layer_names[-2])
        assert critical.down_filter is None or critical.down_filter.ndim == 1


def test_generator_api(gens):
    gen = gens["T"]
    assert gen.num_ws == 16 and gen.resolution == 32 and gen.preview_sizes == ()
    assert gen.supports_input_transform
    z = gen.z_from_seed(5, batch=2)
    img = gen.synthesis(gen.mapping(z, psi=0.7))
    assert img.shape == (2, 3, 32, 32) and bool(torch.isfinite(img).all())
    assert img.std() > 0.01  # a picture, not a constant
    assert torch.equal(img, gen.synthesis(gen.mapping(z, psi=0.7)))  # deterministic
    # no noise inputs in StyleGAN3: every noise setting renders the same image
    assert torch.equal(img, gen.synthesis(gen.mapping(z, psi=0.7), noise="random", noise_strength=3.0))


def test_layer_groups_follow_each_layers_band():
    # The official 1024² -T config, built on the meta device (no memory): rows 0-3 coarse, 4-6 middle, rest fine.
    with torch.device("meta"):
        net = StyleGAN3(z_dim=512, w_dim=512, img_resolution=1024, channel_base=32768, channel_max=512)
    from editor.model.generator import layer_groups_for
    assert net.num_ws == 16
    assert net.layer_resolutions == [4, 4, 4, 8, 16, 16, 32, 64, 64, 128, 256, 256, 512, 1024, 1024, 1024]
    groups = layer_groups_for(net.layer_resolutions)
    assert (groups["coarse"], groups["middle"], groups["fine"]) == (range(0, 4), range(4, 7), range(7, 16))
    assert net.synthesis.sampling_rates[:4] == [16, 16, 16, 32]
    assert net.param_resolution("synthesis.L12_1044_32.up_filter") == 1024
    assert net.param_resolution("synthesis.input.freqs") == 4 and net.param_resolution("mapping.fc0.weight") is None


@pytest.mark.parametrize("cfg", CONFIGS)
def test_batch_consistency(gens, cfg):
    gen = gens[cfg]
    ws = gen.broadcast(gen.mapping(gen.z_from_seed(1, batch=3), psi=0.8))
    together = gen.synthesis(ws)
    alone = torch.cat([gen.synthesis(ws[i:i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_truncation(gens):
    gen = gens["T"]
    z = gen.z_from_seed(2)
    assert torch.allclose(gen.mapping(z, psi=0.0), gen.w_avg[None])
    w1, wh = gen.mapping(z), gen.mapping(z, psi=0.5)
    assert torch.allclose(wh, (w1 + gen.w_avg) / 2, atol=1e-6)
    a, b, c = (gen.synthesis(w) for w in (gen.w_avg[None], wh, w1))
    assert 0 < (a - b).abs().mean() < (a - c).abs().mean()  # the image moves towards the mean face


def test_every_wplus_row_acts_and_mixing_takes_rows(gens):
    gen = gens["T"]
    wa, wb = gen.broadcast(gen.mapping(gen.z_from_seed(3))), gen.broadcast(gen.mapping(gen.z_from_seed(4)))
    base = gen.synthesis(wa)
    for i in range(gen.num_ws):
        mixed = wa.clone()
        mixed[:, i] = wb[:, i]
        assert (gen.synthesis(mixed) - base).abs().max() > 1e-4, f"w+ row {i} has no effect"
    fine = gen.layer_groups["middle"]  # at 32 px the top group is 'middle' (16-32), as for StyleGAN2
    mixed = wa.clone()
    mixed[:, fine.start:] = wb[:, fine.start:]
    img = gen.synthesis(mixed)
    assert (img - base).abs().mean() > 0 and (img - gen.synthesis(wb)).abs().mean() > 0


# ------------------------------------------------------------------------------------------ input transform

def test_translation_moves_the_picture(gens):
    gen = gens["T"]
    ws = gen.broadcast(gen.mapping(gen.z_from_seed(7), psi=0.7))
    base = gen.synthesis(ws)
    shift = 4  # pixels; a whole number of samples at every layer's rate (coarsest: 2 px at 32²)
    try:
        gen.set_input_transform(shift / 32, 0.0, 0.0)
        moved = gen.synthesis(ws)
        assert gen.net.input_transform() == pytest.approx((shift / 32, 0.0, 0.0), abs=1e-6)
    finally:
        gen.set_input_transform(0.0, 0.0, 0.0)
    assert torch.equal(gen.synthesis(ws), base)  # (0, 0, 0) is exactly the identity again
    m = 8  # away from the borders, where the margin's zero padding differs
    as_shift = (moved[..., m + shift:-m] - base[..., m:-m - shift]).abs().mean()
    unmoved = (moved[..., m + shift:-m] - base[..., m + shift:-m]).abs().mean()
    assert as_shift < 0.01 * unmoved, (float(as_shift), float(unmoved))  # measured: 0.2%


def test_rotation_turns_the_picture_and_is_undone(gens):
    # -R uses 1x1 convs and radially symmetric filters, so a quarter turn of the input is a quarter turn
    # of the picture, sample for sample (counter-clockwise as shown for a positive angle).
    gen = gens["R"]
    ws = gen.broadcast(gen.mapping(gen.z_from_seed(8)))
    base = gen.synthesis(ws)
    try:
        gen.set_input_transform(0.0, 0.0, 90.0)
        quarter = gen.synthesis(ws)
        gen.set_input_transform(0.0, 0.0, 30.0)
        turned = gen.synthesis(ws)
        assert gen.net.input_transform() == pytest.approx((0.0, 0.0, 30.0), abs=1e-4)
    finally:
        gen.set_input_transform()
    m = 4
    err = (quarter - torch.rot90(base, 1, dims=(2, 3)))[..., m:-m, m:-m].abs().max()
    detail = (base - base.mean(dim=(2, 3), keepdim=True)).abs().mean()
    assert err < 1e-3 * detail, (float(err), float(detail))
    assert (turned - base).abs().mean() > 0.1 * detail
    assert torch.equal(gen.synthesis(ws), base)


def test_stylegan2_has_no_input_transform(tmp_path):
    gen = load_generator(write_nvidia_pickle(tmp_path / "sg2.pkl", tiny_net()), device="cpu", dtype=torch.float32)
    assert not gen.supports_input_transform
    with pytest.raises(ValueError, match="StyleGAN3"):
        gen.set_input_transform(0.1, 0.0, 0.0)


# ------------------------------------------------------------------------------------------ the pieces

def test_filter_design_matches_scipy_values():
    # scipy.signal.firwin(12, cutoff=3, width=10, fs=32), as NVIDIA designs separable filters (computed once).
    want = [-1.7823800e-04, 5.4548527e-03, 3.1919170e-02, 8.8417895e-02, 1.6099767e-01, 2.1338865e-01]
    got = design_lowpass(12, 3.0, 10.0, 32.0)
    assert torch.allclose(got[:6], torch.tensor(want), atol=2e-7) and torch.equal(got, got.flip(0))
    # NVIDIA's radial jinc filter (scipy.special.j1 + kaiser), same parameters as computed with scipy once.
    radial = design_lowpass(12, 4.0, 12.0, 64.0, radial=True)
    assert radial.shape == (12, 12) and abs(float(radial.sum()) - 1) < 1e-6
    assert torch.allclose(radial[0, :3], torch.tensor([1.696167e-4, 4.735016e-4, 9.280634e-4]), atol=1e-8)
    assert torch.allclose(radial[5, :3], torch.tensor([2.204531e-3, 5.4878434e-3, 1.0061532e-2]), atol=1e-8)
    assert design_lowpass(1, 3.0, 10.0, 32.0) is None


@pytest.mark.parametrize("up,down,pad,radial", [(2, 2, (9, 8), False), (4, 2, (-3, -5), False), (2, 1, (5, 4), True),
                                                 (1, 1, (0, 0), False), (2, 4, (13, 12), True)])
def test_filtered_lrelu_matches_reference_math(up, down, pad, radial):
    torch.manual_seed(0)
    x, b = torch.randn(2, 3, 11, 11), torch.randn(3)
    fu = design_lowpass(6 * up, 3.0, 4.0, 16.0 * up) if up > 1 else None
    fd = design_lowpass(6 * down, 3.0, 4.0, 16.0 * up, radial=radial) if down > 1 or radial else None
    got = filtered_lrelu(x, fu, fd, b, up, down, [pad[0], pad[1], pad[0], pad[1]], gain=math.sqrt(2), slope=0.2,
                         clamp=0.8)
    # Independent: zero-insert + pad + 2-D convolution, lrelu, clamp, 2-D convolution, keep every down-th.
    y = x + b.reshape(1, -1, 1, 1)
    y = upfirdn2d_ref(y, torch.ones(1, 1) if fu is None else torch.outer(fu, fu), up=up, pad=pad, gain=up ** 2)
    y = (torch.nn.functional.leaky_relu(y, 0.2) * math.sqrt(2)).clamp(-0.8, 0.8)
    if fd is not None:
        y = upfirdn2d_ref(y, fd if fd.ndim == 2 else torch.outer(fd, fd))
    y = y[:, :, ::down, ::down]
    assert got.shape == y.shape and torch.allclose(got, y, atol=1e-6)


# ------------------------------------------------------------------------------------------ refusals

def _write(tmp_path, name, **kw):
    return write_nvidia_pickle(tmp_path / name, tiny_sg3(), **kw)


@pytest.mark.parametrize("overrides,message", [
    (dict(num_critical=14), "num_critical=14 is not below num_layers=14"),
    (dict(filter_size=0), "option filter_size=0 is not implemented"),
    (dict(use_radial_filters="yes"), "use_radial_filters='yes' is not implemented"),
    (dict(margin_size=10 ** 6), "margin_size="),
    (dict(channel_base=4096), "does not match the StyleGAN3 layout"),  # kwargs that disagree with the tensors
    (dict(conv_kernel=1), "mis-shaped tensors"),
    (dict(use_radial_filters=True), "mis-shaped tensors synthesis.L0_36_16.down_filter [12] (expected [12, 12])"),
    (dict(num_layers=13), "does not match the StyleGAN3 layout"),
    (dict(layer_features=64), "options this editor does not know: layer_features"),
    (dict(first_cutoff=float("nan")), "first_cutoff=nan"),
])
def test_bad_stylegan3_records_are_refused_by_name(tmp_path, overrides, message):
    path = _write(tmp_path, "bad.pkl", init_overrides=overrides)
    with pytest.raises(CheckpointError, match="bad.pkl") as e:
        load_nvidia_pickle(path)
    assert message in str(e.value)


def test_misshapen_and_missing_tensors_are_refused(tmp_path):
    net = tiny_sg3()
    with torch.no_grad():
        net.synthesis.input.register_buffer("freqs", torch.randn(16, 3))  # wrong shape
        del net.synthesis.L3_36_16._parameters["bias"]                     # missing
    with pytest.raises(CheckpointError, match=r"synthesis.input.freqs \[16, 3\] \(expected \[16, 2\]\)") as e:
        load_nvidia_pickle(write_nvidia_pickle(tmp_path / "shapes.pkl", net))
    assert "missing tensors synthesis.L3_36_16.bias" in str(e.value)


def test_stylegan3_shaped_records_around_other_layers_are_refused(tmp_path):
    # The old "refused by name" fixture: SynthesisInput + one odd layer + a StyleGAN2 mapping. Now it loads
    # as far as the layout check, which names what does not fit.
    path = write_nvidia_pickle(tmp_path / "sg3.pkl", tiny_net(), stylegan3=True)
    with pytest.raises(CheckpointError, match="does not match the StyleGAN3 layout") as e:
        load_nvidia_pickle(path)
    assert "sg3.pkl" in str(e.value)


def test_non_positive_magnitude_is_refused(tmp_path):
    net = tiny_sg3()
    with torch.no_grad():
        net.synthesis.L4_36_16.magnitude_ema.fill_(0.0)
    with pytest.raises(CheckpointError, match="non-positive input magnitudes in synthesis.L4_36_16.magnitude_ema"):
        load_nvidia_pickle(write_nvidia_pickle(tmp_path / "zero.pkl", net))


def test_non_finite_filter_is_refused(tmp_path):
    net = tiny_sg3()
    with torch.no_grad():
        net.synthesis.L2_36_16.up_filter[3] = float("nan")
    with pytest.raises(CheckpointError, match="non-finite values .* synthesis.L2_36_16.up_filter"):
        load_nvidia_pickle(write_nvidia_pickle(tmp_path / "nan.pkl", net))



# ------------------------------------------------------------------------------------------ edit state, render

def test_edit_state_carries_the_transform_through_files():
    from editor.edit import EditState
    s = EditState.new("fp", 16)
    assert s.input_transform == (0.0, 0.0, 0.0) and "input_transform" not in s.to_dict()  # old files unchanged
    moved = s.with_input_transform(tx=0.125).with_input_transform(angle_deg=30)
    assert moved.input_transform == (0.125, 0.0, 30.0) and moved != s
    assert EditState.from_dict(moved.to_dict()) == moved
    assert s.with_input_transform(tx=3.0, angle_deg=-900).input_transform == (0.5, 0.0, -180.0)  # clamped
    with pytest.raises(ValueError, match="input_transform"):
        EditState.from_dict({**s.to_dict(), "input_transform": "left"})


def test_render_applies_the_edits_transform_and_restores_the_model(gens):
    from editor.edit import EditState
    from editor.render import RenderRequest, render
    gen = gens["T"]
    state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=7)
    plain = render(gen, RenderRequest(0, state), {})
    moved = render(gen, RenderRequest(1, state.with_input_transform(tx=4 / 32)), {})
    assert plain.error is None and moved.error is None
    a, b = plain.images[0].astype(int), moved.images[0].astype(int)
    assert np.abs(a - b).mean() > 0 and gen.net.input_transform() == pytest.approx((0.0, 0.0, 0.0))
    assert np.array_equal(render(gen, RenderRequest(2, state), {}).images[0], plain.images[0])


def test_cli_renders_a_moved_stylegan3(pickles, tmp_path):
    import subprocess
    import sys
    out = tmp_path / "moved.png"
    done = subprocess.run([sys.executable, "-m", "editor", "render", "--model", str(pickles["T"][0]), "--device",
                           "cpu", "--move", "0.125", "0", "--rotate", "10", "-o", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from editor import io
    assert out.is_file() and io.read_edit_from_image(out)[0].input_transform == (0.125, 0.0, 10.0)


def test_animation_frames_render_the_transform(gens):
    from editor.edit import EditState
    from editor.motion.frames import render_frame
    from editor.motion.timeline import Frame
    from editor.render import RenderRequest, render
    gen = gens["T"]
    state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=7).with_input_transform(tx=0.25)
    frame = render_frame(gen, Frame(state), {})
    assert np.array_equal(frame, render(gen, RenderRequest(0, state), {}).images[0])  # as the view shows it
    assert not np.array_equal(frame, render_frame(gen, Frame(state.with_input_transform(tx=0.0)), {}))


def test_sefa_and_layer_blending_work_on_stylegan3(gens, pickles, tmp_path):
    from editor.directions.sefa import sefa_vectors
    from editor.model.blend import BlendSettings, blend, swap_resolutions
    gen = gens["T"]
    vectors, values = sefa_vectors(gen.net, gen.layer_groups["coarse"], k=3)
    assert vectors.shape == (3, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert values[0] >= values[1] >= values[2] > 0
    other = load_generator(write_nvidia_pickle(tmp_path / "other.pkl", tiny_sg3(seed=5)), device="cpu",
                           dtype=torch.float32)
    assert swap_resolutions(gen) == [4, 8, 16, 32]
    mixed = blend(gen, other, BlendSettings(swap_resolution=16))
    ws = gen.broadcast(gen.mapping(gen.z_from_seed(1)))
    a, b, m = gen.synthesis(ws), other.synthesis(ws), mixed.synthesis(ws)
    assert (m - a).abs().mean() > 0 and (m - b).abs().mean() > 0
    assert torch.equal(blend(gen, other, BlendSettings(swap_resolution=16, amount=0.0)).synthesis(ws), a)


def test_gradients_flow_for_projection():
    # Projecting a photo optimises w through the synthesis: the gradient must be the true one.
    net = tiny_sg3(seed=0).double()
    ws = net.mapping(torch.randn(1, 32, dtype=torch.float64))[:, None].repeat(1, 16, 1).detach().requires_grad_(True)
    weights = torch.linspace(-1, 1, 3 * 32 * 32, dtype=torch.float64).reshape(1, 3, 32, 32)
    (net.synthesis(ws) * weights).sum().backward()
    eps, at = 1e-6, (0, 5, 3)
    with torch.no_grad():
        plus, minus = ws.detach().clone(), ws.detach().clone()
        plus[at] += eps
        minus[at] -= eps
        numeric = ((net.synthesis(plus) - net.synthesis(minus)) * weights).sum() / (2 * eps)
    assert float(ws.grad[at]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-9)


def test_photo_projection_runs_on_stylegan3(gens):
    from editor.model import to_uint8
    from editor.photo.project import project
    gen = gens["T"]
    photo = to_uint8(gen.synthesis(gen.mapping(gen.z_from_seed(11), psi=0.5)))[0]
    result = project(gen, photo, steps=6, init_candidates=4)
    assert result.wplus.shape == (16, 32) and np.isfinite(result.wplus).all() and result.steps == 6
    assert result.history[-1] <= result.history[0]  # the loss went down


def test_precision_trial_of_a_slow_model_renders_twice(pickles, monkeypatch, tmp_path):
    # Minutes at first load otherwise: a 1024² StyleGAN3 render takes 10-60 s on a CPU.
    from editor.model import generator as generator_module
    from editor.model.generator import Generator
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("EDITOR_PRECISION", raising=False)
    monkeypatch.setattr(generator_module, "default_dtype", lambda device: torch.bfloat16)
    monkeypatch.setattr(generator_module, "SLOW_TRIAL_S", 0.0)  # the tiny net stands in for a slow one
    runs = []
    real_run = Generator._run
    monkeypatch.setattr(Generator, "_run", lambda self, *a: runs.append(a[-1]) or real_run(self, *a))
    net, w_avg = load_nvidia_pickle(pickles["T"][0])
    gen = Generator(net, w_avg=w_avg, name="slow", fingerprint="slow:1", device="cpu")
    assert runs == [torch.float32, torch.bfloat16]  # the fidelity pair, timed as it ran
    assert set(gen.precision_ms) == {"float32", "reduced"} and gen.precision_check_db is not None


def test_filtered_lrelu_in_channel_groups_is_the_same(monkeypatch):
    from editor.model import stylegan3_ops
    torch.manual_seed(1)
    x = torch.randn(2, 7, 12, 12).to(memory_format=torch.channels_last)
    fu, fd = design_lowpass(12, 3.0, 4.0, 32.0), design_lowpass(12, 3.0, 4.0, 32.0, radial=True)
    args = (fu, fd, torch.randn(7), 2, 2, [9, 8, 9, 8], math.sqrt(2), 0.2, 0.5)
    whole = filtered_lrelu(x, *args)
    monkeypatch.setattr(stylegan3_ops, "CHUNK_ELEMENTS", 2 * 33 * 33 * 2)  # two channels a group
    grouped = filtered_lrelu(x, *args)
    # (oneDNN may vectorise other channel counts differently: equal to float rounding)
    assert torch.allclose(whole, grouped, atol=1e-6) and grouped.is_contiguous(memory_format=torch.channels_last)


def test_settings_that_give_layers_no_channels_are_refused_at_load(tmp_path):
    """A channel base too small for the resolution makes zero-channel layers, whose empty tensors match
    themselves: refused when loading, not at the first render."""
    from tests.support import tiny_sg3, write_nvidia_pickle
    path = write_nvidia_pickle(tmp_path / "empty.pkl", tiny_sg3(channel_base=4))
    with pytest.raises(CheckpointError, match="no channels") as e:
        load_generator(path, device="cpu")
    assert "empty.pkl" in str(e.value)
