"""Eyeglasses and hair-lightness directions: fitted like the others (ridge regression on w, conditional),
from the measures of editor.measures.looks, and added to an existing library beside its directions.

Rows were chosen by looking at strips of held-out faces (docs/direction_eyeglasses.jpg, direction_hair_lightness.jpg):
- eyeglasses on rows 0-9 (4² to 32²: frames are shape, not colour); at +range frames appear on faces that
  had none, and faces age ~5 y; below 0 a face without glasses has none to lose and turns younger instead
  (-10 y at -6 sigma), so the slider is for 0 and up.
- hair lightness on rows 4-22 (16² up): dark hair turns brown, light brown at +3 sigma; skin lightens with it
  (conditioning on skin luminance, measured under the eyes, changed little: hair and skin tone move together
  in this model's W). On rows 7-22 only, the hair barely changed.
Both hold age and gender (their normals projected out); eyeglasses holds smile too (glasses wearers
smile less in FFHQ: without it, +6 sigma raised P(happy) by 0.16, with it by 0.07).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from editor.compose import Direction
from editor.directions.library import replace_in_library
from editor.measures.looks import looks
from editor.measures.scorers import AgeGender
from editor.measures.smile import Smile
from editor.model import Generator
from tools.directions.fit import (FIT_SEED0, SCORE_BATCH, SCORE_SIZE, condition, cross_validated_normal, logit,
                                  render_for_scoring)

Progress = Callable[[str, int, int], None]
# name: (score key, rows [start, stop), slider reach in sigma, attributes held)
SPEC = {"eyeglasses": ("eyeglasses", (0, 10), 6.0, ("age", "gender", "smile")),
        "hair_lightness": ("hair_lightness", (4, 23), 3.0, ("age", "gender"))}


def sample_looks(gen: Generator, n: int, psi: float = 0.8, seed0: int = FIT_SEED0, batch: int = SCORE_BATCH,
                 progress: Progress | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(w [n, w_dim], scores) of n seeded faces: age, p_male, smile, eyeglasses, hair_lightness."""
    ws, scores = [], {}
    age_gender, smile = AgeGender(), Smile()
    for start in range(0, n, batch):
        seeds = range(seed0 + start, seed0 + min(start + batch, n))
        w = gen.mapping(torch.cat([gen.z_from_seed(s) for s in seeds]), psi=psi)
        images = render_for_scoring(gen, w)
        for k, v in {**age_gender(images), **looks(images), "smile": smile(images)}.items():
            scores.setdefault(k, []).append(v)
        ws.append(w.cpu().numpy())
        if progress:
            progress("rendering and measuring", min(start + batch, n), n)
    return np.concatenate(ws), {k: np.concatenate(v) for k, v in scores.items()}


def fit_looks(gen: Generator, w: np.ndarray, scores: dict[str, np.ndarray], psi: float,
              seeds: tuple[int, int]) -> tuple[dict[str, Direction], dict[str, dict]]:
    held = {"age": scores["age"], "gender": logit(scores["p_male"]), "smile": logit(scores["smile"])}
    normals = {k: cross_validated_normal(w, y)[0] for k, y in held.items()}
    directions, records = {}, {}
    for name, (key, (lo, hi), reach, hold) in SPEC.items():
        normal, ridge, cv = cross_validated_normal(w, scores[key])
        normal = condition(normal, [normals[h] for h in hold])
        scale = float((w @ normal).std() / psi)  # sigma of the model's own w (psi = 1) along it
        direction = Direction(name, normal, (lo, min(hi, gen.num_ws)), scale, reach)
        # The slider never goes past where faces break: the chosen reach, or less where measured so.
        broken_at = measured_reach(gen, direction, hi=max(reach, 5.0))
        directions[name] = replace(direction, range=min(reach, broken_at))
        records[name] = {"method": "ridge regression on standardised w, conditional (InterFaceGAN)",
                         "conditioned_on": list(hold), "samples": int(len(w)), "psi": psi,
                         "seeds": list(seeds), "render_size": SCORE_SIZE,
                         "score": f"editor.measures.looks {key}, checked against labels by eye "
                                  "(resources/labels/looks.json)",
                         "ridge": ridge, "cv_correlation": round(cv, 3),
                         "reach_measured": {"sigma": broken_at, "note": "faces intact up to here, both signs "
                                            "(editor.directions.reach; tried up to max(range, 5))"}}
    return directions, records


def measured_reach(gen: Generator, direction: Direction, hi: float) -> float:
    """Where faces break along it (editor.directions.reach), tried up to `hi` sigma on both sides."""
    from editor.directions.sefa import reach_job
    return float(reach_job(direction, hi=hi)(gen))


def add_to_library(folder: Path, gen: Generator, directions: dict[str, Direction], records: dict[str, dict]) -> Path:
    """Write the vectors and put their entries into the folder's manifest, replacing same-named ones and
    keeping every other direction as it is."""
    for name, d in sorted(directions.items()):
        manifest = replace_in_library(folder, gen, d, records[name])
    return manifest
