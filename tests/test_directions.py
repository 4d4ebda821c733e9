"""Directions: fitting maths on planted data, the scorers on made-up and real faces, the library on disk,
SeFa, locks, and the shipped directions doing what they say on held-out faces."""

import json

import numpy as np
import pytest
import torch

from editor.directions import DirectionError, import_ganspace, import_interfacegan, load_library
from tools.directions.fit import condition, cross_validated_normal, fit_normal
from editor.measures.scorers import SKIN_BOXES, AgeGender, freckle_score
from editor.compose import Direction, compose_wplus
from editor.edit import EditState

SMILE_SEEDS = (100047, 100008)  # by eye: a broad smile, facing us; a closed mouth, head turned ~30 degrees


@pytest.fixture(autouse=True)
def _own_user_library(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


# ------------------------------------------------------------------------------------------ fitting maths
def test_ridge_recovers_a_planted_direction_and_cv_picks_a_ridge():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(300, 64)) * rng.uniform(0.5, 2.0, size=64)  # unequal variances, like W
    truth = rng.normal(size=64)
    truth /= np.linalg.norm(truth)
    y = w @ truth + 0.3 * rng.normal(size=300)
    assert abs(fit_normal(w, y, 10.0) @ truth) > 0.95
    normal, ridge, corr = cross_validated_normal(w, y)
    assert abs(normal @ truth) > 0.95 and corr > 0.9 and ridge > 0
    assert np.linalg.norm(normal) == pytest.approx(1.0, abs=1e-5)


def test_condition_removes_held_components():
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=32) for _ in range(3))
    out = condition(a, [b, c])
    assert abs(out @ b) < 1e-5 and abs(out @ c) < 1e-5
    assert np.linalg.norm(out) == pytest.approx(1.0, abs=1e-5)
    assert out @ a > 0  # still points the same way as far as it can


def test_locks_hold_the_locked_direction():
    """Moving 'freckles' with age locked must not move w along the age normal."""
    rng = np.random.default_rng(2)
    age = rng.normal(size=16).astype(np.float32)
    age /= np.linalg.norm(age)
    mixed = (age + rng.normal(size=16)).astype(np.float32)
    dirs = {"age": Direction("age", age), "freckles": Direction("freckles", mixed / np.linalg.norm(mixed))}
    w = np.zeros((4, 16), np.float32)
    state = EditState.new("fp", 4, psi=1.0).with_direction("freckles", 2.0)
    free = compose_wplus(w, w, state, np.zeros(16), dirs)
    held = compose_wplus(w, w, state.with_lock("age", True), np.zeros(16), dirs)
    assert abs(free[0] @ age) > 0.1
    assert abs(held[0] @ age) < 1e-5
    assert EditState.from_dict(state.with_lock("age", True).to_dict()).locks == ("age",)


def test_a_calibrated_hold_moves_the_locked_direction_by_its_table():
    """With Keep age on, moving gender adds the age direction by the hold table's amount (interpolated),
    on the age direction's own rows; with the lock off, or for an amount of 0, nothing is added."""
    rng = np.random.default_rng(3)
    age_v, gender_v = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 16)).astype(np.float32))
    age = Direction("age", age_v, (0, 2), scale=0.5, range=6.0)
    gender = Direction("gender", gender_v, None, scale=2.0, range=3.0, holds={"age": ((-3, 0, 3), (1.0, 0.0, -2.0))})
    dirs = {"age": age, "gender": gender}
    w = np.zeros((4, 16), np.float32)
    state = EditState.new("fp", 4, psi=1.0).with_direction("gender", 1.5)
    free = compose_wplus(w, w, state, np.zeros(16), dirs)
    held = compose_wplus(w, w, state.with_lock("age", True), np.zeros(16), dirs)
    assert gender.hold_amount("age", 1.5) == pytest.approx(-1.0)
    np.testing.assert_allclose(held - free, np.r_[np.tile(-1.0 * 0.5 * age_v, (2, 1)), np.zeros((2, 16))], atol=1e-6)
    # The moved direction itself is not projected when a calibrated hold exists.
    np.testing.assert_allclose(free[0], 3.0 * gender_v, atol=1e-6)
    with pytest.raises(ValueError, match="rising"):
        Direction("x", age_v, holds={"age": ((1, 0), (0, 0))})


def test_hold_tables_survive_the_library_round_trip(tmp_path, monkeypatch):
    from tools.directions.fit import save_library
    from editor.directions.library import load_folder

    class G:
        num_ws, fingerprint, name = 4, "m:1", "m"
    v = np.eye(8, dtype=np.float32)
    dirs = {"age": Direction("age", v[0], (0, 2), 0.5, 6.0),
            "gender": Direction("gender", v[1], None, 2.0, 3.0, {"age": ((-3.0, 3.0), (0.5, -0.25))})}
    save_library(tmp_path, G(), dirs, {})
    back = load_folder(tmp_path, "m:1", 8, 4)
    assert back["gender"].holds == {"age": ((-3.0, 3.0), (0.5, -0.25))} and back["age"].holds == {}
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["directions"][1]["holds"] = {"age": {"amounts": [1, 0], "compensation": [0, 0]}}
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DirectionError, match="rising"):
        load_folder(tmp_path, "m:1", 8, 4)


# ------------------------------------------------------------------------------------------ scorers
def test_keras_same_padding_matches_tensorflow():
    """TF 'same': output ceil(n / s), the odd padding pixel after; max-pool pads with -inf."""
    from editor.measures.smile import _same_pad
    x = torch.arange(25.0).reshape(1, 1, 5, 5) - 100
    y = torch.nn.functional.max_pool2d(_same_pad(x, 3, 2, float("-inf")), 3, 2)
    assert y.shape[-2:] == (3, 3)
    assert y[0, 0, 0, 0] == x[0, 0, 1, 1] and y[0, 0, 2, 2] == x[0, 0, 4, 4]  # last window: rows 4 and padding


def test_smile_and_yaw_on_a_real_face_and_its_mirror(default_fp32):
    """SMILE_SEEDS: the first smiles broadly (by eye), the second does not; mirroring a face turns
    its yaw around, and the emotion model's 7 probabilities sum to 1."""
    from editor.measures.pose import head_pose
    from editor.measures.smile import Smile
    from editor.model import to_uint8
    g = default_fp32
    z = torch.cat([g.z_from_seed(s) for s in SMILE_SEEDS])
    img = to_uint8(torch.nn.functional.interpolate(g.synthesis(g.mapping(z, psi=0.8)), size=(512, 512), mode="area"))
    smile = Smile()
    emotions = smile.emotions(img)
    np.testing.assert_allclose(emotions.sum(1), 1.0, atol=1e-4)
    p = smile(img)
    assert p[0] > 0.8 and p[1] < 0.3
    yaw, mirrored = head_pose(img)["yaw"], head_pose(img[:, :, ::-1])["yaw"]
    assert np.abs(yaw + mirrored).max() < 6 and np.abs(yaw).max() > 5


def _skin_image(spots: list[tuple[int, int]], size=512, line=None) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (214, 170, 140)  # light skin
    yy, xx = np.mgrid[:size, :size]
    for cy, cx in spots:
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        img[d <= 4] = (150, 95, 65)  # a small brown spot, ~5 px across
    if line is not None:
        y0, x0, x1 = line
        img[y0:y0 + 2, x0:x1] = (150, 95, 65)  # a wrinkle-like line
    return img


def test_freckle_score_counts_brown_spots_on_skin_only():
    l, t, r, b = SKIN_BOXES[0]
    inside = [(int(t * 512) + 8 + 12 * i, int(l * 512) + 10 + 12 * j) for i in range(4) for j in range(4)]
    outside = [(40 + 12 * i, 40 + 12 * j) for i in range(4) for j in range(4)]  # background corner
    clean, freckled, elsewhere = _skin_image([]), _skin_image(inside), _skin_image(outside)
    wrinkled = _skin_image([], line=(int(t * 512) + 20, int(l * 512) + 5, int(r * 512) - 5))
    scores = freckle_score(np.stack([clean, freckled, elsewhere, wrinkled]))
    assert scores[0] == 0 and scores[2] == 0 and scores[3] == 0
    area = sum((round(b * 512) - round(t * 512)) * (round(r * 512) - round(l * 512)) for l, t, r, b in SKIN_BOXES)
    assert scores[1] == pytest.approx(len(inside) * 1000 / area, rel=0.1)  # every spot found, once
    # Twice the spots, about twice the score.
    fewer = _skin_image(inside[::2])
    assert 1.5 < scores[1] / freckle_score(fewer[None])[0] < 2.5


def test_age_and_gender_on_faces_labelled_by_eye(default_fp32):
    """Seeds of the default model labelled by eye: 6 a toddler, 8 a man of about 60, 0 a young woman,
    1 a man in his forties."""
    g = default_fp32
    z = torch.cat([g.z_from_seed(s) for s in (6, 8, 0, 1)])
    img = torch.nn.functional.interpolate(g.synthesis(g.mapping(z, psi=0.8)), size=(512, 512), mode="area")
    from editor.model import to_uint8
    s = AgeGender()(to_uint8(img))
    assert s["age"][0] < 12 and s["age"][1] > 45 and 15 < s["age"][2] < 40
    assert s["p_male"][1] > 0.8 and s["p_male"][3] > 0.8 and s["p_male"][2] < 0.2


# ------------------------------------------------------------------------------------------ library
def test_shipped_library_for_the_default_model(default_fp32):
    g = default_fp32
    dirs, problems = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)
    assert not problems
    assert {"age", "gender", "freckles", "smile", "yaw", "eyeglasses", "hair_lightness"} <= set(dirs)
    assert dirs["freckles"].rows(g.num_ws) == g.layer_groups["fine"]
    assert max(g.layer_resolutions[i] for i in dirs["yaw"].rows(g.num_ws)) <= 16  # pose: coarse rows only
    # Every shipped direction can hold every other lockable attribute, and holds nothing at amount 0.
    for name, d in dirs.items():
        assert set(d.holds) == {"age", "gender", "smile", "yaw", "eyeglasses", "hair_lightness"} - {name}
        assert all(d.hold_amount(k, 0.0) == 0.0 for k in d.holds)
    assert dirs["gender"].rows(g.num_ws) == range(g.num_ws)
    for d in dirs.values():
        assert np.linalg.norm(d.vector) == pytest.approx(1.0, abs=1e-4) and d.scale > 0
    # Conditional: each is orthogonal to the normals it holds (freckles is per-row: row by row).
    rows = np.atleast_2d(dirs["freckles"].vector)[dirs["freckles"].rows(g.num_ws)]
    cos = rows @ np.asarray(dirs["gender"].vector).reshape(-1, g.w_dim)[-1] / np.linalg.norm(rows, axis=1)
    assert np.abs(cos).max() < 0.05


def test_a_library_for_another_model_is_refused(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    np.save(folder / "x.npy", np.ones(8, np.float32))
    (folder / "manifest.json").write_text(json.dumps(
        {"model_fingerprint": "other:123", "directions": [{"name": "x", "file": "x.npy"}]}))
    from editor.directions.library import load_folder
    with pytest.raises(DirectionError, match="other:123"):
        load_folder(folder, "mine:456", 8, 4)


def test_import_interfacegan_and_ganspace(tmp_path):
    good, per_layer, bad = tmp_path / "stylegan_ffhq_smile_boundary.npy", tmp_path / "pose_w.npy", tmp_path / "b.npy"
    np.save(good, np.ones((1, 8), np.float32) / np.sqrt(8))
    np.save(per_layer, np.ones((4, 8), np.float32))
    np.save(bad, np.ones((3, 8), np.float32))
    assert import_interfacegan(good, "m", "m:1", 8, 4).name == "smile"
    assert import_interfacegan(per_layer, "m", "m:1", 8, 4).vector.shape == (4, 8)
    with pytest.raises(DirectionError, match="b.npy"):
        import_interfacegan(bad, "m", "m:1", 8, 4)
    gs = tmp_path / "ganspace.npz"
    np.savez(gs, lat_comp=np.eye(8, dtype=np.float32)[:3, None, :] * 2, lat_mean=np.zeros((1, 8)),
             lat_stdev=np.array([3.0, 2.0, 1.0], np.float32))
    comps = import_ganspace(gs, "m", "m:1", 8, 4, count=2)
    assert [c.scale for c in comps] == [3.0, 2.0] and np.linalg.norm(comps[0].vector) == pytest.approx(1.0)
    dirs, problems = load_library("m", "m:1", 8, 4)
    assert not problems and {"smile", "pose", "ganspace_pc0", "ganspace_pc1"} <= set(dirs)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DirectionError, match="junk.npz"):
        import_ganspace(tmp_path / "junk.npz", "m", "m:1", 8, 4)


# ------------------------------------------------------------------------------------------ SeFa
def test_sefa_components_are_unit_orthogonal_and_closed_form(default_fp32, monkeypatch):
    from editor.directions.sefa import sefa_directions, sefa_vectors
    g = default_fp32
    with monkeypatch.context() as m:  # closed form, from the weights alone (what makes it instant): no network run
        for name in ("forward", "mapping", "synthesis"):
            m.setattr(type(g.net), name, lambda *a, **k: pytest.fail("SeFa ran the network"))
        vecs, values = sefa_vectors(g.net, g.layer_groups["coarse"], 5)
    assert np.allclose(vecs @ vecs.T, np.eye(5), atol=1e-4)
    assert np.all(np.diff(values) <= 0)
    dirs = sefa_directions(g, g.layer_groups["coarse"], 3, samples=500)
    assert len(dirs) == 3 and all(d.rows(g.num_ws) == g.layer_groups["coarse"] for d in dirs.values())


def test_sefa_on_stylegan2_reads_the_affines_of_each_row():
    from editor.directions.sefa import sefa_vectors
    from tests.support import tiny_net
    net = tiny_net(img_resolution=32)
    rows = net.style_affines()
    assert len(rows) == net.num_ws and all(rows)  # every w row feeds at least one affine
    vecs, _ = sefa_vectors(net, range(0, 4), 2)
    assert vecs.shape == (2, net.w_dim)


# ------------------------------------------------------------------------------------------ shipped quality
def test_shipped_directions_move_their_attribute_on_held_out_faces(default_fp32):
    """A small version of `directions evaluate`: 4 held-out faces at -range, 0, +range."""
    from tools.directions.evaluate import evaluate
    g = default_fp32
    dirs, _ = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)
    report = evaluate(g, dirs, n=4, steps=3, locks=False)
    age, gender, freckles = (report["directions"][k] for k in ("age", "gender", "freckles"))
    assert age["mean"]["age"][2] - age["mean"]["age"][0] > 25
    assert gender["mean"]["p_male"][2] - gender["mean"]["p_male"][0] > 0.5
    assert freckles["mean"]["freckles"][2] > freckles["mean"]["freckles"][0]
    # Freckles are judged at their + end (issue 14): from 0 to +range most faces keep their age and P(male).
    # The - end smooths the skin (README: Directions), so end to end is not asked; the age model's reading
    # of single faces jumps (the mean over 20 faces is 1.9 y), so on 4 faces it is the median that is asked.
    from tools.directions.freckles import held_out
    report, pairs = held_out(g, dirs["freckles"], n=4)
    s0, s1 = (AgeGender()(pairs[:, i]) for i in (0, 1))
    assert np.median(np.abs(s1["age"] - s0["age"])) < 5 and report["mean_abs_change"]["p_male"] < 0.1


def test_keep_age_holds_age_while_gender_moves_on_held_out_faces(default_fp32):
    """Issue 10 item 2 and issue 14: gender over its range aged faces on average. 8 held-out faces, full
    renders: gender without its carry (tools.directions.carry) ages them; the shipped gender, which carries
    age, and the same with Keep age (its table on top) leave the mean far smaller, and gender still moves.
    The per-face scatter remains (README for the figures on 20 and 200 faces)."""
    from tools.directions.carry import with_carry
    from tools.directions.fit import EVAL_SEED0, Scorers
    from tools.directions.locks import score_moved
    g = default_fp32
    dirs, _ = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)
    assert dirs["gender"].carry["age"] < 0
    w = g.mapping(torch.cat([g.z_from_seed(EVAL_SEED0 + i) for i in range(8)]), psi=0.8)
    scorers = Scorers(freckles=False)
    change = {}
    for name, library, locks in (("raw", with_carry(dirs, "gender", "age", 0.0), ()), ("carried", dirs, ()),
                                 ("keep age", dirs, ("age",))):
        lo, hi = (score_moved(g, w, library, {"gender": s * 3.0}, scorers, locks=locks) for s in (-1, 1))
        assert (hi["p_male"] - lo["p_male"]).mean() > 0.6  # gender still moves
        change[name] = (hi["age"] - lo["age"]).mean()
    assert change["raw"] > 4.0  # the drift the carry and the lock are for
    assert abs(change["carried"]) < 0.5 * change["raw"] and abs(change["keep age"]) < 0.5 * change["raw"]


def test_export_then_import_acts_on_the_same_rows(default_fp32, tmp_path):
    import subprocess
    import sys
    g = default_fp32
    out = tmp_path / "age_boundary.npy"
    subprocess.run([sys.executable, "-m", "editor", "directions", "export", "age", "-o", str(out)], check=True,
                   capture_output=True, timeout=120)
    theirs = import_interfacegan(out, "other", "other:1", g.w_dim, g.num_ws)
    ours = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)[0]["age"]
    state = EditState.new("fp", g.num_ws, psi=1.0)
    zero = np.zeros((g.num_ws, g.w_dim), np.float32)
    a = compose_wplus(zero, zero, state.with_direction("age", 1.0), np.zeros(g.w_dim), {"age": ours})
    b = compose_wplus(zero, zero, state.with_direction("age", ours.scale), np.zeros(g.w_dim), {"age": theirs})
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not a[16:].any() and a[:16].any()  # age acts up to 128² only


def test_reach_is_where_faces_break_on_either_side():
    from editor.directions.reach import broken, measure_reach
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    calls = []

    def render_at(amount):  # contrast fades with +amount; below -3.2 the 'face' is gone
        calls.append(amount)
        fade = 1.0 if amount <= 0 else max(0.0, 1 - amount / 8)
        out = (128 + (reference.astype(np.float32) - 128) * fade).astype(np.uint8)
        return out * 0 if amount < -3.2 else out

    found = lambda images: images.reshape(len(images), -1).max(1) > 0  # noqa: E731
    # +3.2 keeps 0.6 of the contrast; -3.2 the last amount with a face: reach 3.0 (a multiple of 0.5 below both).
    assert measure_reach(render_at, reference, found, bisections=6) == 3.0
    assert measure_reach(lambda a: reference, reference, found) == 5.0
    assert broken(reference * 0, reference, found).all()
    assert not broken(reference, reference, found).any()
    washed = (128 + (reference.astype(np.float32) - 128) * 0.5).astype(np.uint8)
    assert broken(washed, reference, found).all()  # half the contrast: washed out


def test_hold_loop_brings_a_face_back_to_its_target_with_its_own_slope():
    from editor.directions.hold_loop import LOOP_STEPS, Hold, next_amount
    # A face whose age answers its slider at 5 y/sigma (the default guess is 3.3) and was pushed +8 y.
    response = lambda amount: 30.0 + 8.0 + 5.0 * amount  # noqa: E731
    hold, amount = Hold.of("age", 30.0), 0.0
    for _ in range(LOOP_STEPS + 2):
        new = next_amount(hold, amount, response(amount), reach=6.0)
        if new is None:
            break
        amount = new
    assert abs(response(amount) - 30.0) <= hold.tolerance and hold.steps <= LOOP_STEPS
    assert hold.slope == pytest.approx(5.0)  # learnt from the face's own two readings
    # Clamped to the slider's reach; no step when already within tolerance; none once the steps are spent.
    assert next_amount(Hold.of("age", 0.0), 0.0, 100.0, reach=2.0) == -2.0
    assert next_amount(Hold.of("age", 30.0), 1.0, 31.0, reach=6.0) is None
    spent = Hold.of("age", 30.0)
    spent.steps = LOOP_STEPS
    assert next_amount(spent, 0.0, 50.0, reach=6.0) is None


def test_hold_loop_steps_probabilities_on_their_logit():
    """Smile and gender are probabilities: a sigmoid response, flat near 0 and 1, where a step in probability
    units would overshoot or crawl. On the logit the same secant converges."""
    from editor.directions.hold_loop import LOOP_STEPS, Hold, next_amount
    sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    for target_logit, push, slope in ((0.0, 2.5, 1.4), (-2.0, 1.2, 0.5), (1.5, -2.5, 0.9)):  # within reach
        response = lambda amount: float(sigmoid(target_logit + push + slope * amount))  # noqa: E731
        target = float(sigmoid(target_logit))
        hold, amount = Hold.of("smile", target), 0.0
        while (new := next_amount(hold, amount, response(amount), reach=3.0)) is not None:
            amount = new
        assert abs(response(amount) - target) <= hold.tolerance, (target_logit, push, slope)
        assert hold.steps <= 4 < LOOP_STEPS  # a linear response on the logit: the secant is exact from step 2
    # At most one sigma a step: a face read far from its target on the logit is approached, not overshot.
    hold = Hold.of("smile", 0.97)
    assert next_amount(hold, 0.0, 0.77, reach=3.0) == pytest.approx(hold.max_step)
    # A reading of exactly 0 or 1 (the model's floor) does not break the step.
    assert np.isfinite(next_amount(Hold.of("gender", 0.5), 0.0, 1.0, reach=3.0))


def test_the_closed_loop_holds_age_where_the_table_does_not(default_fp32):
    """`directions hold` on one held-out face (the README's figure uses 20): gender from -3 to +3 sigma ages
    this face by ~10 y free and with the lock's table alone; the closed loop brings it within a few years."""
    from editor.directions import load_library
    from editor.directions.hold_loop import LOOP_STEPS
    from tools.directions.evaluate import evaluate_loop
    g = default_fp32
    dirs, _ = load_library(g.name, g.fingerprint, g.w_dim, g.num_ws)
    r = evaluate_loop(g, dirs, "gender", "age", n=1)
    assert r["free"] > 6 and r["table"] > 6
    assert r["loop"] < 4 and 1 <= r["mean_steps"] <= LOOP_STEPS


def test_a_hold_that_needs_the_whole_locked_slider_holds_nothing():
    """A table at the locked direction's end is a drift of the measure, not of the attribute (Keep glasses
    asked for -6 sigma of eyeglasses against ageing's wrinkles): such entries are dropped, others kept."""
    from tools.directions.locks import unsaturated
    dirs = {"eyeglasses": Direction("eyeglasses", np.ones(4, np.float32), range=6.0),
            "age": Direction("age", np.ones(4, np.float32), range=6.0)}
    out = unsaturated({"eyeglasses": ((-6.0, 0.0, 6.0), (2.2, 0.0, -6.0)), "age": ((-6.0, 0.0, 6.0), (0.9, 0.0, -1.6))},
                      dirs)
    assert out["eyeglasses"] == ((-6.0, 0.0, 6.0), (2.2, 0.0, 0.0))
    assert out["age"] == ((-6.0, 0.0, 6.0), (0.9, 0.0, -1.6))
    near = unsaturated({"eyeglasses": ((-6.0, 0.0, 6.0), (5.5, 0.0, -5.98))}, dirs)  # just short of the end
    assert near["eyeglasses"] == ((-6.0, 0.0, 6.0), (5.5, 0.0, 0.0))
