"""The freckle direction fitted from labels made by eye: the maths on planted data, the labels file, the
library write that replaces one entry, the 1:1 sheet. Renders of the real model are left to
test_directions (the shipped library on held-out faces)."""

import json

import numpy as np
import pytest

from tools.directions.fit import condition
from tools.directions.freckles import CROP, LABELS, class_mean_normal, cheek_sheet, cv_auc, read_labels
from editor.directions.library import DirectionError, load_folder, replace_in_library
from editor.compose import Direction


def _planted(n=600, d=32, positives=30, seed=0):
    """W-like data where the labelled class sits further along `truth`, and also (a confound) along `held`."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    truth, held = rng.normal(size=d), rng.normal(size=d)
    truth = condition(truth, [held]).astype(np.float64)
    held /= np.linalg.norm(held)
    y = np.zeros(n, np.int64)
    y[:positives] = 1
    w[y == 1] += 3.0 * truth + 2.0 * held
    return w.astype(np.float32), y, truth, held.astype(np.float32)


def test_class_mean_normal_finds_the_planted_difference_and_holds_the_confound():
    w, y, truth, held = _planted()
    n = class_mean_normal(w, y, [held])
    assert abs(float(n @ held)) < 1e-5
    assert float(n @ truth) > 0.8
    assert np.linalg.norm(n) == pytest.approx(1.0, abs=1e-5)
    assert cv_auc(w, y, [held]) > 0.9
    w2, y2, _, held2 = _planted(seed=1)
    assert 0.3 < cv_auc(w2, np.random.default_rng(2).permutation(y2), [held2]) < 0.7  # shuffled labels: chance


def test_the_shipped_labels_file_reads_and_bad_ones_are_refused(tmp_path):
    seeds, y, psi, fingerprint = read_labels(LABELS)
    assert len(seeds) == len(y) >= 1000 and 20 <= y.sum() < 0.1 * len(y) and psi == 1.0
    manifest = json.loads((LABELS.parents[1] / "directions" / "mobilestylegan-ffhq-1024" / "manifest.json").read_text())
    assert fingerprint == manifest["model_fingerprint"]
    bad = tmp_path / "bad.json"
    for doc in ({"labels": {"1": 1}}, {"psi": 1, "model_fingerprint": "m", "labels": {"1": 2, "2": 0, "3": 0}},
                {"psi": 1, "model_fingerprint": "m", "labels": {"1": 1, "2": 0, "3": 0}}):
        bad.write_text(json.dumps(doc))
        with pytest.raises(DirectionError, match="bad.json"):
            read_labels(bad)


class _Gen:
    fingerprint, name, num_ws, w_dim = "m:1", "m", 4, 8


def test_replace_in_library_swaps_one_entry_and_keeps_the_rest(tmp_path):
    gen = _Gen()
    other = {"name": "age", "file": "age.npy", "layers": [0, 4], "scale": 2.0, "range": 3.0, "made_by": "by hand"}
    np.save(tmp_path / "age.npy", np.eye(8, dtype=np.float32)[0])
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"model_fingerprint": "m:1", "directions": [other, {**other, "name": "freckles", "file": "freckles.npy"}]}))
    np.save(tmp_path / "freckles.npy", np.eye(8, dtype=np.float32)[1])
    new = Direction("freckles", np.eye(8, dtype=np.float32)[2], (2, 4), 1.5, 6.0,
                    {"age": ((-6.0, 0.0, 6.0), (0.5, 0.0, -0.5))})
    replace_in_library(tmp_path, gen, new, {"method": "test"}, {"amount": 6.0})
    dirs = load_folder(tmp_path, "m:1", 8, 4)
    assert set(dirs) == {"age", "freckles"} and dirs["age"].scale == 2.0
    f = dirs["freckles"]
    assert f.vector[2] == 1 and f.rows(4) == range(2, 4) and f.range == 6.0 and f.hold_amount("age", 3.0) == -0.25
    with pytest.raises(DirectionError, match="m:1"):
        replace_in_library(tmp_path, type("G", (_Gen,), {"fingerprint": "x:2"})(), new, {}, None)


def test_cheek_sheet_puts_each_face_at_1_to_1_beside_its_edit(tmp_path):
    from PIL import Image
    y0, y1, x0, x1 = CROP
    pairs = np.zeros((3, 2, 1024, 1024, 3), np.uint8)
    pairs[:, 0, y0:y1, x0:x1] = 100
    pairs[:, 1, y0:y1, x0:x1] = 200
    pairs[2, 1, y0 + 10, x0 + 20] = (120, 60, 40)  # one spot, kept where it was and (to 6 bits) its colour
    sheet = np.asarray(Image.open(cheek_sheet(pairs, [7, 8, 9], 6.0, tmp_path / "s.png", per_row=2)).convert("RGB"))
    h, w = y1 - y0, x1 - x0
    assert sheet.shape == (16 + 2 * (h + 16), 2 * (2 * w + 18), 3)
    first = sheet[16:16 + h]
    assert (first[:, :w] == 100).all() and (first[:, w + 6:2 * w + 6] == 200).all()
    third = sheet[32 + h:32 + 2 * h, w + 6:2 * w + 6]
    assert tuple(third[10, 20]) == (120, 60, 40) and (third[0, 0] == 200).all()


# ------------------------------------------------------------------------------------------ painted freckles
def test_spot_target_paints_a_round_brown_disk_where_the_edit_adds_a_red_dash():
    import torch

    from tools.directions.freckle_paint import BROWN, spot_target
    skin = torch.tensor([0.88, 0.67, 0.55]).view(1, 3, 1, 1)
    base = skin.expand(1, 3, 64, 64).clone()
    edited = base.clone()
    edited[:, 1:, 30:33, 28:35] *= 0.45  # a red dash 7 px long, 3 px high (green and blue lowered)
    target, weight, spots = spot_target(base, edited)
    assert spots == 1
    centre = target[0, :, 31, 31]
    assert torch.allclose(centre, skin.flatten() * torch.tensor(BROWN), atol=0.01)  # brown, not red
    assert torch.equal(target[..., :20, :], base[..., :20, :])  # the skin away from it is the base face
    dark = (target[0, 1] < skin[0, 1, 0, 0] - 0.05).nonzero().float()
    height, width = (dark.max(0).values - dark.min(0).values + 1).tolist()
    assert height == width and 4 <= width <= 7  # round, ~5 px across, whatever the dash's shape
    assert weight[0, 0, 31, 31] > 10 * weight[0, 0, 5, 5]


def test_paint_direction_moves_the_edit_towards_the_painted_target():
    import torch

    from tools.directions.freckle_paint import painted_freckles
    from editor.model.generator import Generator
    from tests.support import tiny_mobile_net as tiny_net
    g = Generator(tiny_net(), w_avg=torch.zeros(16), name="t", fingerprint="t:paint", device="cpu")
    rows = range(g.num_ws - 3, g.num_ws)
    v = np.random.default_rng(0).normal(size=g.w_dim).astype(np.float32)
    labelled = Direction("freckles", v / np.linalg.norm(v), (rows.start, rows.stop), 1.0, 6.0)
    d, record = painted_freckles(g, labelled, seeds=range(2), steps=4)
    loss = record["painted"]["loss"]
    assert loss[1] < loss[0]
    assert d.vector.shape == (g.num_ws, g.w_dim) and d.rows(g.num_ws) == rows and d.range == 6.0
    assert np.linalg.norm(d.vector) == pytest.approx(1.0, abs=1e-5)
    assert not d.vector[:rows.start].any()  # only the labelled direction's rows move
    # 4 Adam steps of lr 0.03 from the labelled direction at +6: the offset stays near where it started
    offset = d.range * d.scale * d.vector[rows.start:]
    assert np.abs(offset - 6.0 * labelled.vector).max() <= 4 * 0.03 + 1e-4
