"""The freckle direction, fitted from faces labelled by eye (resources/labels/freckles.json), then recoloured.

Why not the freckle score: regressing a spot-density measure on w found weathered, wrinkled skin, and at 1:1
the cheeks looked the same from -3 to +3. The model draws freckles rarely (about 1.5% of faces at psi 1, by
eye), so the labels were made by looking: cheek and nose crops of full renders, every candidate checked at
1:1. The file records which seeds were looked at and how (resources/labels/freckles.json: "rounds").

The direction is the difference of the class means in W (freckled minus not), conditional as InterFaceGAN's:
the normals of age, gender, yaw and smile (the shipped directions) and of skin tone (a ridge fit of cheek
luminance on w, measured here) are projected out, so it does not buy freckles with fair, old or turned faces.
It acts on the fine rows (64² and up): the 128² rows alone draw nothing and 256² and up alone mostly tint;
the spots need both, and the 64² rows add to them (20 held-out faces at +6 sigma, spots plain at 1:1: 17
with the 64² rows, 12 without). One unit is one standard deviation of w along it (psi = 1), as for every
direction; the slider reaches +-FRECKLE_RANGE. The two ends differ: + adds spots with age and P(male)
nearly still (0 -> +6 on 20 held-out faces: 3.9 y, 0.005 per face), while - has nothing to remove on most
faces and smooths the skin instead, which the age model reads as older on some (-6 -> +6: 8.2 y per face).

At 1:1 that direction's spots are red dash- or cross-shaped marks on pinker skin: the model's own freckles
are mostly red. The shipped direction is it recoloured (freckle_paint.py): a per-row edit fitted so that
its +range draws round tan-brown spots where it drew red marks, on the face's own skin colour. Even so
they stayed red-brown or dash-shaped on most faces (8 of 20 freckle-like), so the shipped direction has
layer "freckles": its + side paints round tan dots on the render instead (editor/freckle_layer.py; 19 of
20 freckle-like), and only its - side moves w+.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from editor.compose import Direction
from editor.directions.library import RESOURCES, DirectionError
from editor.model import Generator, to_uint8
from editor.safe_read import loads_json, read_capped
from tools.directions.fit import EVAL_SEED0, condition, fit_normal

Progress = Callable[[str, int, int], None]
LABELS = RESOURCES.parent / "labels" / "freckles.json"
HOLD = ("age", "gender", "yaw", "smile")
FRECKLE_RANGE = 6.0
# Left cheek, as fractions of an FFHQ-aligned image (1024²: y 540-680, x 260-420), for skin tone.
CHEEK = (0.527, 0.664, 0.254, 0.410)
# What the sheets show at 1:1 of a 1024² render: the left cheek and the side of the nose.
CROP = (500, 690, 240, 512)
SKIN_PREVIEW = 256  # skin tone is a low-frequency property: a 256² preview reads it for a tenth of the cost


def read_labels(path: str | Path = LABELS) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(seeds, labels 0/1, psi, model fingerprint) of a labels file."""
    doc = loads_json(read_capped(path, 4 << 20, DirectionError, "labels"), path, DirectionError, "labels")
    try:
        items = sorted((int(s), int(v)) for s, v in doc["labels"].items())
        psi, fingerprint = float(doc["psi"]), str(doc["model_fingerprint"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DirectionError(path, f"not a labels file: {exc}") from None
    seeds, y = (np.array(x, np.int64) for x in zip(*items)) if items else (np.zeros(0, np.int64),) * 2
    if not set(np.unique(y)) <= {0, 1} or y.sum() < 2 or (y == 0).sum() < 2:
        raise DirectionError(path, "labels must be 0 or 1, with at least two faces of each")
    return seeds, y, psi, fingerprint


def latents(gen: Generator, seeds: np.ndarray, psi: float, batch: int = 64) -> np.ndarray:
    parts = [gen.mapping(torch.cat([gen.z_from_seed(int(s)) for s in seeds[i:i + batch]]), psi=psi)
             for i in range(0, len(seeds), batch)]
    return torch.cat(parts).float().cpu().numpy()


@torch.inference_mode()
def skin_tone(gen: Generator, w: np.ndarray, batch: int = 16, progress: Progress | None = None) -> np.ndarray:
    """Mean luminance (0..1) of the left cheek of each face, from a preview render."""
    out = []
    for i in range(0, len(w), batch):
        img = gen.synthesis(torch.from_numpy(w[i:i + batch]).to(gen.device), size=SKIN_PREVIEW)
        img = (img.float().clamp(-1, 1) + 1) / 2
        h, wd = img.shape[-2:]
        t, b, l, r = CHEEK
        patch = img[:, :, round(t * h):round(b * h), round(l * wd):round(r * wd)].mean((2, 3))
        out.append((patch @ torch.tensor([0.299, 0.587, 0.114], device=patch.device)).cpu().numpy())
        if progress:
            progress("measuring skin tone", min(i + batch, len(w)), len(w))
    return np.concatenate(out)


def class_mean_normal(w: np.ndarray, y: np.ndarray, hold: list[np.ndarray]) -> np.ndarray:
    """Unit difference of the class means, with the held normals projected out."""
    diff = w[y == 1].mean(0) - w[y == 0].mean(0)
    return condition((diff / np.linalg.norm(diff)).astype(np.float32), hold)


def cv_auc(w: np.ndarray, y: np.ndarray, hold: list[np.ndarray], folds: int = 5) -> float:
    """How well the fitted normal ranks faces it was not fitted on: the mean over folds of P(a held-out
    freckled face projects further than a held-out plain one). 0.5 is chance."""
    fold = np.random.default_rng(0).integers(0, folds, len(y))
    aucs = []
    for k in range(folds):
        train, test = fold != k, fold == k
        if y[train].min() == y[train].max() or y[test].min() == y[test].max():
            continue
        p = w[test] @ class_mean_normal(w[train], y[train], hold)
        aucs.append(float((p[y[test] == 1][:, None] > p[y[test] == 0][None]).mean()))
    return float(np.mean(aucs)) if aucs else float("nan")


def fit_freckles(gen: Generator, directions: dict[str, Direction], labels: str | Path = LABELS,
                 reach: float = FRECKLE_RANGE, progress: Progress | None = None) -> tuple[Direction, dict]:
    """The freckle direction from a labels file, and the record of how it was made (for the manifest)."""
    seeds, y, psi, fingerprint = read_labels(labels)
    if fingerprint != gen.fingerprint:
        raise DirectionError(labels, f"labelled on model {fingerprint!r}, not {gen.fingerprint!r}")
    missing = [k for k in HOLD if k not in directions]
    if missing:
        raise DirectionError(labels, f"the library lacks {', '.join(missing)}, which the freckle fit holds")
    w = latents(gen, seeds, psi)
    skin_normal = fit_normal(w, skin_tone(gen, w, progress=progress), 1000.0)
    hold = [np.asarray(directions[k].vector, np.float32).reshape(-1, gen.w_dim)[-1] for k in HOLD] + [skin_normal]
    normal = class_mean_normal(w, y, hold)
    scale = float((w @ normal).std() / psi)  # sigma of the model's w along it (truncation shrinks by psi)
    rows = gen.layer_groups["fine"]
    record = {"method": "difference of class means of faces labelled by eye, conditional (InterFaceGAN)",
              "labels": str(Path(labels).name), "conditioned_on": [*HOLD, "skin tone"],
              "samples": int(len(y)), "positives": int(y.sum()), "psi": psi,
              "seeds": [int(seeds[0]), int(seeds[-1])], "cv_auc": round(cv_auc(w, y, hold), 3)}
    return Direction("freckles", normal, (rows.start, rows.stop), scale, reach), record


@torch.inference_mode()
def render_pair(gen: Generator, direction: Direction, seeds, amount: float, psi: float = 0.8) -> np.ndarray:
    """uint8 [len(seeds), 2, H, W, 3]: each face at 0 and at `amount` sigma, full resolution."""
    from tools.directions.locks import layer_painter, moved_wplus
    w = gen.mapping(torch.cat([gen.z_from_seed(int(s)) for s in seeds]), psi=psi)
    dirs = {direction.name: direction}
    out = []
    for a in (0.0, amount):
        moves = {direction.name: a} if a else {}
        images = np.concatenate([to_uint8(gen.synthesis(ws)) for ws in moved_wplus(gen, w, dirs, moves).split(4)])
        paint = layer_painter(gen, dirs, moves)  # the + side painted, as the app paints it
        out.append(images if paint is None else np.stack([paint(im) for im in images]))
    return np.stack(out, 1)


def held_out(gen: Generator, direction: Direction, n: int = 20, amount: float | None = None,
             seed0: int = EVAL_SEED0, psi: float = 0.8) -> tuple[dict, np.ndarray]:
    """Age and P(male) at 0 and +amount (default: the slider's reach) on n held-out faces, and the renders."""
    from editor.measures.scorers import AgeGender
    amount = direction.range if amount is None else amount
    seeds = list(range(seed0, seed0 + n))
    pairs = render_pair(gen, direction, seeds, amount, psi)
    ag = AgeGender()
    s0, s1 = ag(pairs[:, 0]), ag(pairs[:, 1])
    report = {"seeds": [seeds[0], seeds[-1]], "psi": psi, "amount": amount,
              "mean_abs_change": {k: round(float(np.abs(s1[k] - s0[k]).mean()), 3) for k in s0},
              "mean": {k: [round(float(s0[k].mean()), 3), round(float(s1[k].mean()), 3)] for k in s0}}
    return report, pairs


def cheek_sheet(pairs: np.ndarray, seeds, amount: float, path: str | Path, per_row: int = 2) -> Path:
    """Cheek crops at 1:1, each face at 0 beside +amount, `per_row` faces a row. Stored with 6 bits a
    channel: a 20-face sheet is ~1.8 MB instead of 3.1 MB, and single spots keep their colour (a 256-colour
    palette, half that size, posterised the skin)."""
    from PIL import Image, ImageDraw
    y0, y1, x0, x1 = CROP
    h, w, gap, head = y1 - y0, x1 - x0, 6, 16
    rows = (len(pairs) + per_row - 1) // per_row
    sheet = Image.new("RGB", (per_row * (2 * w + 3 * gap), head + rows * (h + head)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (seed, pair) in enumerate(zip(seeds, pairs)):
        x, y = (i % per_row) * (2 * w + 3 * gap), head + (i // per_row) * (h + head)
        draw.text((x + 2, y - 14), f"seed {seed}: 0 | +{amount:g} sigma", fill=(255, 230, 90))
        for j in range(2):
            sheet.paste(Image.fromarray(pair[j, y0:y1, x0:x1]), (x + j * (w + gap), y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(sheet) & 0xFC).save(path, optimize=True)
    return path
