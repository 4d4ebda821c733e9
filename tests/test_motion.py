"""editor.motion: animation plans, frames that are the edits' own renders, MP4 / GIF files that decode,
cancel, and `python -m editor animate` end to end on the real default model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from editor.compose import Direction
from editor.edit import EditState, Source
from editor.model.generator import Generator
from editor.motion import (Cancelled, Frame, frame_count, morph, noise_loop, open_writer, render_animation,
                           render_frame, resize_frame, seed_walk, sweep)
from editor.motion.timeline import _slerp
from editor.render import RenderRequest, render
from tests.support import tiny_mobile_net as tiny_net

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def tiny():
    net = tiny_net()
    w_avg = net.mapping(torch.randn(64, 16, generator=torch.Generator().manual_seed(1))).mean(0)
    return Generator(net, w_avg=w_avg, name="tiny", fingerprint="tiny:1", device="cpu")


@pytest.fixture(scope="module")
def dirs(tiny):
    v = np.random.default_rng(3).standard_normal(tiny.w_dim).astype(np.float32)
    return {"up": Direction("up", v / np.linalg.norm(v), layers=(0, 6), scale=2.0, range=3.0)}


def base(gen, **kw) -> EditState:
    return EditState.new(gen.fingerprint, gen.num_ws, seed_a=5, seed_b=9, **kw)


def edit_render(gen, state, dirs, size):
    """What the editor shows for an edit (full resolution), resized as the animation resizes."""
    result = render(gen, RenderRequest(0, state), dirs)
    assert result.error is None
    return resize_frame(result.images[0], size)


def blocks(image, k=8):
    """Means of k x k blocks: what lossy coding must keep. The tiny model paints per-pixel colour noise,
    which H.264's half-resolution chroma (yuv420p) cannot keep, and nobody would want it to."""
    h, w, c = image.shape
    return image.astype(float).reshape(h // k, k, w // k, k, c).mean(axis=(1, 3))


def decode_mp4(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = (s.codec_context.name, s.codec_context.pix_fmt)
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)], info


def decode_gif(path):
    with Image.open(path) as im:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)], dict(im.info)


class ListWriter:
    def __init__(self):
        self.frames, self.committed = [], False

    def write(self, rgb):
        self.frames.append(rgb)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        self.committed = exc_type is None
        return False


# ------------------------------------------------------------------------------------------ plans
def test_frame_count_from_frames_or_duration():
    assert frame_count(24) == 24 and frame_count(None, 2.0, 12) == 24 and frame_count(None, 0.05, 24) == 1
    for bad in ((0, None, 24), (None, None, 24), (None, -1.0, 24), (5, None, 0)):
        with pytest.raises(ValueError):
            frame_count(*bad)


def test_morph_runs_a_to_b_and_coarse_first_moves_groups_in_turn(tiny):
    groups = dict(tiny.layer_groups)
    n = tiny.num_ws
    frames = morph(base(tiny), groups, 7, "linear")
    assert len(frames) == 7 and frames[0].state.mix == (0.0,) * n and frames[-1].state.mix == (1.0,) * n
    assert frames[3].state.mix == (0.5,) * n
    staged = morph(base(tiny), groups, 7, "linear", order="coarse-first")
    third = staged[2].state  # t = 1/3: coarse done, middle and fine not started
    assert [third.mix[r] for r in groups["coarse"]] == [1.0] * len(groups["coarse"])
    assert all(third.mix[r] == 0.0 for r in (*groups["middle"], *groups["fine"]))
    assert staged[-1].state.mix == (1.0,) * n and staged[0].state.mix == (0.0,) * n
    fine_first = morph(base(tiny), groups, 7, "linear", order="fine-first")[2].state
    assert fine_first.mix[groups["fine"][0]] == 1.0 and fine_first.mix[groups["coarse"][0]] == 0.0
    # A loop goes there and back and leaves out the seam (frame n would be frame 0 again).
    loop = morph(base(tiny), groups, 8, "ease-in-out", loop=True)
    assert loop[0].state.mix[0] == 0.0 and loop[4].state.mix[0] == 1.0
    assert [f.state.mix for f in loop[1:4]] == [f.state.mix for f in loop[7:4:-1]]
    with pytest.raises(ValueError, match="order"):
        morph(base(tiny), groups, 3, order="sideways")
    with pytest.raises(ValueError, match="easing"):
        morph(base(tiny), groups, 3, "bouncy")


def test_sweep_of_a_direction_defaults_to_its_reach_and_of_sliders_to_their_scale(tiny, dirs):
    groups = dict(tiny.layer_groups)
    frames = sweep(base(tiny), "up", dirs, groups, 5, easing="linear")
    assert [f.state.direction_amount("up") for f in frames] == [-3.0, -1.5, 0.0, 1.5, 3.0]
    psi = sweep(base(tiny), "psi", dirs, groups, 3, easing="linear")
    assert [f.state.psi for f in psi] == [0.0, 0.5, 1.0]
    fine = sweep(base(tiny), "fine", dirs, groups, 2, 0.2, 0.8)
    assert fine[-1].state.mix[groups["fine"][0]] == 0.8 and fine[-1].state.mix[0] == 0.0
    eased = sweep(base(tiny), "up", dirs, groups, 5, 0.0, 1.0, easing="ease-in-out")
    amounts = [f.state.direction_amount("up") for f in eased]
    assert amounts[0] == 0.0 and amounts[-1] == 1.0 and amounts[1] < 0.25 and amounts[3] > 0.75  # slow ends
    with pytest.raises(ValueError, match="nothing called 'nose'"):
        sweep(base(tiny), "nose", dirs, groups, 3)


def test_slerp_keeps_z_on_the_shell_and_hits_its_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(512), rng.standard_normal(512)
    mid = _slerp(a, b, 0.5)
    assert abs(np.linalg.norm(mid) - (np.linalg.norm(a) + np.linalg.norm(b)) / 2) < 1e-9
    assert np.linalg.norm((a + b) / 2) < 0.8 * np.linalg.norm(mid)  # the straight line would dip inwards
    assert np.allclose(_slerp(a, b, 0.0), a) and np.allclose(_slerp(a, b, 1.0), b)


# ------------------------------------------------------------------------------------------ frames
def test_first_and_last_frames_are_the_start_and_end_edits_renders(tiny, dirs):
    groups, size = dict(tiny.layer_groups), 48
    start = base(tiny, psi=0.8).with_paint("ink", 0.5)
    plans = {
        "morph": (morph(start, groups, 4), start, start.with_group_mix(range(tiny.num_ws), 1.0)),
        "sweep": (sweep(start, "up", dirs, groups, 4, -2.0, 2.0),
                  start.with_direction("up", -2.0), start.with_direction("up", 2.0)),
    }
    for name, (frames, first, last) in plans.items():
        out = ListWriter()
        assert render_animation(tiny, frames, dirs, size, out) == 4 and out.committed
        assert all(f.shape == (size, size, 3) and f.dtype == np.uint8 for f in out.frames)
        assert np.array_equal(out.frames[0], edit_render(tiny, first, dirs, size)), name
        assert np.array_equal(out.frames[-1], edit_render(tiny, last, dirs, size)), name
        assert np.abs(out.frames[0].astype(int) - out.frames[-1]).mean() > 1, name  # it moved
    # An end edit of B alone is the face of seed B alone.
    alone = EditState.new(tiny.fingerprint, tiny.num_ws, seed_a=9, seed_b=1, psi=0.8).with_paint("ink", 0.5)
    assert np.array_equal(render_frame(tiny, plans["morph"][0][-1], dirs, size), edit_render(tiny, alone, dirs, size))


def test_seed_walks_pass_through_their_keys_and_close_the_loop(tiny, dirs):
    keys = [Source.from_seed(s) for s in (3, 4, 8)]
    for space in ("z", "w"):
        frames = seed_walk(base(tiny), keys, tiny, 9, space)
        assert len(frames) == 9 and [frames[i].state.source_a for i in (0, 3, 6)] == keys
        images = [render_frame(tiny, f, dirs, 32) for f in frames]
        key_render = edit_render(tiny, base(tiny).with_source("a", keys[0]), dirs, 32)
        assert np.array_equal(images[0], key_render), space
        steps = [np.abs(a.astype(int) - b).mean() for a, b in zip(images, images[1:] + images[:1])]
        assert min(steps) > 0, space  # every frame moves, the last one into the first
    with pytest.raises(ValueError, match="latents in w"):
        seed_walk(base(tiny), [keys[0], Source.from_latent(np.zeros(16), "x")], tiny, 4, "z")


def test_noise_loop_moves_smoothly_and_draws_its_own_noise(tiny, dirs):
    state = base(tiny).with_noise(seed=11)
    frames = noise_loop(state, 12, strength=2.0)
    assert all(f.state.noise_mode == "random" and f.state.noise_strength == 2.0 for f in frames)
    torch.manual_seed(1234)
    rng_before = torch.random.get_rng_state()
    images = [render_frame(tiny, f, dirs, None).astype(int) for f in frames]
    # Frames never touch torch's global generator (the app's render worker seeds it on its thread).
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    # Frame 0 is the edit with 'random' noise as the editor renders it.
    assert np.array_equal(images[0], edit_render(tiny, frames[0].state, dirs, tiny.resolution))
    near = np.mean([np.abs(images[i] - images[i + 1]).mean() for i in range(11)])
    far = np.abs(images[0] - images[6]).mean()
    assert near > 0 and far > 2 * near  # drifting, not flickering
    after_one_turn = render_frame(tiny, Frame(frames[0].state, 1.0), dirs, None).astype(int)
    assert np.abs(after_one_turn - images[0]).max() <= 1


def test_frames_are_deterministic_beside_another_thread_using_the_global_generator(tiny, dirs):
    frames = noise_loop(base(tiny), 3)
    first = [render_frame(tiny, f, dirs, 40) for f in frames]
    stop = threading.Event()

    def reseed():
        while not stop.is_set():
            torch.manual_seed(7)
            torch.randn(64)
    t = threading.Thread(target=reseed)
    t.start()
    try:
        again = [render_frame(tiny, f, dirs, 40) for f in frames]
    finally:
        stop.set()
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


# ------------------------------------------------------------------------------------------ files
def test_mp4_and_gif_decode_with_every_frame(tiny, dirs, tmp_path):
    frames = sweep(base(tiny), "up", dirs, dict(tiny.layer_groups), 6, -3.0, 3.0)
    reference = [render_frame(tiny, f, dirs, 64) for f in frames]
    for name in ("a.mp4", "a.gif"):
        render_animation(tiny, frames, dirs, 64, open_writer(tmp_path / name, 64, 12))
    decoded, (codec, pix_fmt) = decode_mp4(tmp_path / "a.mp4")
    assert len(decoded) == 6 and decoded[0].shape == (64, 64, 3) and (codec, pix_fmt) == ("h264", "yuv420p")
    assert max(np.abs(blocks(d) - blocks(r)).mean() for d, r in zip(decoded, reference)) < 3  # lossy, close
    gif, info = decode_gif(tmp_path / "a.gif")
    assert len(gif) == 6 and gif[0].shape == (64, 64, 3) and info["loop"] == 0 and info["duration"] == 80
    assert max(np.abs(blocks(d) - blocks(r)).mean() for d, r in zip(gif, reference)) < 3  # 256 colours, dithered
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.mp4"]  # no partial files left


def test_png_folder_writer_and_bad_outputs(tiny, dirs, tmp_path):
    frames = morph(base(tiny), dict(tiny.layer_groups), 3)
    render_animation(tiny, frames, dirs, 32, open_writer(tmp_path / "frames", 32, 24))
    pngs = sorted((tmp_path / "frames").iterdir())
    assert [p.name for p in pngs] == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    assert np.array_equal(np.asarray(Image.open(pngs[2])), render_frame(tiny, frames[2], dirs, 32))
    with pytest.raises(ValueError, match="even"):
        open_writer(tmp_path / "odd.mp4", 33, 24)
    with pytest.raises(ValueError, match=r"\.mp4, \.gif"):
        open_writer(tmp_path / "x.avi", 32, 24)
    with pytest.raises(ValueError, match="uint8"):
        with open_writer(tmp_path / "x.gif", 32, 24) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
    assert not (tmp_path / "x.gif").exists()


def test_cancel_stops_and_leaves_no_file_and_the_old_one_intact(tiny, dirs, tmp_path):
    frames = morph(base(tiny), dict(tiny.layer_groups), 6)
    for name in ("c.mp4", "c.gif"):
        target = tmp_path / name
        target.write_bytes(b"an older export")
        done = []
        with pytest.raises(Cancelled):
            render_animation(tiny, frames, dirs, 32, open_writer(target, 32, 24),
                             progress=lambda i, n: done.append(i), cancelled=lambda: len(done) >= 2)
        assert done == [1, 2] and target.read_bytes() == b"an older export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.gif", "c.mp4"]


# ------------------------------------------------------------------------------------------ CLI, real model
def test_cli_morph_mp4_and_sweep_gif_on_the_default_model(default_weights, tmp_path, capsys):
    from editor.cli import build_parser, main
    from editor.directions import load_library
    from editor.model import load_generator
    mp4, gif = tmp_path / "m.mp4", tmp_path / "age.gif"
    assert main(["animate", "morph", "--seed-a", "1", "--seed-b", "2", "--frames", "3", "--size", "64",
                 "-o", str(mp4), "--quiet", "--device", "cpu"]) == 0
    assert main(["animate", "sweep", "--seed", "7", "--direction", "age", "--frames", "3", "--size", "64",
                 "-o", str(gif), "--quiet", "--device", "cpu"]) == 0
    frames, _ = decode_mp4(mp4)
    images, _ = decode_gif(gif)
    assert len(frames) == 3 and frames[0].shape == (64, 64, 3) and len(images) == 3 and images[0].shape == (64, 64, 3)
    assert "3 frames, 64²" in capsys.readouterr().out

    # The frames the command rendered are the renders of seed 1 and of seed 7 at the age reach's ends.
    gen = load_generator(default_weights, device="cpu")
    dirs, _ = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    from editor.motion.cli import plan
    args = build_parser().parse_args(["animate", "sweep", "--seed", "7", "--direction", "age", "--frames", "3",
                                      "-o", "x.gif"])
    sweep_plan = plan(args, gen, dirs)
    reach = dirs["age"].range
    seed7 = EditState.new(gen.fingerprint, gen.num_ws, seed_a=7, seed_b=1)
    assert sweep_plan[-1].state == seed7.with_direction("age", reach)
    old = edit_render(gen, seed7.with_direction("age", reach), dirs, 64)
    assert np.array_equal(render_frame(gen, sweep_plan[-1], dirs, 64), old)
    assert np.abs(images[-1].astype(int) - old).mean() < 8  # the GIF's last frame, through its palette
    seed1 = edit_render(gen, EditState.new(gen.fingerprint, gen.num_ws, seed_a=1, seed_b=2), dirs, 64)
    assert np.abs(frames[0].astype(int) - seed1).mean() < 6  # the MP4's first frame, through H.264

    assert main(["animate", "sweep", "--seed", "7", "--direction", "nose", "--frames", "2", "-o",
                 str(tmp_path / "n.gif"), "--quiet", "--device", "cpu"]) == 2
    assert "nothing called 'nose'" in capsys.readouterr().err
