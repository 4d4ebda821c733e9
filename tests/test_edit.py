"""The edit document and w+ composition, on a tiny fake generator (no model, milliseconds)."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from editor.compose import Direction, clear_seed_cache, compose_wplus, resolve_source, wplus_for
from editor.edit import EditState, Source

NUM_WS, W_DIM = 6, 4
GROUPS = {"coarse": range(0, 2), "middle": range(2, 4), "fine": range(4, 6)}


class FakeGen:
    """The slice of `Generator` that editor.edit uses: mapping, z_from_seed, w_avg, shapes, fingerprint."""

    def __init__(self, fingerprint: str = "fake-1"):
        self.fingerprint, self.name = fingerprint, "fake"
        self.num_ws, self.w_dim, self.z_dim = NUM_WS, W_DIM, 3
        self.layer_groups = GROUPS
        self.w_avg = torch.tensor([0.5, -0.5, 0.25, 0.0])
        self._m = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7
        self.calls = 0

    def z_from_seed(self, seed: int) -> torch.Tensor:
        return torch.from_numpy(np.random.RandomState(seed).randn(1, self.z_dim)).float()

    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        self.calls += 1
        w = z @ self._m
        return self.w_avg + psi * (w - self.w_avg)


def rand_w(seed: int, rows: int = NUM_WS) -> np.ndarray:
    return np.random.RandomState(seed).randn(rows, W_DIM).astype(np.float32)


def state(**kw) -> EditState:
    return EditState.new("fake-1", NUM_WS, 1, 2, **kw)


W_A, W_B, W_AVG = rand_w(1), rand_w(2), np.array([0.5, -0.5, 0.25, 0.0], np.float32)


def compose(s: EditState, directions=None) -> np.ndarray:
    return compose_wplus(W_A, W_B, s, W_AVG, directions or {})


# ------------------------------------------------------------------------------------------ mixing
def test_mix_endpoints_are_exactly_the_sources():
    s = state(psi=1.0)
    assert np.array_equal(compose(s), W_A)
    assert np.array_equal(compose(dataclasses.replace(s, mix=(1.0,) * NUM_WS)), W_B)


def test_group_mix_touches_only_its_rows():
    s = state(psi=1.0).with_group_mix(GROUPS["middle"], 1.0)
    w = compose(s)
    assert np.array_equal(w[2:4], W_B[2:4])
    assert np.array_equal(w[:2], W_A[:2]) and np.array_equal(w[4:], W_A[4:])
    half = compose(s.with_group_mix((4, 6), 0.25))
    np.testing.assert_allclose(half[4:], 0.75 * W_A[4:] + 0.25 * W_B[4:], rtol=1e-6)
    assert s.mix == (0, 0, 1, 1, 0, 0)


def test_group_value_is_the_mean_of_its_rows():
    s = state().with_layer_mix(4, 1.0).with_layer_mix(5, 0.5)
    assert s.group_value(GROUPS["fine"]) == 0.75
    assert s.group_value(GROUPS["coarse"]) == 0.0
    assert s.group_value(range(0)) == 0.0


def test_psi_one_is_identity_and_zero_is_the_average():
    s = state(psi=1.0).with_group_mix(GROUPS["coarse"], 0.3)
    lerp = (1 - np.float32(0.3)) * W_A + np.float32(0.3) * W_B
    np.testing.assert_array_equal(compose(s)[:2], lerp[:2])
    w0 = compose(s.with_psi(0.0))
    assert np.array_equal(w0, np.broadcast_to(W_AVG, w0.shape))
    np.testing.assert_allclose(compose(s.with_psi(0.5)), W_AVG + 0.5 * (compose(s) - W_AVG), rtol=1e-6)


def test_swapped_exchanges_sources_and_can_keep_the_image():
    s = state(psi=1.0).with_group_mix(GROUPS["coarse"], 1.0)
    t = s.swapped()
    assert (t.source_a, t.source_b, t.mix) == (s.source_b, s.source_a, s.mix)
    k = s.swapped(keep_image=True)
    np.testing.assert_array_equal(compose_wplus(W_B, W_A, k, W_AVG, {}), compose(s))
    assert s.swapped().swapped() == s


# --------------------------------------------------------------------------------------- directions
def _dir(layers=(1, 3), scale=2.0, vec=None) -> Direction:
    return Direction("smile", np.array([1.0, 0.0, -1.0, 0.5]) if vec is None else vec, layers=layers, scale=scale)


def test_direction_at_zero_is_identity_and_is_dropped():
    s = state().with_direction("smile", 1.0).with_direction("smile", 0.0)
    assert s.directions == ()
    assert np.array_equal(compose(s, {"smile": _dir()}), compose(state()))


def test_direction_acts_only_on_its_rows_and_linearly():
    d = {"smile": _dir()}
    base = compose(state())
    one = compose(state().with_direction("smile", 1.0), d)
    three = compose(state().with_direction("smile", -3.0), d)
    assert np.array_equal(one[[0, 3, 4, 5]], base[[0, 3, 4, 5]])
    np.testing.assert_allclose(one[1:3] - base[1:3], np.tile(2.0 * d["smile"].vector, (2, 1)), atol=1e-6)
    np.testing.assert_allclose(three - base, -3 * (one - base), atol=1e-5)


def test_row_specific_direction_and_all_rows_default():
    vec = rand_w(9)
    d = Direction("age", vec, scale=0.5)  # [num_ws, w_dim], layers default to every row
    out = compose(state().with_direction("age", 2.0), {"age": d}) - compose(state())
    np.testing.assert_allclose(out, vec, atol=1e-5)
    everywhere = compose(state().with_direction("x", 1.0), {"x": Direction("x", np.ones(W_DIM))})
    np.testing.assert_allclose(everywhere - compose(state()), np.ones((NUM_WS, W_DIM)), atol=1e-6)


def test_unknown_or_misshapen_direction():
    with pytest.raises(KeyError, match="nope"):
        compose(state().with_direction("nope", 1.0), {"smile": _dir()})
    with pytest.raises(ValueError, match="shape"):
        compose(state().with_direction("smile", 1.0), {"smile": _dir(vec=np.ones(5))})
    with pytest.raises(ValueError, match="outside"):
        compose(state().with_direction("smile", 1.0), {"smile": _dir(layers=(4, 9))})


def test_directions_are_canonical():
    a = state().with_direction("b", 1.0).with_direction("a", -2.0)
    b = state().with_direction("a", -2.0).with_direction("b", 1.0)
    assert a == b and hash(a) == hash(b) and a.directions == (("a", -2.0), ("b", 1.0))
    assert a.without_directions().directions == () and a.direction_amount("a") == -2.0


# -------------------------------------------------------------------------------------- immutability
def test_with_methods_return_new_states_and_leave_the_old():
    s = state()
    before = s.to_dict()
    changed = [s.with_psi(0.3), s.with_layer_mix(0, 1.0), s.with_group_mix(range(2), 0.5),
               s.with_noise(mode="off"), s.with_noise(strength=0.5, seed=3), s.with_direction("x", 1.0),
               s.with_source("b", Source.from_seed(9)), s.swapped()]
    assert all(c is not s and c != s for c in changed)
    assert s.to_dict() == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.psi = 1.0  # type: ignore[misc]


def test_arrays_are_read_only_copies():
    w = rand_w(3)
    src = Source.from_latent(w, "mine")
    w[0, 0] = 99.0
    assert src.w[0, 0] != 99.0
    with pytest.raises(ValueError):
        src.w[0, 0] = 1.0
    d = Direction("x", np.ones(W_DIM))
    with pytest.raises(ValueError):
        d.vector[0] = 2.0
    a, b = W_A.copy(), W_B.copy()
    compose_wplus(a, b, state().with_direction("x", 1.0).with_psi(0.5), W_AVG, {"x": d})
    assert np.array_equal(a, W_A) and np.array_equal(b, W_B)


def test_source_equality_by_value():
    assert Source.from_seed(3) == Source.from_seed(3) and Source.from_seed(3) != Source.from_seed(4)
    a, b = Source.from_latent(rand_w(1), "x"), Source.from_latent(rand_w(1).copy(), "x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Source.from_latent(rand_w(2), "x") and a != Source.from_latent(rand_w(1), "y")
    assert Source.from_latent(np.ones(W_DIM), "v").w.shape == (1, W_DIM)


# ------------------------------------------------------------------------------------------ validation
def test_validation_policy_clamps_finite_values_and_rejects_the_rest():
    s = state(psi=5.0, noise_strength=-1.0)
    assert (s.psi, s.noise_strength) == (2.0, 0.0)
    assert s.with_layer_mix(0, 1.0000001).mix[0] == 1.0 and s.with_layer_mix(0, -0.2).mix[0] == 0.0
    for bad in [dict(psi=float("nan")), dict(noise_mode="loud"), dict(noise_seed=-1), dict(psi="0.7"),
                dict(directions=(("a", 1.0), ("a", 2.0))), dict(mix=()), dict(mix=(0.0, float("inf")))]:
        with pytest.raises(ValueError):
            dataclasses.replace(s, **bad)
    with pytest.raises(IndexError):
        s.with_layer_mix(NUM_WS, 0.5)
    with pytest.raises(ValueError, match="outside"):
        s.with_group_mix(range(4, 8), 0.5)
    for bad_src in [lambda: Source.from_seed(-1), lambda: Source.from_seed(2 ** 32), lambda: Source("x"),
                    lambda: Source.from_latent(np.full(W_DIM, np.nan), "n"),
                    lambda: Source.from_latent(np.zeros((1, 2, W_DIM)), "3d")]:
        with pytest.raises(ValueError):
            bad_src()


# ------------------------------------------------------------------------------------------- to_dict
def test_round_trip_through_json_with_latent_sources():
    s = (state(noise_mode="random", noise_seed=5)
         .with_source("a", Source.from_latent(rand_w(4), "proj", "/x/w.npz"))
         .with_source("b", Source.from_latent(rand_w(5, 1), "one row")).with_group_mix(GROUPS["fine"], 0.3)
         .with_direction("smile", 1.5).with_psi(0.55).with_paint("watercolour", 0.6))
    d = json.loads(json.dumps(s.to_dict()))
    assert d["version"] == 1
    back = EditState.from_dict(d)
    assert back == s and back.source_b.w.shape == (1, W_DIM)
    assert np.array_equal(back.source_a.w, s.source_a.w)
    assert EditState.from_dict(json.loads(json.dumps(state().to_dict()))) == state()
    assert (back.paint, back.paint_strength) == ("watercolour", 0.6)
    old = state().to_dict()
    del old["paint"], old["paint_strength"]  # written before painting existed: reads as unpainted
    assert EditState.from_dict(old) == state() and state().paint == "none"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=3), "version"),
    (lambda d: d.pop("version"), "version"),
    (lambda d: d.pop("mix"), "mix"),
    (lambda d: d.update(mix="abc"), "mix"),
    (lambda d: d.update(mix=[0, "x", 0]), "mix"),
    (lambda d: d.update(psi=None), "psi"),
    (lambda d: d.update(noise_mode="loud"), "noise_mode"),
    (lambda d: d.update(directions=[1, 2]), "directions"),
    (lambda d: d.update(directions={"a": "big"}), "direction"),
    (lambda d: d.update(source_a=7), "source_a"),
    (lambda d: d.update(source_a={"kind": "photo"}), "source_a.kind"),
    (lambda d: d.update(source_b={"kind": "seed"}), "source_b"),
    (lambda d: d.update(source_b={"kind": "seed", "seed": 1.5}), "source_b.seed"),
    (lambda d: d["source_a"].update(data="!!!not base64"), "base64"),
    (lambda d: d["source_a"].update(shape=[7, W_DIM]), "bytes"),
    (lambda d: d["source_a"].update(shape="6x4"), "shape"),
    (lambda d: d["source_a"].update(dtype="<f8"), "dtype"),
    (lambda d: d.update(model_fingerprint=None), "model_fingerprint"),
    (lambda d: d.update(paint="crayon"), "paint"),
    (lambda d: d.update(paint_strength="full"), "paint_strength"),
])
def test_malformed_dicts_raise_value_error(mutate, message):
    d = state().with_source("a", Source.from_latent(rand_w(4), "p")).to_dict()
    mutate(d)
    with pytest.raises(ValueError, match=message):
        EditState.from_dict(d)


def test_non_dict_raises_value_error():
    for bad in (None, [], "edit", 3):
        with pytest.raises(ValueError):
            EditState.from_dict(bad)


# ------------------------------------------------------------------------------------------ resolving
def test_resolve_seed_is_untruncated_broadcast_and_memoised():
    clear_seed_cache()
    gen = FakeGen()
    w = resolve_source(Source.from_seed(7), gen)
    expected = gen.mapping(gen.z_from_seed(7), psi=1.0).numpy()[0]
    assert w.shape == (NUM_WS, W_DIM) and not w.flags.writeable
    assert np.array_equal(w, np.tile(expected, (NUM_WS, 1)))
    calls = gen.calls
    assert resolve_source(Source.from_seed(7), gen) is w and gen.calls == calls
    # The cache key includes the model: the same seed names another face in another model.
    assert len({id(resolve_source(Source.from_seed(7), g)) for g in (gen, FakeGen("other-model"))}) == 2


def test_resolve_latent_broadcasts_and_checks_shape():
    gen = FakeGen()
    row = np.arange(W_DIM, dtype=np.float32)
    assert np.array_equal(resolve_source(Source.from_latent(row, "r"), gen), np.tile(row, (NUM_WS, 1)))
    full = rand_w(3)
    assert np.array_equal(resolve_source(Source.from_latent(full, "f"), gen), full)
    for shape in [(NUM_WS + 1, W_DIM), (NUM_WS, W_DIM + 1), (1, 5)]:
        with pytest.raises(ValueError, match=re.escape(f"has shape {shape}; this model needs")):
            resolve_source(Source.from_latent(np.zeros(shape), "bad"), gen)


def test_wplus_for_matches_the_engine_truncation_and_refuses_other_models():
    gen = FakeGen()
    s = EditState.new(gen.fingerprint, NUM_WS, 3, 4, psi=0.6)
    w = wplus_for(s, gen)
    np.testing.assert_allclose(w[0], gen.mapping(gen.z_from_seed(3), psi=0.6).numpy()[0], rtol=1e-6)
    with pytest.raises(ValueError, match="made for model"):
        wplus_for(s, FakeGen("other"))


# ------------------------------------------------------------------- truncation acts on seeds only
def _compose(state, wa, wb, avg, directions=None):
    from editor.compose import compose_wplus
    return compose_wplus(wa, wb, state, avg, directions or {})


def test_latent_sources_are_rendered_as_they_are_and_seeds_are_truncated():
    rng = np.random.default_rng(0)
    n, d = 5, 8
    avg, wa, wb = rng.normal(size=d).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32), \
        rng.normal(size=(n, d)).astype(np.float32)
    latent = Source.from_latent(wa, "saved.npz")
    seeded = EditState("m", Source.from_seed(1), Source.from_seed(2), (0.0,) * n, psi=0.5)
    assert np.allclose(_compose(seeded, wa, wb, avg), avg + 0.5 * (wa - avg))
    for psi in (0.0, 0.5, 0.7, 1.5):
        state = EditState("m", latent, Source.from_seed(2), (0.0,) * n, psi=psi)
        assert np.array_equal(_compose(state, wa, wb, avg), wa), psi  # untouched by psi
        all_b = _compose(state.with_group_mix(range(n), 1.0), wa, wb, avg)
        assert np.allclose(all_b, avg + psi * (wb - avg), atol=1e-6), psi  # the seed B still is
    # Two seeds: truncating each then mixing equals the old truncate-the-mix.
    mixed = seeded.with_group_mix(range(2), 0.3)
    m = np.array([0.3, 0.3, 0, 0, 0], np.float32)[:, None]
    assert np.allclose(_compose(mixed, wa, wb, avg), avg + 0.5 * ((1 - m) * wa + m * wb - avg), atol=1e-6)


def test_saved_latent_reloaded_with_a_neutral_edit_is_the_same_face():
    from editor.compose import Direction
    rng = np.random.default_rng(1)
    n, d = 5, 8
    avg, wa, wb = (rng.normal(size=s).astype(np.float32) for s in (d, (n, d), (n, d)))
    dirs = {"age": Direction("age", rng.normal(size=d), scale=0.5)}
    edited = EditState("m", Source.from_seed(1), Source.from_seed(2), (0.0, 0.0, 0.5, 1.0, 1.0), psi=0.7,
                       directions=(("age", 2.0),))
    on_screen = _compose(edited, wa, wb, avg, dirs)
    reloaded = EditState("m", Source.from_latent(on_screen, "me.npz"), Source.from_seed(2), (0.0,) * n, psi=0.7)
    assert np.array_equal(_compose(reloaded, on_screen, wb, avg, dirs), on_screen)
