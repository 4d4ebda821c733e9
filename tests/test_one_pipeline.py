"""One pipeline: an edit gives the same pixels from every path that makes them — the app's render worker,
editor.pipeline.render_edit, animation frames, batch, a reopened export and a reopened session, at any size
(the full render shrunk) — over a matrix of edits: seeds, paint, crossbred parents, photo latents with tuned
weights and detail maps, a blend with a second model, StyleGAN3's move and turn. And no render writes into a
generator: two photos rendered on two threads at once are each their render alone."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from editor import io
from editor.breed import add_parent, with_parent_weight
from editor.compose import Direction
from editor.edit import EditState, Source
from editor.model import Generator
from editor.model.blend import BlendSettings, blend
from editor.motion import morph, render_animation, render_frame
from editor.photo.delta import WeightDelta, resolve_beside, save_beside
from editor.photo.detail import detail_layers
from editor.pipeline import render_edit, shrink
from editor.render import RenderRequest, render
from tests.support import tiny_generator, tiny_sg3


def _delta(gen, seed, scale=0.05, maps=True):
    d = WeightDelta.zeros_like(gen.net, rank=2, seed=seed, full_below=300)
    g = torch.Generator().manual_seed(seed)
    d = WeightDelta({k: tuple(t + scale * torch.randn(t.shape, generator=g) for t in f) for k, f in d.factors.items()},
                    d.shapes)
    if maps:
        d = d.with_maps({k: 0.3 * torch.randn(act.noise_const.shape, generator=g)
                         for k, act in detail_layers(gen.net).items()}, radius=2.0)
    return d


def _photo(gen, seed, z_seed):
    w = gen.mapping(gen.z_from_seed(z_seed)).numpy()
    return Source.from_latent(np.repeat(w, gen.num_ws, 0), f"photo {seed}", delta=_delta(gen, seed))


@pytest.fixture(scope="module")
def tiny():
    return tiny_generator()


@pytest.fixture(scope="module")
def dirs(tiny):
    v = np.random.default_rng(3).standard_normal(tiny.w_dim).astype(np.float32)
    return {"up": Direction("up", v / np.linalg.norm(v), layers=(0, 6), scale=2.0, range=3.0)}


def _edits(gen) -> dict[str, EditState]:
    base = EditState.new(gen.fingerprint, gen.num_ws, seed_a=5, seed_b=9)
    parents = with_parent_weight(add_parent(add_parent(base, Source.from_seed(21)), Source.from_seed(22), 0.3),
                                 0, range(0, 4), 1.0)
    photo = replace(base, source_a=_photo(gen, 1, 40), source_b=_photo(gen, 2, 41))
    return {
        "seed": base.with_direction("up", 1.5),
        "seed, paint, random noise": base.with_direction("up", -1.0).with_paint("oil", 0.8)
        .with_noise("random", 0.7, 3),
        "crossbred parents": parents,
        "photo with delta and maps": photo,
        "two photos mixed, edited": photo.with_group_mix(range(0, 6), 0.6).with_direction("up", 0.5),
    }


def _paths_agree(gen, state, dirs, tmp_path):
    """Every path to the pixels of `state` against render_edit's; returns the full image."""
    full = render_edit(gen, state, dirs)
    app = render(gen, RenderRequest(0, state), dirs)
    assert app.error is None and np.array_equal(app.images[0], full), "app"
    small = gen.resolution * 3 // 8  # not a whole-number ratio: the Lanczos path
    assert np.array_equal(render_edit(gen, state, dirs, small), shrink(full, small)), "--size"
    assert np.array_equal(render_edit(gen, state, dirs, gen.resolution // 4), shrink(full, gen.resolution // 4))
    # Animation: a morph whose first frame is this edit with B mixed out, and a frame of the edit itself.
    assert np.array_equal(render_frame(gen, morph(state, dict(gen.layer_groups), 3)[0], dirs, None),
                          render_edit(gen, replace(state, mix=(0.0,) * state.num_ws), dirs)), "morph frame 0"
    assert np.array_equal(render_frame(gen, morph(state, dict(gen.layer_groups), 3)[-1], dirs, gen.resolution // 2),
                          render_edit(gen, replace(state, mix=(1.0,) * state.num_ws), dirs, gen.resolution // 2)), \
        "morph last"
    # A reopened export and a reopened session (a photo's tuned weights travel beside them).
    png = tmp_path / "export.png"
    save_beside(png, state)
    io.export_image(png, full, state, gen.name)
    again, _ = io.read_edit_from_image(png)
    again, problems = resolve_beside(again, tmp_path, gen.net)
    assert not problems and again == state
    assert np.array_equal(render_edit(gen, again, dirs), full), "reopened export"
    save_beside(tmp_path / "s.json", state)
    io.save_session(tmp_path / "s.json", state, {})
    session, _ = io.load_session(tmp_path / "s.json")
    session, problems = resolve_beside(session, tmp_path, gen.net)
    assert not problems and np.array_equal(render_edit(gen, session, dirs), full), "reopened session"
    return full


@pytest.mark.parametrize("name", ["seed", "seed, paint, random noise", "crossbred parents",
                                  "photo with delta and maps", "two photos mixed, edited"])
def test_every_path_gives_the_same_pixels(tiny, dirs, tmp_path, name):
    state = _edits(tiny)[name]
    full = _paths_agree(tiny, state, dirs, tmp_path)
    frames = [render_frame(tiny, f, dirs, 64) for f in morph(state, dict(tiny.layer_groups), 4)]
    from editor.motion import open_writer
    render_animation(tiny, morph(state, dict(tiny.layer_groups), 4), dirs, 64, open_writer(tmp_path / "a.gif", 64, 12))
    from PIL import Image, ImageSequence
    with Image.open(tmp_path / "a.gif") as gif:
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == len({f.tobytes() for f in frames})
    assert full.std() > 5  # a face, not a flat image


def test_photo_weights_change_the_face_and_every_path_keeps_them(tiny, dirs):
    """The delta and maps are in play: without them the face differs (a path that dropped them would too)."""
    state = _edits(tiny)["photo with delta and maps"]
    bare = replace(state, source_a=replace(state.source_a, delta=None), source_b=replace(state.source_b, delta=None))
    with_delta, without = render_edit(tiny, state, dirs), render_edit(tiny, bare, dirs)
    assert np.abs(with_delta.astype(int) - without).mean() > 2
    assert np.array_equal(render_frame(tiny, morph(state, dict(tiny.layer_groups), 3)[0], dirs, None), with_delta)


def test_batch_renders_the_edit_the_app_renders(tiny, dirs):
    from editor import batch
    batch._WORKER.update(gen=tiny, directions=dirs)
    try:
        task = {"kind": "seed", "seed": 5, "stem": "seed5", "psi": 0.6, "size": 40,
                "edits": {"e": {"directions": {"up": 1.5}, "paint": "ink", "seed_b": 9, "mix": {"coarse": 0.5}}},
                "steps": 1}
        (stem, edit, pixels), = batch._render_face(task)
    finally:
        batch._WORKER.clear()
    state = EditState.from_dict(edit)
    assert state.paint == "ink" and state.directions == (("up", 1.5),)
    assert np.array_equal(pixels, render_edit(tiny, state, dirs, 40))
    assert np.array_equal(pixels, shrink(render(tiny, RenderRequest(0, state), dirs).images[0], 40))


def test_blend_with_a_second_model_renders_the_same_everywhere(tiny, dirs, tmp_path):
    other = tiny_generator()
    with torch.no_grad():
        for p in other.net.parameters():
            p.mul_(0.9).add_(0.01)
    blended = blend(tiny, other, BlendSettings(swap_resolution=32))
    state = _edits(tiny)["two photos mixed, edited"]
    full = _paths_agree(blended, state, dirs, tmp_path)
    assert not np.array_equal(full, render_edit(tiny, state, dirs))


def test_stylegan3_move_and_turn_are_call_inputs(tmp_path):
    net = tiny_sg3()
    gen = Generator(net, w_avg=net.mapping.w_avg, name="sg3", fingerprint="sg3:1", device="cpu", dtype=torch.float32)
    state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=3).with_input_transform(tx=0.1, angle_deg=20.0)
    full = _paths_agree(gen, state, {}, tmp_path)
    still = render_edit(gen, replace(state, input_transform=(0.0, 0.0, 0.0)), {})
    assert not np.array_equal(full, still)
    assert torch.equal(net.synthesis.input.transform, torch.eye(3))  # the network itself never moved


def test_two_photos_on_two_threads_at_once_are_each_their_render_alone(tiny, dirs):
    """Nothing is written into the generator during a render: two threads rendering two different photo
    sources (different deltas and maps) with one generator, over and over, each get their render alone."""
    edits = _edits(tiny)
    a, b = edits["photo with delta and maps"], replace(edits["photo with delta and maps"], mix=(1.0,) * tiny.num_ws)
    alone = {"a": render_edit(tiny, a, dirs), "b": render_edit(tiny, b, dirs)}
    assert not np.array_equal(alone["a"], alone["b"])
    before = {k: v.clone() for k, v in tiny.net.state_dict().items()}
    bad, start = [], threading.Barrier(2)

    def run(key, state):
        start.wait()
        for _ in range(6):
            if not np.array_equal(render_edit(tiny, state, dirs), alone[key]):
                bad.append(key)

    threads = [threading.Thread(target=run, args=("a", a)), threading.Thread(target=run, args=("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
    assert all(torch.equal(v, before[k]) for k, v in tiny.net.state_dict().items())


def test_a_flat_or_non_finite_render_is_an_error_never_an_image(tiny, dirs):
    from editor.pipeline import RenderError
    state = EditState.new(tiny.fingerprint, tiny.num_ws)
    huge = WeightDelta.zeros_like(tiny.net, rank=2, full_below=300)
    huge = WeightDelta({k: tuple(torch.full_like(t, 1e30) for t in f) for k, f in huge.factors.items()}, huge.shapes)
    w = np.repeat(tiny.mapping(tiny.z_from_seed(1)).numpy(), tiny.num_ws, 0)
    with pytest.raises(RenderError):
        render_edit(tiny, replace(state, source_a=Source.from_latent(w, "bad", delta=huge)), dirs)
    result = render(tiny, RenderRequest(0, replace(state, source_a=Source.from_latent(w, "bad", delta=huge))), dirs)
    assert result.error and not result.images


def test_a_freckle_sweep_on_the_default_model_paints_dots_in_every_frame(default_fp32, tmp_path):
    """Animation frames once dropped the painted freckles: a sweep of freckles 4 -> 6 had no dots, its MP4's
    ends were identical and its GIF decoded as one frame. Each frame is now the edit's render, dots and all."""
    from editor.directions import load_library
    from editor.motion import open_writer, sweep
    gen = default_fp32
    dirs = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0]
    assert dirs["freckles"].layer == "freckles"
    base = EditState.new(gen.fingerprint, gen.num_ws, seed_a=12)
    frames = sweep(base, "freckles", dirs, dict(gen.layer_groups), 3, 4.0 * dirs["freckles"].range / 6,
                   dirs["freckles"].range)
    images = [render_frame(gen, f, dirs, 256) for f in frames]
    plain = render_edit(gen, base, dirs, 256)
    dots = []
    for f, image in zip(frames, images):
        assert np.array_equal(image, render_edit(gen, f.state, dirs, 256))
        dots.append(int((np.abs(image.astype(int) - plain).max(axis=-1) > 6).sum()))
    assert dots[0] > 150 and dots[0] < dots[1] < dots[2]  # measured 211, 283, 356 at 256² (seed 12)
    assert not np.array_equal(images[0], images[-1])
    render_animation(gen, frames, dirs, 256, open_writer(tmp_path / "f.gif", 256, 12))
    from PIL import Image, ImageSequence
    with Image.open(tmp_path / "f.gif") as gif:
        assert sum(1 for _ in ImageSequence.Iterator(gif)) == 3


@pytest.mark.parametrize("name", ["photo with delta and maps", "two photos mixed, edited"])
def test_a_saved_latent_with_its_baked_delta_renders_the_face_it_was_saved_from(tiny, dirs, tmp_path, name):
    """Save latent writes the rendered w+ and one delta baked from the sources' (per-row weights and the maps'
    gate at that render); reopened as A, with nothing mixed in, it is the same face."""
    from editor.pipeline import render_with_wplus
    from editor.pipeline.photo_inputs import baked_delta
    state = _edits(tiny)[name]
    image, wplus = render_with_wplus(tiny, state, dirs)
    baked = baked_delta(state, wplus)
    baked.save(tmp_path / "me.delta.safetensors")
    loaded = WeightDelta.load(tmp_path / "me.delta.safetensors", tiny.net)
    reopened = EditState(tiny.fingerprint, Source.from_latent(wplus, "me", delta=loaded), Source.from_seed(1),
                         (0.0,) * tiny.num_ws)
    again = render_edit(tiny, reopened, {})
    assert np.abs(again.astype(int) - image).max() <= 1  # the sums' float order only
    bare = render_edit(tiny, replace(reopened, source_a=replace(reopened.source_a, delta=None)), {})
    assert np.abs(bare.astype(int) - image).mean() > 2  # the delta is what makes it the same face


def test_a_render_nested_in_other_work_takes_none_of_its_inputs(tiny, dirs):
    """The scheduler may render the view at a network block of a paused photo import, on the same thread,
    inside the import's own per-call inputs (its tuned weights): the view's render must not inherit them."""
    from editor.model.call_inputs import call_inputs
    from editor.pipeline.photo_inputs import applied
    state = _edits(tiny)["seed"]
    alone = render_edit(tiny, state, dirs)
    with applied(tiny, [(_delta(tiny, 7), np.ones(tiny.num_ws))]), call_inputs(transform=torch.eye(3)):
        assert np.array_equal(render_edit(tiny, state, dirs), alone)


def test_direction_strips_are_the_app_s_renders(tiny, dirs, tmp_path):
    """The lab's slider strips (tools/directions/evaluate.strips) tile render_edit's faces, at 1:1 as shown."""
    from PIL import Image
    from tools.directions.evaluate import strips
    path, = strips(tiny, dirs, tmp_path, seeds=(3,), k=2.0, steps=3, psi=0.8, size=32)
    strip = np.asarray(Image.open(path))
    w = tiny.mapping(tiny.z_from_seed(3), psi=0.8).numpy()
    state = EditState.new(tiny.fingerprint, tiny.num_ws).with_source("a", Source.from_latent(w, "strip"))
    assert strip.shape == (32, 96, 3)
    for i, amount in enumerate((-2.0, 0.0, 2.0)):
        assert np.array_equal(strip[:, 32 * i:32 * (i + 1)], render_edit(tiny, state.with_direction("up", amount), dirs, 32))
