"""Evaluate directions on held-out seeds: move each face from -k to +k sigma and measure every scorer.

Targets (issue "Semantic directions"): age spans >= 40 years, monotonic, mean |dP(male)| <= 0.15;
gender moves P(male) from < 0.2 to > 0.8 with mean |d age| <= 10 years; freckles raise the freckle
score monotonically with mean |d age| <= 5 and |dP(male)| <= 0.1. "Mean |d|" is the mean over faces
of the change between -k and +k.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..edit import Direction
from ..model import Generator, to_uint8
from .fit import EVAL_SEED0, render_for_scoring, score_images
from .scorers import AgeGender

Progress = Callable[[str, int, int], None]


def _moved(w: torch.Tensor, d: Direction, amount: float, num_ws: int) -> torch.Tensor:
    ws = w[:, None, :].repeat(1, num_ws, 1)
    rows = d.rows(num_ws)
    vec = torch.as_tensor(np.array(d.vector)).to(ws)  # a copy: library vectors are read-only
    ws[:, rows.start:rows.stop] += amount * d.scale * (vec[rows.start:rows.stop] if vec.ndim == 2 else vec)
    return ws


def evaluate(gen: Generator, directions: dict[str, Direction], n: int = 50, k: float | None = None,
             steps: int = 7, psi: float = 0.8, seed0: int = EVAL_SEED0, batch: int = 10,
             progress: Progress | None = None) -> dict:
    """Each direction over its own slider reach (`Direction.range`) unless k is given."""
    age_gender = AgeGender()
    seeds = np.arange(seed0, seed0 + n)
    z = torch.cat([gen.z_from_seed(int(s)) for s in seeds])
    w = gen.mapping(z, psi=psi)
    report = {"seeds": [int(seeds[0]), int(seeds[-1])], "psi": psi, "directions": {}}
    total, done = len(directions) * steps * n, 0
    for name, d in directions.items():
        amounts = np.linspace(-(k or d.range), k or d.range, steps)
        per_step = {"age": [], "p_male": [], "freckles": []}  # each [steps][n]
        for a in amounts:
            vals = {key: [] for key in per_step}
            for start in range(0, n, batch):
                images = render_for_scoring(gen, _moved(w[start:start + batch], d, float(a), gen.num_ws))
                for key, v in score_images(images, age_gender).items():
                    vals[key].append(v)
                done += len(images)
                if progress:
                    progress(f"evaluating {name}", done, total)
            for key in per_step:
                per_step[key].append(np.concatenate(vals[key]))
        arr = {key: np.stack(v) for key, v in per_step.items()}  # [steps, n]
        means = {key: v.mean(1) for key, v in arr.items()}
        delta = {key: np.abs(v[-1] - v[0]) for key, v in arr.items()}
        report["directions"][name] = {
            "amounts": amounts.round(3).tolist(),
            "mean": {key: m.round(3).tolist() for key, m in means.items()},
            "mean_abs_change": {key: round(float(v.mean()), 3) for key, v in delta.items()},
            "span": {key: round(float(m[-1] - m[0]), 3) for key, m in means.items()},
            "monotonic": {key: bool(np.all(np.diff(m) > 0) or np.all(np.diff(m) < 0)) for key, m in means.items()},
        }
    report["verdict"] = verdict(report)
    return report


def verdict(report: dict) -> dict[str, dict[str, bool]]:
    """Each target of the issue, met or not."""
    out = {}
    d = report["directions"]
    if "age" in d:
        a = d["age"]
        out["age"] = {"span >= 40 y": a["span"]["age"] >= 40, "monotonic": a["monotonic"]["age"],
                      "mean |dP(male)| <= 0.15": a["mean_abs_change"]["p_male"] <= 0.15}
    if "gender" in d:
        g = d["gender"]
        out["gender"] = {"P(male) < 0.2 -> > 0.8": g["mean"]["p_male"][0] < 0.2 and g["mean"]["p_male"][-1] > 0.8,
                         "mean |d age| <= 10 y": g["mean_abs_change"]["age"] <= 10}
    if "freckles" in d:
        f = d["freckles"]
        out["freckles"] = {"score up, monotonic": f["monotonic"]["freckles"] and f["span"]["freckles"] > 0,
                           "mean |d age| <= 5 y": f["mean_abs_change"]["age"] <= 5,
                           "mean |dP(male)| <= 0.1": f["mean_abs_change"]["p_male"] <= 0.1}
    return out


def format_table(report: dict) -> str:
    lines = [f"held-out seeds {report['seeds'][0]}-{report['seeds'][1]}, psi {report['psi']}"]
    for name, r in report["directions"].items():
        lines.append(f"\n{name}  (amounts in sigma: {r['amounts']})")
        for key, unit in (("age", "years"), ("p_male", "P(male)"), ("freckles", "spots/1000 px")):
            seq = " ".join(f"{v:7.2f}" for v in r["mean"][key])
            lines.append(f"  {key:<9}{seq}   span {r['span'][key]:+.2f}  mean|d| {r['mean_abs_change'][key]:.2f}"
                         f"  {'monotonic' if r['monotonic'][key] else ''}  ({unit})")
        checks = report["verdict"].get(name, {})
        lines.append("  targets: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in checks.items()))
    return "\n".join(lines)


def strips(gen: Generator, directions: dict[str, Direction], folder: Path, seeds=(EVAL_SEED0, EVAL_SEED0 + 1),
           k: float | None = None, steps: int = 7, psi: float = 0.8, size: int = 256) -> list[Path]:
    """One image per direction: a row per face, -k .. +k left to right."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    z = torch.cat([gen.z_from_seed(int(s)) for s in seeds])
    w = gen.mapping(z, psi=psi)
    paths = []
    for name, d in directions.items():
        rows = []
        for i in range(len(seeds)):
            tiles = [to_uint8(gen.synthesis(_moved(w[i:i + 1], d, float(a), gen.num_ws), size=size))[0]
                     for a in np.linspace(-(k or d.range), k or d.range, steps)]
            rows.append(np.concatenate(tiles, 1))
        path = folder / f"direction_{name}.png"
        Image.fromarray(np.concatenate(rows, 0)).save(path)
        paths.append(path)
    return paths
