"""A hold baked into a direction (Direction.carry): composition, the library file, and its fit."""

import json

import numpy as np
import pytest
import torch

from editor.compose import Direction, compose_wplus
from editor.edit import EditState
from editor.directions.library import DirectionError, load_folder


def _pair(carry=None, holds=None):
    rng = np.random.default_rng(5)
    age_v, gender_v = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 16)).astype(np.float32))
    age = Direction("age", age_v, (0, 2), scale=0.5, range=6.0)
    gender = Direction("gender", gender_v, None, scale=2.0, range=3.0, holds=holds or {}, carry=carry or {})
    return {"age": age, "gender": gender}, age_v, gender_v


def test_a_carried_direction_moves_with_the_slider_on_its_own_rows():
    dirs, age_v, gender_v = _pair(carry={"age": -0.5})
    w = np.zeros((4, 16), np.float32)
    state = EditState.new("fp", 4, psi=1.0).with_direction("gender", 2.0)
    got = compose_wplus(w, w, state, np.zeros(16), dirs)
    want = np.tile(2.0 * 2.0 * gender_v, (4, 1))
    want[:2] += -0.5 * 2.0 * 0.5 * age_v  # -0.5 sigma of age per sigma, age's scale, age's rows 0-1
    np.testing.assert_allclose(got, want, atol=1e-6)
    # Moving age itself carries nothing; a neutral edit is the face.
    alone = compose_wplus(w, w, EditState.new("fp", 4, psi=1.0).with_direction("age", 1.0), np.zeros(16), dirs)
    np.testing.assert_allclose(alone[:2], np.tile(0.5 * age_v, (2, 1)), atol=1e-6)
    np.testing.assert_allclose(compose_wplus(w, w, EditState.new("fp", 4, psi=1.0), np.zeros(16), dirs), w)


def test_keep_age_adds_its_table_to_the_carry_or_projects_without_one():
    w = np.zeros((4, 16), np.float32)
    state = EditState.new("fp", 4, psi=1.0).with_direction("gender", 3.0).with_lock("age", True)
    tabled, age_v, gender_v = _pair(carry={"age": -0.5}, holds={"age": ((-3, 0, 3), (1.0, 0.0, -0.25))})
    got = compose_wplus(w, w, state, np.zeros(16), tabled)
    np.testing.assert_allclose(got[0] - 6.0 * gender_v, (-1.5 - 0.25) * 0.5 * age_v, atol=1e-6)
    # No table: the lock projects age out of gender, and carrying age would undo it, so nothing of age moves.
    untabled, age_v, _ = _pair(carry={"age": -0.5})
    got = compose_wplus(w, w, state, np.zeros(16), untabled)
    assert abs(float(got[0] @ age_v)) < 1e-5


def test_the_carry_survives_the_library_and_bad_ones_name_the_manifest(tmp_path):
    from tools.directions.fit import save_library

    class G:
        num_ws, fingerprint, name = 4, "m:1", "m"
    dirs, _, _ = _pair(carry={"age": -0.3333})
    save_library(tmp_path, G(), dirs, {})
    back = load_folder(tmp_path, "m:1", 16, 4)
    assert back["gender"].carry == {"age": pytest.approx(-0.3333)} and back["age"].carry == {}
    manifest = tmp_path / "manifest.json"
    good = json.loads(manifest.read_text())
    for bad, why in (({"age": "lots"}, "could not convert|finite|number"), ({"age": 1e9}, "out of bounds"),
                     ({"gender": 0.5}, "itself"), ({"age": float("nan")}, "NaN"), (["age"], "bad entry")):
        data = json.loads(json.dumps(good))
        next(e for e in data["directions"] if e["name"] == "gender")["carry"] = bad
        manifest.write_text(json.dumps(data))
        with pytest.raises(DirectionError, match=why) as err:
            load_folder(tmp_path, "m:1", 16, 4)
        assert "manifest.json" in str(err.value)


def test_fit_carry_finds_the_amount_that_zeroes_the_mean_drift(monkeypatch):
    """A fake scorer whose 'age' is a known linear read-out of w+ with a per-face scatter: the drift over
    gender's range is 6·(g - c·a)·scale terms, so the carry that zeroes its mean is known in closed form."""
    from tools.directions import carry as carry_mod
    from tools.directions.locks import moved_wplus

    dirs, age_v, gender_v = _pair()

    class Gen:
        num_ws, w_dim = 4, 16
        w_avg = torch.zeros(16)

        def z_from_seed(self, s):
            return torch.from_numpy(np.random.default_rng(s).normal(size=(1, 16)).astype(np.float32))

        def mapping(self, z, psi=1.0):
            return z * psi

    read = 3.0 * np.r_[age_v, age_v] + 1.0 * np.r_[gender_v, np.zeros(16, np.float32)]  # rows 0-1 read

    def fake_score(gen, w, directions, moves, scorers, locks=(), batch=8, preview=None):
        wp = moved_wplus(gen, w, directions, moves, locks).numpy()
        age = wp[:, :2].reshape(len(wp), -1) @ read
        return {"age": age + 0.3 * np.sin(np.arange(len(wp)) * moves.get("gender", 0.0))}  # per-face noise

    monkeypatch.setattr(carry_mod, "score_moved", fake_score)
    monkeypatch.setattr(carry_mod, "Scorers", lambda freckles=False: None)
    per_sigma, record = carry_mod.fit_carry(Gen(), dirs, n=64)
    per_gender = np.r_[gender_v, gender_v] @ read * 2.0  # the read-out's change per sigma of each, on rows 0-1
    per_age = np.r_[age_v, age_v] @ read * 0.5
    assert per_sigma == pytest.approx(-per_gender / per_age, abs=0.02)
    assert abs(record["mean_change"]["carried"]) < 0.1 < abs(record["mean_change"]["free"])
    assert record["faces"] == [carry_mod.FIT_SEED0, carry_mod.FIT_SEED0 + 63] and record["held"] == "age"


def test_the_shipped_gender_carries_age():
    from editor.directions.library import RESOURCES
    data = json.loads((RESOURCES / "mobilestylegan-ffhq-1024" / "manifest.json").read_text())
    gender = next(e for e in data["directions"] if e["name"] == "gender")
    assert -0.6 < gender["carry"]["age"] < -0.15
    made = gender["made_by"]["carry"]
    assert abs(made["mean_change"]["carried"]) < abs(made["mean_change"]["free"]) / 3
