"""Eyeglasses and hair lightness: the measures agree with faces labelled by eye, and the shipped directions
move them on held-out faces."""

import numpy as np
import pytest
import torch

from editor.measures.looks import GLASSES_THRESHOLD, LIGHT_HAIR_THRESHOLD, agreement, load_labels, looks
from editor.directions.library import RESOURCES, load_library
from editor.model import to_uint8

LABELS = RESOURCES.parent / "labels" / "looks.json"


def _faces(g, seeds, psi=0.8):
    """Three at a time: a batch of 12 full renders held 2.7 GB, the suite's largest step up in memory."""
    out = []
    for i in range(0, len(seeds), 3):
        z = torch.cat([g.z_from_seed(s) for s in seeds[i:i + 3]])
        img = torch.nn.functional.interpolate(g.synthesis(g.mapping(z, psi=psi)), size=(512, 512), mode="area")
        out.append(to_uint8(img))
    return np.concatenate(out)


def test_measures_agree_with_labels_made_by_eye(default_fp32):
    """Seeds labelled by eye in resources/labels/looks.json: glasses (100000 dark frames, 100020 thin ones,
    100009 sunglasses) against bare faces; blond or grey hair against black."""
    labels = load_labels(LABELS)
    glasses, bare = [100000, 100009, 100020], [100001, 100002, 100004]
    light, dark = [100012, 100016, 100026], [100003, 100030, 100032]
    assert set(glasses) <= set(labels["eyeglasses"]) and not set(bare) & set(labels["eyeglasses"])
    assert set(light) <= set(labels["light_hair"]) and set(dark) <= set(labels["dark_hair"])
    s = looks(_faces(default_fp32, glasses + bare + light + dark))
    assert agreement(s["eyeglasses"], np.arange(3), np.arange(3, 6), GLASSES_THRESHOLD) == 1.0
    assert agreement(s["hair_lightness"], np.arange(6, 9), np.arange(9, 12), LIGHT_HAIR_THRESHOLD) == 1.0


def test_measures_read_any_size_and_a_plain_picture_low():
    """A smooth grey picture has no frame at the bridge: the score is far below the threshold, at any size."""
    flat = np.full((2, 256, 256, 3), 128, np.uint8)
    s = looks(flat)
    assert s["eyeglasses"].shape == (2,) and (s["eyeglasses"] < 1.0).all()
    assert s["hair_lightness"] == pytest.approx(128, abs=1)


def test_shipped_looks_directions_move_their_measure_on_held_out_faces(default_fp32):
    g = default_fp32
    dirs, _ = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)
    w = g.mapping(torch.cat([g.z_from_seed(s) for s in range(900000, 900004)]), psi=0.8)
    from tools.directions.locks import moved_wplus
    for name, key, gain in (("eyeglasses", "eyeglasses", 3.0), ("hair_lightness", "hair_lightness", 25.0)):
        d = dirs[name]
        lo, hi = (looks(to_uint8(torch.nn.functional.interpolate(
            g.synthesis(moved_wplus(g, w, dirs, {name: s * d.range})), size=(512, 512), mode="area")))[key]
            for s in (-1, 1))
        assert (hi > lo).all() and (hi - lo).mean() > gain, (name, lo, hi)
    assert dirs["eyeglasses"].rows(g.num_ws).stop <= 10  # frames are shape: coarse and middle rows only


def test_fit_looks_recovers_planted_directions_and_adds_them_beside_the_others(tmp_path, monkeypatch):
    """On a tiny model with scores planted along known w directions: each fitted normal finds its own,
    holds age and gender, the slider never exceeds the measured reach, and the library keeps its others."""
    import json

    from tools.directions import fit_looks as fl
    from editor.directions.library import load_folder
    from editor.model.generator import Generator
    from tests.support import tiny_mobile_net as tiny_net
    g = Generator(tiny_net(), w_avg=torch.zeros(16), name="t", fingerprint="t:looks", device="cpu")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((300, 16)).astype(np.float32)
    axes = np.eye(16, dtype=np.float32)
    scores = {"age": w @ axes[0] * 10, "p_male": 1 / (1 + np.exp(-w @ axes[1])), "smile": 1 / (1 + np.exp(-w @ axes[2])),
              "eyeglasses": w @ axes[3] + 0.5 * w @ axes[0], "hair_lightness": w @ axes[4] * 20}
    monkeypatch.setattr(fl, "measured_reach", lambda gen, d, hi: 2.5)  # the tiny model draws no faces to detect
    dirs, records = fl.fit_looks(g, w, scores, psi=0.8, seeds=(0, 299))
    assert abs(dirs["eyeglasses"].vector @ axes[3]) > 0.95 and abs(dirs["eyeglasses"].vector @ axes[0]) < 0.05
    assert abs(dirs["hair_lightness"].vector @ axes[4]) > 0.95
    assert dirs["eyeglasses"].range == 2.5 and records["eyeglasses"]["reach_measured"]["sigma"] == 2.5
    assert records["eyeglasses"]["conditioned_on"] == ["age", "gender", "smile"]
    folder = tmp_path / "lib"
    folder.mkdir()
    np.save(folder / "age.npy", axes[0])
    (folder / "manifest.json").write_text(json.dumps({"model_fingerprint": "t:looks", "directions": [
        {"name": "age", "file": "age.npy", "layers": [0, g.num_ws], "scale": 1.0, "range": 3.0}]}))
    fl.add_to_library(folder, g, dirs, records)
    lib = load_folder(folder, "t:looks", 16, g.num_ws)
    assert set(lib) == {"age", "eyeglasses", "hair_lightness"} and np.allclose(lib["age"].vector, axes[0])
    assert lib["eyeglasses"].rows(g.num_ws) == range(0, 10)
