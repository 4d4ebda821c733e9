"""Model files: format detection, NVIDIA pickles (safely), rosinality .pt files, and every way they can be bad."""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys

import numpy as np
import pytest
import torch

from editor.model.checkpoint_format import detect_format
from editor.model.errors import CheckpointError
from editor.model.nvidia_pickle import load_nvidia_pickle
from editor.model.rosinality import infer_config, load_rosinality
from tests.support import (FAKE_MODULES, legacy_tf_init_kwargs, rosinality_forward, rosinality_mapping, rosinality_state_dict,
                                 tiny_net, write_malicious_pickle, write_nvidia_pickle, write_rosinality_pt)


@pytest.fixture(autouse=True)
def _inference_only():
    with torch.no_grad():
        yield


def _same_outputs(a, b, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, a.z_dim, generator=g)
    assert torch.equal(a.mapping(z), b.mapping(z))
    ws = torch.randn(2, a.num_ws, a.w_dim, generator=g)
    for mode in ("const", "off"):
        assert torch.equal(a.synthesis(ws, noise_mode=mode), b.synthesis(ws, noise_mode=mode))


def _write_safetensors(path):
    header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return path


# ---------------------------------------------------------------------------------------------- detection

def test_detect_format(tmp_path):
    net = tiny_net()
    assert detect_format(write_nvidia_pickle(tmp_path / "a.pkl", net)) == "nvidia-pkl"
    assert detect_format(write_rosinality_pt(tmp_path / "b.bin", net)) == "rosinality-pt"  # names don't matter
    torch.save({"g_ema": {}}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert detect_format(tmp_path / "legacy.pt") == "rosinality-pt"
    assert detect_format(_write_safetensors(tmp_path / "c.safetensors")) == "mobilestylegan-safetensors"


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"\x13" + bytes(range(200)),
                                     struct.pack("<Q", 10 ** 9) + b"{}"])
def test_detect_format_refuses_unknown(tmp_path, content):
    path = tmp_path / "mystery.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="mystery.ckpt"):
        detect_format(path)


# ------------------------------------------------------------------------------------------ NVIDIA pickles

@pytest.mark.parametrize("layout,protocol", [("stylegan3", 4), ("ada", 3), ("stylegan3", 2), ("ada", 5)])
def test_nvidia_round_trip(tmp_path, layout, protocol):
    net = tiny_net(seed=3)
    w_avg = torch.randn(32)
    path = write_nvidia_pickle(tmp_path / "net.pkl", net, w_avg=w_avg, layout=layout, protocol=protocol)
    assert not any(m in sys.modules for m in FAKE_MODULES)  # the loader cannot lean on the writer's modules
    loaded, got_w_avg = load_nvidia_pickle(path)
    assert not any(m in sys.modules for m in FAKE_MODULES)
    assert torch.equal(got_w_avg, w_avg) and torch.equal(loaded.mapping.w_avg, w_avg)
    assert loaded.init_kwargs["channel_base"] == 256 and loaded.init_kwargs["conv_clamp"] == 256
    assert not loaded.training
    _same_outputs(net, loaded)


def test_nvidia_round_trip_other_architecture(tmp_path):
    net = tiny_net(architecture="resnet")
    loaded, _ = load_nvidia_pickle(write_nvidia_pickle(tmp_path / "net.pkl", net))
    assert loaded.init_kwargs["architecture"] == "resnet"
    _same_outputs(net, loaded)


def test_stylegan3_pickle_loads_as_stylegan3(tmp_path):
    # Refused by name until StyleGAN3 was implemented; tests/test_stylegan3.py covers it in depth.
    from editor.model.stylegan3 import StyleGAN3
    from tests.support import tiny_sg3
    loaded, _ = load_nvidia_pickle(write_nvidia_pickle(tmp_path / "sg3.pkl", tiny_sg3()))
    assert isinstance(loaded, StyleGAN3) and loaded.num_ws == 16


@pytest.mark.parametrize("kind,global_name", [("exec", "builtins.exec"), ("system", f"{os.system.__module__}.system")])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, kind, global_name):
    # First prove the payload is live: the stock unpickler runs it.
    proof = tmp_path / "proof"
    with open(write_malicious_pickle(tmp_path / "proof.pkl", proof, kind), "rb") as f:
        pickle.load(f)
    assert proof.exists()

    marker = tmp_path / "marker"
    path = write_malicious_pickle(tmp_path / "evil.pkl", marker, kind)
    with pytest.raises(CheckpointError, match=f"refuses to load global '{global_name}'") as e:
        load_nvidia_pickle(path)
    assert "evil.pkl" in str(e.value)
    assert not marker.exists()


def test_module_src_is_never_executed(tmp_path):
    marker = tmp_path / "marker"
    path = write_malicious_pickle(tmp_path / "src.pkl", marker, "module_src")
    net, _ = load_nvidia_pickle(path)  # a well-formed network: loads, but its stored source never runs
    assert net.num_ws == tiny_net().num_ws
    assert not marker.exists()


@pytest.mark.parametrize("overrides,message", [
    (dict(c_dim=10), "conditional"),
    (dict(fancy_option=3), "fancy_option"),
    (dict(channel_max=16), "mis-shaped tensors synthesis.b4.const"),
    (dict(mapping_kwargs=dict(num_layers=3)), "missing tensors mapping.fc2.weight"),
    (dict(mapping_kwargs=dict(num_layers=1)), "unexpected tensors mapping.fc1.weight"),
    (dict(img_resolution=48), "img_resolution=48 is not implemented"),
])
def test_nvidia_record_mismatches(tmp_path, overrides, message):
    path = write_nvidia_pickle(tmp_path / "odd.pkl", tiny_net(), init_overrides=overrides)
    with pytest.raises(CheckpointError, match=message) as e:
        load_nvidia_pickle(path)
    assert "odd.pkl" in str(e.value)


def test_wrong_class_for_g_ema(tmp_path):
    path = write_nvidia_pickle(tmp_path / "d.pkl", tiny_net(), g_ema_class="Discriminator")
    with pytest.raises(CheckpointError, match="Discriminator") as e:
        load_nvidia_pickle(path)
    assert "d.pkl" in str(e.value)


# ------------------------------------------------------------------------------------------ rosinality .pt

@pytest.mark.parametrize("with_latent_avg", [True, False])
def test_rosinality_round_trip(tmp_path, with_latent_avg):
    net = tiny_net(seed=5, conv_clamp=None)  # rosinality's generator has no clamp
    latent_avg = torch.randn(32) if with_latent_avg else None
    loaded, got = load_rosinality(write_rosinality_pt(tmp_path / "r.pt", net, latent_avg=latent_avg))
    _same_outputs(net, loaded)
    if with_latent_avg:
        assert torch.equal(got, latent_avg) and torch.equal(loaded.mapping.w_avg, latent_avg)
    else:
        assert got is None
    assert loaded.init_kwargs["mapping_kwargs"] == dict(num_layers=2, lr_multiplier=0.01)


def test_rosinality_matches_an_independent_rosinality_forward(tmp_path):
    net = tiny_net(seed=6, conv_clamp=None)
    sd = rosinality_state_dict(net)
    loaded, _ = load_rosinality(write_rosinality_pt(tmp_path / "r.pt", net))
    z = torch.randn(2, 32)
    torch.testing.assert_close(loaded.mapping(z), rosinality_mapping(sd, z))
    ws = torch.randn(2, loaded.num_ws, 32)  # a different w per layer, to check rosinality's w indexing too
    torch.testing.assert_close(loaded.synthesis(ws, noise_mode="const"), rosinality_forward(sd, ws),
                               rtol=1e-4, atol=1e-4)


def test_rosinality_training_checkpoint_with_args(tmp_path):
    net = tiny_net(seed=7, conv_clamp=None)
    loaded, got = load_rosinality(write_rosinality_pt(tmp_path / "t.pt", net, latent_avg=torch.zeros(1, 32),
                                                      with_train_extras=True))
    assert got.shape == (32,)
    _same_outputs(net, loaded)


@pytest.mark.parametrize("size,multiplier,base", [(256, 2, 32768), (1024, 1, 16384), (32, 2, 16384)])
def test_rosinality_config_inference(size, multiplier, base):
    channels = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier,
                256: 64 * multiplier, 512: 32 * multiplier, 1024: 16 * multiplier}  # rosinality's table
    e = lambda *shape: torch.empty(shape, device="meta")  # noqa: E731
    sd = {f"style.{i}.weight": e(512, 512) for i in range(1, 9)}
    sd.update({"conv1.conv.weight": e(1, 512, 512, 3, 3), "to_rgb1.conv.weight": e(1, 3, 512, 1, 1)})
    res, j = 8, 0
    while res <= size:
        sd[f"convs.{2 * j}.conv.weight"] = e(1, channels[res], channels[res // 2], 3, 3)
        sd[f"to_rgbs.{j}.conv.weight"] = e(1, 3, channels[res], 1, 1)
        res, j = res * 2, j + 1
    cfg = infer_config(sd, "x.pt")
    assert (cfg["img_resolution"], cfg["channel_base"], cfg["channel_max"]) == (size, base, 512)
    assert cfg["mapping_kwargs"]["num_layers"] == 8 and cfg["z_dim"] == cfg["w_dim"] == 512


def test_rosinality_refuses_pickled_code(tmp_path):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    torch.save({"g_ema": {}, "args": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_rosinality(tmp_path / "evil.pt")
    assert not marker.exists()


# ------------------------------------------------------------------------------- broken files, both loaders

def _bad_files(tmp_path):
    net = tiny_net()
    pkl = write_nvidia_pickle(tmp_path / "good.pkl", net).read_bytes()
    pt = write_rosinality_pt(tmp_path / "good.pt", tiny_net(conv_clamp=None)).read_bytes()
    files = {
        "empty.pkl": b"",
        "truncated.pkl": pkl[: len(pkl) // 2],
        "truncated.pt": pt[: len(pt) // 2],
        "random.bin": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "notes.txt": b"This is not a model.\n" * 20,
        "no_g_ema.pkl": pickle.dumps({"G": 1, "D": 2}),
        "list.pkl": pickle.dumps([1, 2, 3]),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    sd = rosinality_state_dict(tiny_net(conv_clamp=None))
    sd["convs.1.conv.weight"] = torch.zeros(1, 32, 7, 3, 3)
    write_rosinality_pt(tmp_path / "misshapen.pt", net, g_ema=sd)
    torch.save({"g": {}}, tmp_path / "no_g_ema.pt")
    sd = rosinality_state_dict(tiny_net(conv_clamp=None))
    del sd["noises.noise_3"]
    write_rosinality_pt(tmp_path / "missing.pt", net, g_ema=sd)
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("good"))


@pytest.mark.parametrize("loader", [load_nvidia_pickle, load_rosinality])
def test_broken_files_raise_checkpoint_error_naming_the_file(tmp_path, loader):
    names = _bad_files(tmp_path)
    assert len(names) == 10
    for name in names + ["does_not_exist.pkl"]:
        with pytest.raises(CheckpointError) as e:
            loader(tmp_path / name)
        assert name in str(e.value), (name, str(e.value))


def test_misshapen_rosinality_tensor_is_named(tmp_path):
    _bad_files(tmp_path)
    with pytest.raises(CheckpointError, match=r"synthesis\.b8\.conv1\.weight \[32, 7, 3, 3\]"):
        load_rosinality(tmp_path / "misshapen.pt")
    with pytest.raises(CheckpointError, match="missing noises.noise_3"):
        load_rosinality(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="has no 'G_ema'"):
        load_nvidia_pickle(tmp_path / "no_g_ema.pkl")


def test_tensorflow_pickle_gets_a_conversion_hint(tmp_path):
    # What an original TF StyleGAN2 .pkl opens with: a dnnlib.tflib Network rebuilt through its class.
    path = tmp_path / "tf.pkl"
    path.write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02b.")
    with pytest.raises(CheckpointError, match="TensorFlow StyleGAN pickle") as e:
        load_nvidia_pickle(path)
    assert "tf.pkl" in str(e.value)


def test_load_generator_reads_each_format_and_groups_like_the_papers(tmp_path):
    """Through the one public entry point: NVIDIA pickle and rosinality .pt give the same Generator."""
    from editor.model import load_generator

    net = tiny_net(img_resolution=32)
    w_avg = torch.randn(net.w_dim)
    pkl, pt = tmp_path / "tiny.pkl", tmp_path / "tiny.pt"
    write_nvidia_pickle(pkl, net, w_avg)
    write_rosinality_pt(pt, net, latent_avg=None)
    g1 = load_generator(pkl, device="cpu", dtype=torch.float32)
    g2 = load_generator(pt, device="cpu", dtype=torch.float32)
    assert g1.num_ws == g2.num_ws == 8
    assert {k: (r.start, r.stop) for k, r in g1.layer_groups.items()} == \
        {"coarse": (0, 4), "middle": (4, 8), "fine": (0, 0)}
    torch.testing.assert_close(g1.w_avg, w_avg)
    # rosinality without latent_avg: estimated from 10k z, cached beside the file, and reused.
    cached = list(tmp_path.glob("tiny.pt.w_avg.*.npy"))
    assert len(cached) == 1
    assert load_generator(pt, device="cpu", dtype=torch.float32).w_avg.equal(g2.w_avg)
    z = g1.z_from_seed(3)
    w = g1.mapping(z)
    torch.testing.assert_close(w, g2.mapping(z))
    torch.testing.assert_close(g1.synthesis(w), g2.synthesis(w), atol=1e-5, rtol=1e-5)
    assert g1.fingerprint != g2.fingerprint and g1.fingerprint.startswith("tiny:")


# ------------------------------------------------------------------- options NVIDIA's code writes (issue 12)

@pytest.mark.parametrize("layout", ["ada", "stylegan3"])
def test_tensorflow_converted_pickle_loads(tmp_path, layout):
    """NVIDIA's pretrained StyleGAN2 pickles come from legacy.py, which records every TF option explicitly."""
    net = tiny_net(conv_clamp=None)
    path = write_nvidia_pickle(tmp_path / "tf.pkl", net, layout=layout,
                               init_kwargs=legacy_tf_init_kwargs(net, layout))
    loaded, w_avg = load_nvidia_pickle(path)
    _same_outputs(net, loaded)
    assert torch.equal(w_avg, net.mapping.w_avg)


@pytest.mark.parametrize("options", [
    dict(use_noise=False), dict(architecture="orig"), dict(activation="linear"),
    dict(mapping_kwargs=dict(num_layers=2, activation="linear", layer_features=16, w_avg_beta=None)),
])
def test_other_implemented_option_values_round_trip(tmp_path, options):
    net = tiny_net(**options)
    path = write_nvidia_pickle(tmp_path / "opt.pkl", net, layout="ada",
                               init_overrides=dict(channels_last=False, fp16_channels_last=True, kernel_size=3,
                                                   fused_modconv_default="inference_only", resample_filter=(1, 3, 3, 1)))
    loaded, w_avg = load_nvidia_pickle(path)
    _same_outputs(net, loaded)
    assert (w_avg is None) == (options.get("mapping_kwargs", {}).get("w_avg_beta", 0) is None)


@pytest.mark.parametrize("where,key,value,shown", [
    ("synthesis", "activation", "relu", "activation='relu'"),
    ("synthesis", "resample_filter", [1, 2, 1], "resample_filter=[1, 2, 1]"),
    ("synthesis", "conv_clamp", "abc", "conv_clamp='abc'"),
    ("synthesis", "conv_clamp", float("nan"), "conv_clamp=nan"),
    ("synthesis", "conv_clamp", -1.0, "conv_clamp=-1.0"),
    ("synthesis", "use_noise", "yes", "use_noise='yes'"),
    ("synthesis", "kernel_size", 5, "kernel_size=5"),
    ("mapping", "activation", "swish", "activation='swish'"),
    ("mapping", "num_layers", 10 ** 6, "num_layers=1000000"),
    ("generator", "img_channels", 4, "img_channels=4"),
])
def test_unimplemented_option_values_are_refused_by_name(tmp_path, where, key, value, shown):
    net = tiny_net(conv_clamp=None)
    kwargs = legacy_tf_init_kwargs(net, "ada")
    {"synthesis": kwargs["synthesis_kwargs"], "mapping": kwargs["mapping_kwargs"], "generator": kwargs}[where][key] = value
    path = write_nvidia_pickle(tmp_path / "odd.pkl", net, init_kwargs=kwargs)
    with pytest.raises(CheckpointError) as e:
        load_nvidia_pickle(path)
    assert shown in str(e.value) and "not implemented" in str(e.value) and "odd.pkl" in str(e.value)


def test_greyscale_model_renders_grey_rgb(tmp_path):
    from editor.model import load_generator
    net = tiny_net(img_channels=1)
    for res in net.synthesis.block_resolutions:  # a random net saturates; tone it down so pixels vary
        getattr(net.synthesis, f"b{res}").torgb.weight.mul_(0.02)
        getattr(net.synthesis, f"b{res}").torgb.bias.zero_()
    g = load_generator(write_nvidia_pickle(tmp_path / "grey.pkl", net), device="cpu", dtype=torch.float32)
    img = g.synthesis(g.mapping(g.z_from_seed(1)))
    assert img.shape == (1, 3, 32, 32)
    assert torch.equal(img[:, 0], img[:, 1]) and torch.equal(img[:, 0], img[:, 2])
    ours = net.synthesis(g.broadcast(g.mapping(g.z_from_seed(1))))  # [1, 3, H, W] of the one grey channel
    torch.testing.assert_close(img, ours.clamp(-1, 1))
    assert img.std() > 0.01 and img.abs().max() < 1


def test_pickle_without_mean_latent_caches_it_beside_the_file(tmp_path, monkeypatch):
    from editor.model import load_generator, loading
    net = tiny_net(mapping_kwargs=dict(num_layers=2, w_avg_beta=None))
    path = write_nvidia_pickle(tmp_path / "nomean.pkl", net)
    calls = []
    real = loading.estimate_w_avg
    monkeypatch.setattr(loading, "estimate_w_avg", lambda *a, **k: calls.append(1) or real(*a, **k))
    g1 = load_generator(path, device="cpu", dtype=torch.float32)
    cached = list(tmp_path.glob("nomean.pkl.w_avg.*.npy"))
    assert len(calls) == 1 and len(cached) == 1
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no temporary left behind
    np.testing.assert_array_equal(np.load(cached[0]), g1.w_avg.cpu().numpy())
    g2 = load_generator(path, device="cpu", dtype=torch.float32)
    assert len(calls) == 1 and torch.equal(g1.w_avg, g2.w_avg)  # reused, not recomputed
    cached[0].write_bytes(b"garbage")  # a damaged cache is recomputed, not trusted
    load_generator(path, device="cpu", dtype=torch.float32)
    assert len(calls) == 2
    # A 128-byte .npy declaring 10^6 x 10^6 floats: refused by its header (no MemoryError), then recomputed.
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }".ljust(117) + "\n"
    cached[0].write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    assert cached[0].stat().st_size == 128
    g3 = load_generator(path, device="cpu", dtype=torch.float32)
    assert len(calls) == 3 and torch.equal(g3.w_avg, g1.w_avg)
    np.testing.assert_array_equal(np.load(cached[0]), g1.w_avg.cpu().numpy())
