"""editor.breed: extra parents with per-row weights (crossbreeding), their persistence in edits, sessions
and exports (old files still load), and variations around a face."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor import io
from editor.breed import (add_parent, adopt, crossbreed, remove_parent, variation_steps, variations,
                          with_parent_weight)
from editor.compose import compose_wplus, wplus_for
from editor.edit import EditState, Parent, Source
from editor.model.generator import Generator
from editor.render import RenderRequest, render
from tests.support import tiny_mobile_net as tiny_net

N, D = 6, 4


@pytest.fixture(scope="module")
def tiny():
    net = tiny_net()
    w_avg = net.mapping(torch.randn(64, 16, generator=torch.Generator().manual_seed(1))).mean(0)
    return Generator(net, w_avg=w_avg, name="tiny", fingerprint="tiny:1", device="cpu")


def rand(seed, shape=(N, D)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def state(**kw) -> EditState:
    return EditState.new("fp", N, seed_a=1, seed_b=2, **kw)


def test_crossbreed_shares_rows_and_leaves_two_parents_alone():
    w_ab, p, q = rand(0), rand(1), rand(2)
    assert crossbreed(w_ab, [], []) is w_ab
    one = Parent(Source.from_seed(5), (1, 1, 0.5, 0, 0, 0))
    out = crossbreed(w_ab, [p], [one])
    assert np.array_equal(out[:2], p[:2]) and np.array_equal(out[3:], w_ab[3:])
    assert np.allclose(out[2], 0.5 * w_ab[2] + 0.5 * p[2])
    two = Parent(Source.from_seed(6), (1, 0, 0, 0, 0, 0.25))
    out = crossbreed(w_ab, [p, q], [one, two])
    assert np.allclose(out[0], (p[0] + q[0]) / 2)       # over-full row: the parents share it
    assert np.allclose(out[5], 0.75 * w_ab[5] + 0.25 * q[5])
    assert np.array_equal(out[4], w_ab[4])


def test_compose_with_parents_truncates_seed_parents_and_refuses_missing_ones():
    a, b, p = rand(3), rand(4), rand(5)
    avg = rand(6, (D,))
    plain = state(psi=0.6)
    bred = add_parent(plain, Source.from_seed(9), 1.0)
    assert np.array_equal(compose_wplus(a, b, plain, avg, {}), compose_wplus(a, b, plain, avg, {}, []))
    out = compose_wplus(a, b, bred, avg, {}, [p])
    assert np.allclose(out, avg + np.float32(0.6) * (p - avg))  # seed parents are truncated like seeds
    latent = add_parent(plain, Source.from_latent(p, "photo"), 1.0)
    assert np.array_equal(compose_wplus(a, b, latent, avg, {}, [p]), p)  # latents as they are
    with pytest.raises(ValueError, match="1 extra parents"):
        compose_wplus(a, b, bred, avg, {}, [])


def test_parent_edits_validate_and_compare():
    s = add_parent(add_parent(state(), Source.from_seed(7)), Source.from_seed(8), 0.2)
    assert [p.source.seed for p in s.parents] == [7, 8] and s.parents[1].weights == (0.2,) * N
    s2 = with_parent_weight(s, 0, range(0, 2), 0.9)
    assert s2.parents[0].weights == (0.9, 0.9, 0.5, 0.5, 0.5, 0.5) and s2.parents[0].group_value(range(0, 2)) == 0.9
    assert s2 != s and with_parent_weight(s2, 0, range(0, 2), 0.5) == s  # equal edits compare equal
    assert remove_parent(s, 0).parents == (s.parents[1],)
    assert Parent(Source.from_seed(1), (2.0, -1.0)).weights == (1.0, 0.0)  # clamped like the mix
    with pytest.raises(ValueError, match="2 weights; the edit has 6"):
        EditState.new("fp", N, parents=(Parent(Source.from_seed(1), (0.5, 0.5)),))
    with pytest.raises(ValueError, match="must be a Parent"):
        EditState.new("fp", N, parents=(Source.from_seed(1),))


def test_parents_round_trip_in_edits_sessions_and_exports_and_old_files_still_load(tmp_path):
    old = state(psi=0.5)
    d = old.to_dict()
    assert d["version"] == 1 and "parents" not in d  # without parents an edit is written as before
    bred = with_parent_weight(add_parent(add_parent(old, Source.from_seed(7)), Source.from_latent(rand(8), "x"),
                                         0.3), 1, range(4, 6), 1.0)
    d = bred.to_dict()
    assert d["version"] == 2 and len(d["parents"]) == 2
    assert EditState.from_dict(d) == bred
    assert EditState.from_dict(old.to_dict()) == old
    io.save_session(tmp_path / "s.json", bred, {})
    assert io.load_session(tmp_path / "s.json")[0] == bred
    io.export_image(tmp_path / "e.png", np.zeros((8, 8, 3), np.uint8), bred, "tiny")
    assert io.read_edit_from_image(tmp_path / "e.png")[0] == bred
    bad = {**d, "parents": [{"source": {"kind": "seed", "seed": -1}, "weights": [0.5] * N}]}
    with pytest.raises(ValueError, match=r"parents\[0\]\.source\.seed"):
        EditState.from_dict(bad)
    with pytest.raises(ValueError, match="unsupported edit version 3"):
        EditState.from_dict({**d, "version": 3})


def test_a_parent_at_full_weight_renders_exactly_as_that_face(tiny):
    base = EditState.new(tiny.fingerprint, tiny.num_ws, seed_a=1, seed_b=2, psi=0.8)
    bred = add_parent(base, Source.from_seed(9), 1.0)
    alone = EditState.new(tiny.fingerprint, tiny.num_ws, seed_a=9, seed_b=2, psi=0.8)
    got, want = (render(tiny, RenderRequest(0, s, 64), {}) for s in (bred, alone))
    assert got.error is None and np.array_equal(got.images[0], want.images[0])
    half = render(tiny, RenderRequest(0, with_parent_weight(bred, 0, range(tiny.num_ws), 0.5), 64), {})
    assert np.abs(half.images[0].astype(int) - want.images[0]).mean() > 1


def test_variations_step_towards_real_faces_in_the_chosen_rows_and_adopt_keeps_the_face(tiny):
    base_state = add_parent(EditState.new(tiny.fingerprint, tiny.num_ws, seed_a=1, seed_b=2), Source.from_seed(4))
    base_w = wplus_for(base_state, tiny)
    targets = variation_steps(tiny, base_state.psi, 8, seed=3)
    assert len(targets) == 8 and targets[0].shape == (tiny.w_dim,)
    assert np.array_equal(targets[0], variation_steps(tiny, base_state.psi, 8, seed=3)[0])  # deterministic
    coarse = tiny.layer_groups["coarse"]
    same = variations(base_w, targets, [coarse], 0.0)
    assert all(np.array_equal(c, base_w) for c in same)
    full = variations(base_w, targets, [coarse], 1.0)
    assert np.allclose(full[2][coarse.start:coarse.stop], targets[2]) and np.array_equal(full[2][coarse.stop:],
                                                                                          base_w[coarse.stop:])
    adopted = adopt(base_state.with_paint("ink"), full[2], "variation")
    assert adopted.parents == () and adopted.mix == (0.0,) * tiny.num_ws and adopted.paint == "ink"
    assert np.array_equal(wplus_for(adopted, tiny), full[2])
    assert np.array_equal(wplus_for(adopt(base_state, base_w, "same"), tiny), base_w)  # adopting changes nothing
    with pytest.raises(ValueError, match="amount"):
        variations(base_w, targets, [coarse], 1.5)
