"""Eyeglasses and hair lightness: the measures agree with faces labelled by eye, and the shipped directions
move them on held-out faces."""

import numpy as np
import pytest
import torch

from editor.directions.looks import GLASSES_THRESHOLD, LIGHT_HAIR_THRESHOLD, agreement, load_labels, looks
from editor.directions.library import RESOURCES, load_library
from editor.model import to_uint8

LABELS = RESOURCES.parent / "labels" / "looks.json"


def _faces(g, seeds, psi=0.8):
    z = torch.cat([g.z_from_seed(s) for s in seeds])
    img = torch.nn.functional.interpolate(g.synthesis(g.mapping(z, psi=psi)), size=(512, 512), mode="area")
    return to_uint8(img)


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
    from editor.directions.locks import moved_wplus
    for name, key, gain in (("eyeglasses", "eyeglasses", 3.0), ("hair_lightness", "hair_lightness", 25.0)):
        d = dirs[name]
        lo, hi = (looks(to_uint8(torch.nn.functional.interpolate(
            g.synthesis(moved_wplus(g, w, dirs, {name: s * d.range})), size=(512, 512), mode="area")))[key]
            for s in (-1, 1))
        assert (hi > lo).all() and (hi - lo).mean() > gain, (name, lo, hi)
    assert dirs["eyeglasses"].rows(g.num_ws).stop <= 10  # frames are shape: coarse and middle rows only
