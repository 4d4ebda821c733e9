"""Pivotal tuning and its weight delta: on a tiny MobileStyleGAN for the logic, one short real run."""

import numpy as np
import pytest
import torch

from editor.edit import EditState, Source
from editor.model import Generator, psnr, to_uint8
from editor.photo.delta import WeightDelta, applied, row_weights
from editor.photo.tune import tune
from editor.render import RenderRequest, render
from tests.support import random_delta, tiny_generator
from tests.support import tiny_mobile_net as tiny_net


@pytest.fixture
def tiny():
    return tiny_generator()


def _state(gen, a, b, mix):
    return EditState(gen.fingerprint, a, b, (mix,) * gen.num_ws)


def test_a_delta_changes_the_render_and_is_taken_off_exactly(tiny):
    before = {k: v.clone() for k, v in tiny.net.state_dict().items()}
    delta = random_delta(tiny, 1)
    assert any(len(f) == 2 for f in delta.factors.values()) and any(len(f) == 1 for f in delta.factors.values())
    ws = tiny.mapping(tiny.z_from_seed(3))
    plain = tiny.synthesis(ws)
    with applied(tiny, [(delta, np.ones(tiny.num_ws))]):
        tuned = tiny.synthesis(ws)
    assert psnr(tuned, plain) < 40
    assert all(torch.equal(before[k], v) for k, v in tiny.net.state_dict().items())
    zero = WeightDelta.zeros_like(tiny.net, rank=2, full_below=300)
    with applied(tiny, [(zero, np.ones(tiny.num_ws))]):
        assert torch.equal(tiny.synthesis(ws), plain)


def test_two_photos_mix_per_layer_each_whole_at_its_end(tiny):
    da, db = random_delta(tiny, 1), random_delta(tiny, 2)
    wa, wb = (tiny.mapping(tiny.z_from_seed(s))[0].numpy() for s in (5, 6))
    a, b = Source.from_latent(wa, "photo: a", delta=da), Source.from_latent(wb, "photo: b", delta=db)
    seed = Source.from_seed(9)

    def shown(state):
        return render(tiny, RenderRequest(0, state), {}).images[0]

    def alone(w, delta):
        with applied(tiny, [(delta, np.ones(tiny.num_ws))]):
            return to_uint8(tiny.synthesis(torch.from_numpy(w)[None]))[0]
    assert np.array_equal(shown(_state(tiny, a, b, 0.0)), alone(wa, da))
    assert np.array_equal(shown(_state(tiny, a, b, 1.0)), alone(wb, db))
    # A photo and a seed: mix 1 is the seed, untouched by the photo's delta.
    assert np.array_equal(shown(_state(tiny, a, seed, 1.0)), shown(_state(tiny, Source.from_seed(9), seed, 0.0)))
    # In between, each layer takes (1 - m) of A's delta and m of B's.
    mix = tuple(np.linspace(0, 1, tiny.num_ws))
    state = EditState(tiny.fingerprint, a, b, mix)
    assert np.allclose(row_weights(state.mix, "a") + row_weights(state.mix, "b"), 1)
    half = shown(state)
    assert not np.array_equal(half, shown(_state(tiny, a, b, 0.0)))


def test_a_delta_round_trips_through_safetensors_and_bad_files_are_named(tiny, tmp_path):
    delta = random_delta(tiny, 4)
    delta.save(tmp_path / "d.safetensors")
    back = WeightDelta.load(tmp_path / "d.safetensors", tiny.net)
    assert back == delta and back.digest == delta.digest
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="junk.safetensors"):
        WeightDelta.load(tmp_path / "junk.safetensors", tiny.net)
    other = tiny_net()
    other.blocks[0].conv1.weight_pw = torch.nn.Parameter(torch.zeros(3, 3, 1, 1))
    with pytest.raises(ValueError, match="does not fit"):
        WeightDelta.load(tmp_path / "d.safetensors", other)


def test_a_source_keeps_its_delta_by_digest(tiny):
    w = np.zeros((tiny.num_ws, tiny.w_dim), np.float32)
    delta = random_delta(tiny, 7)
    with_delta, without = Source.from_latent(w, "photo: x", delta=delta), Source.from_latent(w, "photo: x")
    assert with_delta != without
    d = with_delta.to_dict()
    assert d["delta"] == delta.digest and "factors" not in str(d)
    back = Source.from_dict(d)
    assert back.delta == delta.digest and back == with_delta  # equal by digest until the file is loaded
    with pytest.raises(ValueError, match="delta"):
        Source.from_dict({**d, "delta": "../../etc/passwd"})
    with pytest.raises(ValueError, match="only a latent"):
        Source("seed", seed=1, delta=delta)


def test_tuning_fits_the_photo_better_than_the_pivot_and_cancel_keeps_the_best(tiny):
    target_w = tiny.mapping(tiny.z_from_seed(11))
    with applied(tiny, [(random_delta(tiny, 12, 0.05), np.ones(tiny.num_ws))]):
        photo = to_uint8(tiny.synthesis(target_w))[0]  # a face the untouched model cannot draw exactly
    pivot = tiny.broadcast(target_w)[0].numpy()
    seen = []
    result = tune(tiny, photo, pivot, steps=20, lr=2e-2, lr_full=2e-2, full_below=300, full_fraction=1.0,
                  locality=0.5, locality_every=2, moments=0, progress=lambda *a: seen.append(a[0]))
    assert result.steps == 20 and seen == list(range(1, 21)) and not result.cancelled
    assert result.psnr_db > result.pivot_psnr_db + 3
    done = []  # Cancel after 5 steps (should_stop is also asked during the set-up, before any step)
    cut = tune(tiny, photo, pivot, steps=20, lr=2e-2, lr_full=2e-2, full_below=300, full_fraction=1.0,
               progress=lambda *a: done.append(a[0]), should_stop=lambda: len(done) >= 5)
    assert cut.cancelled and cut.steps == 5 and cut.psnr_db > cut.pivot_psnr_db
    early = tune(tiny, photo, pivot, steps=20, moments=5.0, should_stop=lambda: True)  # Cancel in the set-up
    assert early.cancelled and early.steps == 0


def test_the_render_free_locality_term_keeps_other_faces_closer(tiny):
    target_w = tiny.mapping(tiny.z_from_seed(11))
    with applied(tiny, [(random_delta(tiny, 12, 0.05), np.ones(tiny.num_ws))]):
        photo = to_uint8(tiny.synthesis(target_w))[0]
    pivot = tiny.broadcast(target_w)[0].numpy()
    others = tiny.mapping(torch.cat([tiny.z_from_seed(s) for s in range(40, 44)]))
    before = tiny.synthesis(others)

    def tuned(weight):
        result = tune(tiny, photo, pivot, steps=20, lr=2e-2, lr_full=2e-2, full_below=300, full_fraction=1.0,
                      locality=0, moments=weight)
        with applied(tiny, [(result.delta, np.ones(tiny.num_ws))]):
            return result, psnr(tiny.synthesis(others), before)
    (free, free_db), (held, held_db) = tuned(0.0), tuned(5.0)
    assert held_db > free_db + 10  # measured: 47.8 vs 29.8 dB
    assert held.psnr_db > held.pivot_psnr_db  # still fits the photo


def test_a_short_real_tuning_brings_a_projected_face_closer(default_fp32):
    from editor.measures.identity import distance
    g = default_fp32
    w = g.mapping(g.z_from_seed(900100), psi=0.7)
    face = to_uint8(g.synthesis(w))[0]
    pivot = g.broadcast(g.mapping(g.z_from_seed(900101), psi=0.7))[0].numpy() * 0.5 + \
        g.broadcast(w)[0].numpy() * 0.5  # a rough pivot, as a short projection gives
    result = tune(g, face, pivot, steps=12, full_fraction=0.25)
    assert result.psnr_db > result.pivot_psnr_db + 1
    with applied(g, [(result.delta, np.ones(g.num_ws))]):
        tuned = to_uint8(g.synthesis(torch.from_numpy(pivot)[None]))[0]
    assert distance(face, tuned) < distance(face, to_uint8(g.synthesis(torch.from_numpy(pivot)[None]))[0])


def test_project_writes_the_delta_beside_the_latent_and_render_shows_the_tuned_face(default_fp32, tmp_path,
                                                                                  monkeypatch, capsys):
    from PIL import Image

    from editor import io
    from editor.cli import main
    from editor.photo.delta import latent_delta_path
    from editor.photo import importer
    g = default_fp32
    # Two steps a stage may not improve the fit; this test is about the files, so every stage is kept.
    monkeypatch.setattr(importer, "PSNR_GAIN", -1e9)
    monkeypatch.setattr(importer, "COLOUR_SLACK", 1e9)
    face = to_uint8(g.synthesis(g.mapping(g.z_from_seed(900010), psi=0.7)))[0]
    Image.fromarray(face).save(tmp_path / "me.png")
    npz = tmp_path / "me.npz"
    assert main(["project", str(tmp_path / "me.png"), "--aligned", "-o", str(npz), "--steps", "2",
                 "--tune-steps", "2", "--detail-steps", "2", "--device", "cpu"]) == 0
    delta = WeightDelta.load(latent_delta_path(npz), g.net)
    # fp32 as the reference below: on a CPU with fast bf16 the CLI would otherwise render in bf16 (mean
    # difference ~1 level, seen on AVX512-BF16), which says nothing about the delta.
    monkeypatch.setenv("EDITOR_PRECISION", "fp32")
    assert main(["render", "--latent", str(npz), "-o", str(tmp_path / "out.png"), "--device", "cpu"]) == 0
    shown = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    w = io.load_latent(npz)
    with applied(g, [(delta, np.ones(g.num_ws))]):
        tuned = to_uint8(g.synthesis(torch.from_numpy(np.array(w))[None]))[0]
    untuned = to_uint8(g.synthesis(torch.from_numpy(np.array(w))[None]))[0]
    diff = lambda a, b: np.abs(a.astype(int) - b.astype(int)).mean()  # noqa: E731
    assert diff(shown, tuned) < 0.5 and diff(tuned, untuned) > 0.0 and diff(shown, tuned) < diff(shown, untuned)
    state, _ = io.read_edit_from_image(tmp_path / "out.png")  # the PNG names the delta, never holds it
    assert state.source_a.delta == delta.digest
    assert delta.latent is not None  # it names its latent: beside another one it is not used
    other = tmp_path / "other.npz"
    io.save_latent_npz(other, np.array(w) + 0.5)
    latent_delta_path(other).write_bytes(latent_delta_path(npz).read_bytes())
    assert main(["render", "--latent", str(other), "-o", str(tmp_path / "other.png"), "--device", "cpu"]) == 0
    assert "belongs to another latent" in capsys.readouterr().err
    state, _ = io.read_edit_from_image(tmp_path / "other.png")
    assert state.source_a.delta is None
    # Projection only: no delta, and an old one beside the latent is removed.
    assert main(["project", str(tmp_path / "me.png"), "--aligned", "-o", str(npz), "--steps", "2", "--no-tune",
                 "--device", "cpu"]) == 0
    assert not latent_delta_path(npz).exists()


def test_deltas_beside_a_session_are_written_first_and_a_missing_one_is_reported(tiny, tmp_path):
    from editor.photo.delta import resolve_beside, save_beside
    delta = random_delta(tiny, 8)
    photo = Source.from_latent(np.zeros((tiny.num_ws, tiny.w_dim), np.float32), "photo: me.jpg", delta=delta)
    state = _state(tiny, photo, Source.from_seed(1), 0.0)
    (written,) = save_beside(tmp_path / "me.json", state)
    assert written.name == f"{delta.digest}.delta.safetensors"
    read = EditState.from_dict(state.to_dict())  # what a session file gives back: the digest only
    assert read.source_a.delta == delta.digest
    back, problems = resolve_beside(read, tmp_path, tiny.net)
    assert back.source_a.delta == delta and isinstance(back.source_a.delta, WeightDelta) and not problems
    written.unlink()
    back, problems = resolve_beside(read, tmp_path, tiny.net)
    assert back.source_a.delta is None and len(problems) == 1 and "photo: me.jpg" in problems[0]
    assert np.array_equal(back.source_a.w, photo.w) and back.source_b == state.source_b


def test_the_pair_bench_renders_each_photo_whole_at_its_end_and_blends_per_group():
    from tools.photo.pair import STEPS, PairRow, pair_states, render_pair, table
    net = tiny_net()  # at full weight: in the gentler fixture the coarse rows barely reach the pixels
    tiny = Generator(net, w_avg=torch.zeros(net.w_dim), name="tiny", fingerprint="tiny-1", device="cpu",
                     dtype=torch.float32)
    da, db = random_delta(tiny, 1), random_delta(tiny, 2)
    wa, wb = (tiny.broadcast(tiny.mapping(tiny.z_from_seed(s)))[0].numpy() for s in (5, 6))
    a, b = Source.from_latent(wa, "photo: a", delta=da), Source.from_latent(wb, "photo: b", delta=db)
    states = dict(pair_states(tiny, a, b))
    coarse = tiny.layer_groups["coarse"]
    assert states["coarse 0.5"].mix == tuple(0.5 if i in coarse else 0.0 for i in range(tiny.num_ws))
    assert states["all 0.5"].mix == (0.5,) * tiny.num_ws and states["mix 1"].mix == (1.0,) * tiny.num_ws
    images = render_pair(tiny, a, b)
    assert np.array_equal(images["mix 0"], images["A alone"]) and np.array_equal(images["mix 1"], images["B alone"])
    assert not np.array_equal(images["A alone"], images["B alone"])
    for name, _, _ in STEPS[1:-1]:  # every blend differs from both ends
        assert not np.array_equal(images[name], images["mix 0"]) and not np.array_equal(images[name], images["mix 1"])
    text = table([PairRow("mix 0", True, 0.1, 0.7, float("inf"), 31.24), PairRow("all 0.5", False, 0.5, 0.5)])
    assert "| mix 0 | yes | 0.10 | 0.70 | identical | 31.2 |" in text and "| all 0.5 | NO |" in text
