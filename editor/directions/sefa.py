"""SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs"): directions from the
style affines alone. The eigenvectors of A^T A, where A stacks the (column-normalised) affine weights of
the chosen w+ rows, are the directions in W that change those layers' styles the most. No sampling,
no training: well under a second.
"""

from __future__ import annotations

import numpy as np
import torch

from ..compose import Direction


def sefa_vectors(net, rows: range, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The top-k unit directions [k, w_dim] for the given w+ rows, and their eigenvalues."""
    per_row = net.style_affines()
    mats = [w.detach().float().cpu() for r in rows for w in per_row[r]]
    if not mats:
        raise ValueError(f"no style layers read rows {rows.start}-{rows.stop - 1}")
    a = torch.cat([m / m.norm(dim=0, keepdim=True).clamp_min(1e-8) for m in mats]).double()
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    order = torch.argsort(values, descending=True)[:k]
    return vectors[:, order].T.float().numpy(), values[order].float().numpy()


def sefa_directions(gen, rows: range, k: int = 5, samples: int = 2000, label: str = "") -> dict[str, Direction]:
    """SeFa components as directions on `rows`, each scaled to one sigma of the model's w along it
    (measured on mapped samples, so the sliders share units with the library's). Runs the mapping:
    call it from the render worker, not the GUI thread."""
    vectors, _ = sefa_vectors(gen.net, rows, k)
    w = gen.mapping(gen.z_from_seed(0, batch=samples)).cpu().numpy()
    out = {}
    for i, v in enumerate(vectors):
        name = f"sefa{label}:{i + 1}"
        out[name] = Direction(name, v, (rows.start, rows.stop), float((w @ v).std()), 5.0)
    return out


def reach_job(direction: Direction, seeds=None, hi: float | None = None):
    """job(gen) -> the direction's measured reach in σ (editor.directions.reach): a few faces rendered at
    the smallest preview size at growing amounts, both signs. Seconds of work: for a background thread."""
    from ..compose import wplus_for
    from ..edit import EditState
    from ..model import to_uint8
    from .reach import MAX_REACH, REACH_SEEDS, measure_reach

    def job(gen) -> float:
        size = min(gen.preview_sizes, default=None)
        base = [EditState.new(gen.fingerprint, gen.num_ws, seed_a=s, seed_b=s) for s in (seeds or REACH_SEEDS)]
        dirs = {direction.name: direction}

        @torch.no_grad()
        def render_at(amount: float) -> np.ndarray:
            ws = np.stack([wplus_for(s.with_direction(direction.name, amount), gen, dirs) for s in base])
            return to_uint8(gen.synthesis(torch.from_numpy(ws), size=size))

        return measure_reach(render_at, render_at(0.0), hi=MAX_REACH if hi is None else hi)
    return job
