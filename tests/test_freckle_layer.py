"""Freckles painted on the render (editor.freckle_layer): where they go, what they look like, and that the
slider's + side paints them in every image the app makes while its - side still moves w+."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from editor.directions.library import DirectionError, load_folder
from editor.measures.pose import landmarks
from editor.compose import Direction, compose_wplus
from editor.edit import EditState, Source
from editor.freckle_layer import paint_freckles


@pytest.fixture(scope="module")
def face(default_weights):
    """A default-model face at 512² (seed 3, psi 0.8) and its generator."""
    from editor.model import load_generator, to_uint8
    gen = load_generator(default_weights, device="cpu")
    return to_uint8(gen.synthesis(gen.broadcast(gen.mapping(gen.z_from_seed(3), psi=0.8)), size=512,
                                  ))[0], gen


def test_no_strength_is_the_image_itself(face):
    image, _ = face
    assert paint_freckles(image, 0.0, 1) is image
    assert paint_freckles(image, -1.0, 1) is image


def test_freckles_are_brown_dots_on_the_cheeks_and_nose_only(face):
    image, _ = face
    out = paint_freckles(image, 1.0, 7)
    diff = image.astype(int) - out.astype(int)
    changed = np.abs(diff).sum(-1) > 6
    assert 100 < changed.sum() < 0.05 * changed.size  # dots, not a tint
    p = landmarks(image)
    eyes_y, d = p[:4, 1].mean(), np.linalg.norm(p[:2].mean(0) - p[2:4].mean(0))
    ys, xs = np.nonzero(changed)
    assert ys.min() > eyes_y - 0.25 * d and ys.max() < eyes_y + 1.35 * d  # below the eyes, above the chin
    assert np.abs(xs - p[:4, 0].mean()).max() < 1.25 * d
    # darker, and browner: blue loses more than red, as melanin absorbs it
    r, b = diff[changed][:, 0], diff[changed][:, 2]
    assert (diff[changed] >= 0).all() and b.mean() > 1.5 * r.mean()
    # nothing outside the face's middle: background, hair, eyes above
    assert (out[:int(eyes_y - 0.3 * d)] == image[:int(eyes_y - 0.3 * d)]).all()


def test_the_seed_decides_the_dots_and_more_strength_keeps_them(face):
    image, _ = face
    a, b, c = (paint_freckles(image, 1.0, s) for s in (7, 7, 8))
    assert (a == b).all() and not (a == c).all()
    half = np.abs(paint_freckles(image, 0.5, 7).astype(int) - image).sum(-1) > 6
    full = np.abs(a.astype(int) - image).sum(-1) > 6
    assert half.sum() < full.sum() and (half & full).sum() > 0.9 * half.sum()


def test_the_plus_side_is_painted_and_the_minus_side_moves_w():
    v = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    d = Direction("freckles", v / np.linalg.norm(v), None, 1.0, 6.0, layer="freckles")
    w = np.zeros((4, 8), np.float32)
    base = EditState.new("fp", 4, psi=1.0)
    at = lambda a: compose_wplus(w, w, base.with_direction("freckles", a), w[0], {"freckles": d})  # noqa: E731
    assert (at(4.0) == 0).all()
    assert np.allclose(at(-4.0), -4.0 * d.vector)
    with pytest.raises(ValueError, match="unknown layer"):
        Direction("x", v, layer="tattoos")


def test_a_manifest_keeps_the_layer_and_refuses_unknown_ones(tmp_path):
    np.save(tmp_path / "f.npy", np.ones(8, np.float32))
    entry = {"name": "f", "file": "f.npy", "layers": None, "scale": 1.0, "range": 6.0, "layer": "freckles"}
    (tmp_path / "manifest.json").write_text(json.dumps({"model_fingerprint": "fp", "directions": [entry]}))
    assert load_folder(tmp_path, "fp", 8, 4)["f"].layer == "freckles"
    entry["layer"] = "tattoos"
    (tmp_path / "manifest.json").write_text(json.dumps({"model_fingerprint": "fp", "directions": [entry]}))
    with pytest.raises(DirectionError, match="manifest.json"):
        load_folder(tmp_path, "fp", 8, 4)


def test_the_app_paints_them_in_drag_frames_and_full_renders_alike(face):
    """Through editor.render, as the view, exports and batch get them: the shipped freckles slider at +range
    adds the dots, and the exact 512² drag frame shows the full render's dots (its 2x2 mean)."""
    from editor.directions import load_library
    from editor.render import RenderRequest, render
    _, gen = face
    dirs, _ = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    assert dirs["freckles"].layer == "freckles"
    state = EditState.new(gen.fingerprint, gen.num_ws).with_source("a", Source.from_seed(3))
    freckled = state.with_direction("freckles", dirs["freckles"].range)
    plain, full = (render(gen, RenderRequest(0, s, None), dirs).images[0] for s in (state, freckled))
    assert (np.abs(plain.astype(int) - full).sum(-1) > 6).sum() > 400
    drag = render(gen, RenderRequest(0, freckled, 512), dirs).images[0].astype(np.float64)
    shrunk = torch.nn.functional.avg_pool2d(torch.from_numpy(full).permute(2, 0, 1)[None].double(), 2)[0]
    mse = ((drag - shrunk.permute(1, 2, 0).numpy()) ** 2).mean()
    assert 10 * np.log10(255 ** 2 / mse) > 40
