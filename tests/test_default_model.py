"""The real default model end to end: parity with the original IR, the Generator API, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from editor.model import CheckpointError, load_generator, psnr, to_uint8


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_port_matches_openvino(default_fp32, openvino_synthesis, seed):
    ov_mapping, ov_synthesis = openvino_synthesis
    z = np.random.RandomState(seed).randn(1, 512).astype(np.float32)
    w_ref = ov_mapping([z])[0]
    w = default_fp32.mapping(torch.from_numpy(z))
    assert np.abs(w.numpy() - w_ref).max() < 1e-4
    ref = torch.from_numpy(ov_synthesis([w_ref])[0])
    ours = default_fp32.synthesis(w)  # broadcast w, const noise: exactly what the IR computes
    assert ours.shape == (1, 3, 1024, 1024)
    assert psnr(ours, ref) >= 40.0


def test_reduced_precision_default_holds_quality(default_weights, default_fp32):
    gen = load_generator(default_weights, device="cpu")  # whatever the machine prefers
    w = gen.mapping(gen.z_from_seed(5), psi=0.7)
    assert psnr(gen.synthesis(w), default_fp32.synthesis(w)) >= 35.0


def test_generator_interface(default_fp32):
    g = default_fp32
    assert (g.resolution, g.num_ws, g.w_dim) == (1024, 23, 512)
    assert {k: (r.start, r.stop) for k, r in g.layer_groups.items()} == \
        {"coarse": (0, 4), "middle": (4, 10), "fine": (10, 23)}
    assert g.w_avg.shape == (512,)
    z = g.z_from_seed(3)
    torch.testing.assert_close(g.mapping(z, psi=0.0)[0], g.w_avg)
    w1, wh = g.mapping(z), g.mapping(z, psi=0.5)
    torch.testing.assert_close(wh, g.w_avg + 0.5 * (w1 - g.w_avg))
    # w and its broadcast w+ render the same face; previews and other sizes have the asked shape.
    torch.testing.assert_close(g.synthesis(wh, size=256), g.synthesis(g.broadcast(wh), size=256))
    for size in (256, 512, 128, 300):
        assert g.synthesis(wh, size=size).shape == (1, 3, size, size)
    with pytest.raises(ValueError):
        g.synthesis(torch.zeros(1, 7, 512))


def test_previews_resemble_the_full_render_and_their_fidelity_is_recorded(default_fp32, default_weights):
    g = default_fp32
    w = g.mapping(g.z_from_seed(11), psi=0.7)
    full = g.synthesis(w)
    for size in (512, 256):
        down = torch.nn.functional.interpolate(full, size=(size, size), mode="area")
        assert psnr(g.synthesis(w, size=size), down) >= 27.0
    # The conversion measured every preview size on held-out edits; the app trusts only what clears 30 dB.
    fidelity = json.loads(default_weights.with_suffix(".json").read_text())["preview_fidelity_db"]
    assert set(fidelity) == {"256", "512"} and all(v["min"] <= v["mean"] for v in fidelity.values())
    assert g.trusted_preview_sizes == tuple(s for s in (256, 512) if fidelity[str(s)]["min"] >= 30.0)


def test_mixing_layer_groups_changes_what_it_should(default_fp32):
    """Coarse rows from B give B's pose/shape; the image must move far more than from fine rows' colour."""
    g = default_fp32
    wa, wb = g.mapping(g.z_from_seed(1), psi=0.7), g.mapping(g.z_from_seed(2), psi=0.7)
    a = g.broadcast(wa).clone()
    for group in ("coarse", "fine"):
        mixed = a.clone()
        idx = list(g.layer_groups[group])
        mixed[:, idx] = wb[:, None]
        assert not torch.allclose(g.synthesis(mixed, size=256), g.synthesis(a, size=256))


def test_w_avg_is_stored_in_the_converted_file(default_weights):
    config = json.loads(default_weights.with_suffix(".json").read_text())
    assert config["num_ws"] == 23 and config["resolution"] == 1024
    assert config["fingerprint"].startswith("mobilestylegan-ffhq-1024:")
    assert "non-commercial" in config["licence"]


def test_broken_safetensors_give_checkpoint_errors(default_weights, tmp_path):
    data = default_weights.read_bytes()
    cases = {"truncated.safetensors": data[: len(data) // 3], "empty.safetensors": b"",
             "garbage.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"}
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(CheckpointError) as e:
            load_generator(p, device="cpu")
        assert name in str(e.value)
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator(tmp_path / "missing.safetensors")


def test_cli_render_writes_a_face(tmp_path, default_weights):
    out = tmp_path / "face.png"
    subprocess.run([sys.executable, "-m", "editor", "render", "--seed", "4", "--size", "256", "-o", str(out),
                    "--quiet"], check=True, capture_output=True, timeout=300)
    img = np.asarray(Image.open(out))
    assert img.shape == (256, 256, 3)
    # A face, not a flat or noise image: skin-toned centre, real structure, no saturation.
    assert 20 < img.std() < 100
    centre = img[96:160, 96:160].reshape(-1, 3).mean(0)
    assert centre[0] > centre[2]  # skin is redder than it is blue
    # The PNG carries the edit: it reopens as seed 4 at the default truncation.
    from editor.io import read_edit_from_image
    state, _ = read_edit_from_image(out)
    assert state.source_a.seed == 4 and state.psi == 0.7 and state.paint == "none"

    inked = tmp_path / "ink.png"
    subprocess.run([sys.executable, "-m", "editor", "render", "--seed", "4", "--size", "256", "-o", str(inked),
                    "--paint", "ink", "--quiet"], check=True, capture_output=True, timeout=300)
    # Painted on the full render, then the whole shrunk: what the app shows for this edit, at any size.
    whole = tmp_path / "whole.png"
    subprocess.run([sys.executable, "-m", "editor", "render", "--seed", "4", "-o", str(whole), "--quiet"],
                   check=True, capture_output=True, timeout=300)
    from editor.paint import paint
    from editor.pipeline import shrink
    assert np.array_equal(np.asarray(Image.open(inked)), shrink(paint(np.asarray(Image.open(whole)), "ink"), 256))
    assert read_edit_from_image(inked)[0].paint == "ink"


def test_to_uint8_rounds_the_range():
    x = torch.tensor([-1.0, -0.999, 0.0, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert to_uint8(x)[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]
