"""Fit semantic directions in W, InterFaceGAN-style, and write them to a library folder.

Sample seeded latents at a recorded psi, render them, score every face (age, P(male), freckles, smile, head
yaw), fit a linear model of each score on w (ridge regression on standardised w), and take the normal of its
level sets as the direction. Conditional directions project out the normals of the attributes to hold
(InterFaceGAN's conditional manipulation): age holds gender, gender holds age, the others hold both (and
smile, for yaw). Each acts on the w+ rows where its attribute lives. One unit of a direction is one standard
deviation along it of the model's w distribution (psi = 1). Locks are calibrated afterwards (locks.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from editor.compose import Direction
from editor.directions.library import manifest_entry
from editor.files import atomic_write_json, atomic_write_npy
from editor.measures.pose import head_pose
from editor.measures.scorers import AgeGender, freckle_score
from editor.measures.smile import Smile
from editor.model import Generator, to_uint8

Progress = Callable[[str, int, int], None]
SCORE_SIZE = 512  # freckles need >= 512²; age and gender read chips cut from the same render
# Faces rendered at a time when sampling and scoring: two at 1024² were fastest on 2-core CPUs (rendering 8 faces:
# AVX2 fp32 1.3-1.4 s in twos against 2.8-3.8 s in one batch, AVX512-BF16 bf16 0.7 against 0.95-1.2 s; rendering
# and scoring 16: AVX2 3.0 against 4.1-5.2 s, AVX512-BF16 about even) and hold a quarter of the memory of eight
# (a test scoring eight at once was the suite's largest step up, 2.7 GB). The scores are the same.
SCORE_BATCH = 2
FIT_SEED0 = 100_000  # fitting seeds start here; evaluation uses EVAL_SEED0 so the two never overlap
EVAL_SEED0 = 900_000


@dataclass
class Samples:
    seeds: np.ndarray
    psi: float
    w: np.ndarray                       # [N, w_dim], truncated as rendered
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    images: np.ndarray | None = None    # small thumbnails [N, 128, 128, 3], for contact sheets


class Scorers:
    """Every measure of a face at once: age, p_male, freckles, smile (P(happy)), yaw and pitch (degrees),
    eyeglasses and hair lightness (editor.measures.looks); called with identity=True, also dlib's face
    descriptor [N, 128] under 'descriptor', to measure how far an edit takes the face from who it was."""

    KEYS = ("age", "p_male", "freckles", "smile", "yaw", "pitch", "eyeglasses", "hair_lightness")

    def __init__(self, freckles: bool = True):
        self.age_gender, self.smile, self.freckles = AgeGender(), Smile(), freckles

    def __call__(self, images: np.ndarray, identity: bool = False) -> dict[str, np.ndarray]:
        from editor.measures.looks import looks
        out = self.age_gender(images)
        if self.freckles:  # the costliest measure, and meaningless below 512²
            out["freckles"] = freckle_score(images)
        out["smile"] = self.smile(images)
        out.update(head_pose(images))
        out.update(looks(images))
        if identity:
            from editor.measures.identity import descriptor
            out["descriptor"] = np.stack([descriptor(im) for im in images])
        return out


def render_for_scoring(gen: Generator, ws: torch.Tensor, preview: int | None = None,
                       paint: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Full render shrunk to SCORE_SIZE: previews skip the last layers, which the fine-layer directions move.
    `preview` (e.g. 256) renders that preview instead: enough for age, gender, smile and pose (their chips
    are 64² or less), several times cheaper, and used only where those are calibrated, never evaluated.
    `paint`: applied to each uint8 render before shrinking, as the app does (a direction's painted layer)."""
    img = gen.synthesis(ws, size=preview)
    if paint is not None:
        painted = np.stack([paint(im) for im in to_uint8(img)])
        img = torch.from_numpy(painted).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    if img.shape[-1] > SCORE_SIZE:
        img = torch.nn.functional.interpolate(img, size=(SCORE_SIZE, SCORE_SIZE), mode="area")
    return to_uint8(img)


def sample_and_score(gen: Generator, n: int, psi: float = 0.8, seed0: int = FIT_SEED0, batch: int = SCORE_BATCH,
                     progress: Progress | None = None, keep_thumbs: bool = False,
                     cache: Path | None = None) -> Samples:
    """Render and score n seeded faces. `cache` (.npz) keeps the renders, so refitting with other scorers
    or settings skips the hour of rendering; it is used only for the same model, seeds and psi."""
    seeds = np.arange(seed0, seed0 + n)
    key = np.array([gen.fingerprint, str(psi)])
    ws, all_images = None, None
    if cache and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as z:
            if np.array_equal(z["seeds"], seeds) and np.array_equal(z["key"], key):
                ws, all_images = z["w"], z["images"]
    if all_images is None:
        ws_parts, parts = [], []
        for start in range(0, n, batch):
            z = torch.cat([gen.z_from_seed(int(s)) for s in seeds[start:start + batch]])
            w = gen.mapping(z, psi=psi)
            parts.append(render_for_scoring(gen, w))
            ws_parts.append(w.cpu().numpy())
            if progress:
                progress("rendering", min(start + batch, n), n)
        ws, all_images = np.concatenate(ws_parts), np.concatenate(parts)
        if cache:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, seeds=seeds, key=key, w=ws, images=all_images)
    scorers, scores = Scorers(), {}
    for start in range(0, n, batch):
        for k, v in scorers(all_images[start:start + batch]).items():
            scores.setdefault(k, []).append(v)
        if progress:
            progress("scoring", min(start + batch, n), n)
    return Samples(seeds, psi, ws, {k: np.concatenate(v) for k, v in scores.items()},
                   all_images[:, ::4, ::4].copy() if keep_thumbs else None)


RIDGES = (10.0, 100.0, 1000.0, 10000.0)


def cross_validated_normal(w: np.ndarray, y: np.ndarray, folds: int = 5) -> tuple[np.ndarray, float, float]:
    """With a few hundred samples in 512 dimensions the fit overfits without a strong ridge, so the ridge
    is chosen by k-fold correlation on held-out samples. Returns (normal, ridge, CV correlation)."""
    parts = np.array_split(np.arange(len(w)), folds)
    best = (-2.0, RIDGES[0])
    for ridge in RIDGES:
        cors = []
        for part in parts:
            train = np.setdiff1d(np.arange(len(w)), part)
            n = fit_normal(w[train], y[train], ridge)
            cors.append(np.corrcoef(w[part] @ n, y[part])[0, 1])
        best = max(best, (float(np.mean(cors)), ridge))
    return fit_normal(w, y, best[1]), best[1], best[0]


def fit_normal(w: np.ndarray, y: np.ndarray, ridge: float = 100.0) -> np.ndarray:
    """Unit normal of the ridge fit y ~ w (in the directions of W, not of standardised W)."""
    w = w.astype(np.float64)
    y = y.astype(np.float64)
    mu, sd = w.mean(0), w.std(0) + 1e-8
    x = (w - mu) / sd
    yc = y - y.mean()
    coef = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ yc)
    normal = coef / sd  # back to W coordinates: y ~ ((w - mu) / sd) . coef = w . (coef / sd) + c
    return (normal / np.linalg.norm(normal)).astype(np.float32)


def condition(normal: np.ndarray, hold: list[np.ndarray]) -> np.ndarray:
    """Remove from `normal` every component along the normals to hold (Gram-Schmidt), renormalised."""
    basis: list[np.ndarray] = []
    for h in hold:
        v = h.astype(np.float64)
        for b in basis:
            v = v - (v @ b) * b
        basis.append(v / np.linalg.norm(v))
    n = normal.astype(np.float64)
    for b in basis:
        n = n - (n @ b) * b
    return (n / np.linalg.norm(n)).astype(np.float32)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


SCORE_OF = {"age": "dlib age (years)", "gender": "logit P(male)", "freckles": "freckle_score",
            "smile": "logit P(happy), fer mini-Xception", "yaw": "head yaw (degrees, dlib 5-point)"}


def fit_directions(gen: Generator, samples: Samples) -> tuple[dict[str, Direction], dict[str, dict]]:
    """The shipped directions and a record of how each was made."""
    w, s = samples.w, samples.scores
    targets = {"age": s["age"], "gender": logit(s["p_male"]), "freckles": s["freckles"],
               "smile": logit(s["smile"]), "yaw": s["yaw"]}
    fits = {k: cross_validated_normal(w, y) for k, y in targets.items()}
    raw = {k: f[0] for k, f in fits.items()}
    upto = lambda res: range(0, max(i for i, r in enumerate(gen.layer_resolutions) if r <= res) + 1)  # noqa: E731
    # Age acts up to 128²: the finer rows mostly tint the skin when pushed far, while shape, wrinkles and
    # hair line live below. Its slider reaches further: one sigma of age moves ~7 years. Smile is a shape
    # (coarse and middle rows), yaw a pose (coarse rows): finer rows would only add colour side effects.
    spec = {"age": (["gender"], upto(128), 6.0), "gender": (["age"], None, 3.0),
            "freckles": (["age", "gender"], gen.layer_groups["fine"], 3.0),
            "smile": (["age", "gender"], upto(32), 3.0), "yaw": (["age", "gender", "smile"], upto(16), 3.0)}
    directions, records = {}, {}
    for name, (hold, rows, reach) in spec.items():
        normal = condition(raw[name], [raw[h] for h in hold])
        # Sigma of the model's own w distribution (psi = 1): truncation shrinks w - w_avg by psi exactly.
        scale = float((w @ normal).std() / samples.psi)
        layers = None if rows is None else (rows.start, rows.stop)
        directions[name] = Direction(name, normal, layers, scale, reach)
        records[name] = {"method": "ridge regression on standardised w, conditional (InterFaceGAN)",
                         "conditioned_on": hold, "samples": int(len(samples.seeds)), "psi": samples.psi,
                         "seeds": [int(samples.seeds[0]), int(samples.seeds[-1])], "render_size": SCORE_SIZE,
                         "score": SCORE_OF[name], "ridge": fits[name][1], "cv_correlation": round(fits[name][2], 3)}
    return directions, records


def save_library(folder: Path, gen: Generator, directions: dict[str, Direction], records: dict[str, dict],
                 quality: dict[str, dict] | None = None) -> Path:
    """manifest.json + one .npy per direction, each written whole."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, d in sorted(directions.items()):
        atomic_write_npy(folder / f"{name}.npy", d.vector)
        entry = manifest_entry(d, gen.num_ws, f"{name}.npy", records.get(name, {}))
        if quality and name in quality:
            entry["quality"] = quality[name]
        entries.append(entry)
    manifest = {"model_fingerprint": gen.fingerprint, "model": gen.name, "units": "sigma of the model's w distribution (psi = 1) along the direction",
                "created": time.strftime("%Y-%m-%d"), "directions": entries}
    atomic_write_json(folder / "manifest.json", manifest)
    return folder / "manifest.json"


def contact_sheet(samples: Samples, key: str, path: Path, count: int = 8) -> None:
    """The `count` highest (top row) and lowest (bottom row) scored faces."""
    from PIL import Image
    order = np.argsort(samples.scores[key])
    rows = [np.concatenate([samples.images[i] for i in idx], 1) for idx in (order[::-1][:count], order[:count])]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(path)
