"""The direction library: shipped directions under resources/directions/<model>/ and the user's own.

A folder holds `manifest.json` ({"model_fingerprint", "directions": [{"name", "file", "layers": [start, stop],
"scale", "range", optional "holds": {locked name: {"amounts", "compensation"}}, ...}]}) and one `.npy` per
direction ([w_dim] or [num_ws, w_dim]). A folder made for another
model is refused by fingerprint: a direction only means something in the W space it was fitted in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..edit import Direction
from ..io import atomic_write_json, atomic_write_npy

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "directions"


class DirectionError(Exception):
    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


def user_directions_dir(model_name: str) -> Path:
    base = os.environ.get("XDG_DATA_HOME") or (Path.home() / ".local" / "share")
    return Path(base) / "face-editor" / "directions" / model_name


def _load_vector(path: Path, w_dim: int, num_ws: int) -> np.ndarray:
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DirectionError(path, f"not a readable .npy array ({exc})") from None
    v = np.asarray(v, dtype=np.float32)
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.shape not in ((w_dim,), (num_ws, w_dim)):
        raise DirectionError(path, f"shape {v.shape}; this model needs [{w_dim}], [1, {w_dim}] or [{num_ws}, {w_dim}]")
    if not np.isfinite(v).all():
        raise DirectionError(path, "contains NaN or infinity")
    return v


def load_folder(folder: Path, fingerprint: str, w_dim: int, num_ws: int) -> dict[str, Direction]:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
        entries = data["directions"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DirectionError(manifest, f"not a direction manifest ({exc})") from None
    if data.get("model_fingerprint") != fingerprint:
        raise DirectionError(manifest, f"made for model {data.get('model_fingerprint')!r}, not {fingerprint!r}")
    out = {}
    for e in entries:
        try:
            layers = tuple(e["layers"]) if e.get("layers") is not None else None
            holds = {k: (h["amounts"], h["compensation"]) for k, h in (e.get("holds") or {}).items()}
            out[e["name"]] = Direction(e["name"], _load_vector(folder / e["file"], w_dim, num_ws),
                                       layers, float(e.get("scale", 1.0)), float(e.get("range", 3.0)), holds)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DirectionError(manifest, f"bad entry {str(e)[:80]}: {str(exc)[:200]}") from None
    return out


def load_library(model_name: str, fingerprint: str, w_dim: int, num_ws: int) -> tuple[dict[str, Direction], list[str]]:
    """Shipped then user directions (the user's win on a name clash), and the problems met on the way.
    A bad folder is reported, not fatal: the editor works without directions."""
    found, problems = {}, []
    for folder in (RESOURCES / model_name, user_directions_dir(model_name)):
        try:
            found.update(load_folder(folder, fingerprint, w_dim, num_ws))
        except DirectionError as exc:
            problems.append(str(exc))
    return found, problems


def save_user_direction(model_name: str, fingerprint: str, direction: Direction, made_by: dict | str,
                        num_ws: int) -> Path:
    """Add (or replace) a direction in the user's library for this model; files written whole."""
    folder = user_directions_dir(model_name)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    data = {"model_fingerprint": fingerprint, "model": model_name, "directions": []}
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
        except ValueError:
            pass  # a damaged manifest is replaced: the .npy files it listed are still there
        if data.get("model_fingerprint") != fingerprint:
            raise DirectionError(manifest, f"belongs to model {data.get('model_fingerprint')!r}, not {fingerprint!r}")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in direction.name) or "direction"
    atomic_write_npy(folder / f"{safe}.npy", direction.vector)
    rows = direction.rows(num_ws)
    data["directions"] = [e for e in data.get("directions", []) if e.get("name") != direction.name]
    data["directions"].append({"name": direction.name, "file": f"{safe}.npy", "layers": [rows.start, rows.stop],
                               "scale": direction.scale, "range": direction.range, "made_by": made_by})
    atomic_write_json(manifest, data)
    return manifest


def import_interfacegan(path: str | Path, model_name: str, fingerprint: str, w_dim: int,
                        num_ws: int) -> Direction:
    """Copy an InterFaceGAN boundary (.npy unit normal, [1, w_dim] or [num_ws, w_dim]) into the user's
    library for this model. InterFaceGAN moves along the unit normal, so one step = 1.0 in w units."""
    path = Path(path)
    vector = _load_vector(path, w_dim, num_ws)
    name = path.stem.removeprefix("stylegan_ffhq_").removesuffix("_boundary").removesuffix("_w")
    direction = Direction(name, vector, None, 1.0, 3.0)
    save_user_direction(model_name, fingerprint, direction, f"imported InterFaceGAN boundary {path.name}", num_ws)
    return direction


def import_ganspace(path: str | Path, model_name: str, fingerprint: str, w_dim: int, num_ws: int,
                    count: int = 10) -> list[Direction]:
    """GANSpace's cached components (.npz with lat_comp [k, 1, w_dim], lat_stdev [k]): the first `count`
    principal components, each scaled by its own standard deviation, so one step is one sigma."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            comp = np.asarray(z["lat_comp"], np.float32).reshape(-1, w_dim)
            stdev = np.asarray(z["lat_stdev"], np.float32).reshape(-1)
    except (OSError, ValueError, KeyError) as exc:
        raise DirectionError(path, f"not a GANSpace component file with lat_comp and lat_stdev ({exc})") from None
    if comp.shape[0] != stdev.shape[0] or not np.isfinite(comp).all():
        raise DirectionError(path, f"lat_comp {comp.shape} and lat_stdev {stdev.shape} do not match")
    out = []
    for i in range(min(count, comp.shape[0])):
        d = Direction(f"{path.stem}_pc{i}", comp[i] / np.linalg.norm(comp[i]), None, float(stdev[i]), 3.0)
        save_user_direction(model_name, fingerprint, d, f"GANSpace component {i} of {path.name}", num_ws)
        out.append(d)
    return out
