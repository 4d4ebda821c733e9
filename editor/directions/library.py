"""The direction library: shipped directions under resources/directions/<model>/ and the user's own.

A folder holds `manifest.json` ({"model_fingerprint", "directions": [{"name", "file", "layers": [start, stop],
"scale", "range", optional "holds": {locked name: {"amounts", "compensation"}}, optional "carry": {other name:
sigma per sigma}, ...}]}) and one `.npy` per
direction ([w_dim] or [num_ws, w_dim]). A folder made for another
model is refused by fingerprint: a direction only means something in the W space it was fitted in.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path

import numpy as np

from ..compose import Direction
from ..config import data_dir, resources_dir
from ..edit import AMOUNT_RANGE
from ..errors import DirectionError
from ..files import atomic_write_json, atomic_write_npy
from ..values import MAX_LATENT_ABS
from ..safe_read import bounded, loads_json, read_capped, read_npy, read_npz

MAX_CARRY = 10.0  # sigma of the carried direction per sigma; the shipped gender carries -0.39 of age

RESOURCES = resources_dir() / "directions"  # in the wheel: editor/resources (pyproject maps resources/ there)
MAX_VECTOR_BYTES = 1 << 20     # a per-row direction [num_ws, w_dim] float64 is ~100 kB
MAX_COMPONENTS_BYTES = 64 << 20  # GANSpace's lat_comp for 512-d w: 80 kB per 40 components
MAX_MANIFEST_BYTES = 8 << 20


def user_directions_dir(model_name: str) -> Path:
    return data_dir() / "directions" / model_name


def _check_vector(path: Path, v: np.ndarray, what: str = "direction") -> np.ndarray:
    """Finite, not zero, and within the range a latent can take (a boundary of 3e38 renders black)."""
    with np.errstate(over="ignore", invalid="ignore"):
        v = np.asarray(v, dtype=np.float32)
        if not np.isfinite(v).all():
            raise DirectionError(path, f"the {what} contains NaN or infinity")
    top = float(np.abs(v).max()) if v.size else 0.0
    if top == 0.0:
        raise DirectionError(path, f"the {what} is all zeros: it points nowhere")
    if top > MAX_LATENT_ABS:
        raise DirectionError(path, f"the {what} reaches {top:.3g}; directions stay within ±{MAX_LATENT_ABS:g}")
    return v


def _load_vector(path: Path, w_dim: int, num_ws: int) -> np.ndarray:
    v = read_npy(path, DirectionError, MAX_VECTOR_BYTES, "direction")
    if v.ndim == 2 and v.shape[0] == 1:
        v = v[0]
    if v.shape not in ((w_dim,), (num_ws, w_dim)):
        raise DirectionError(path, f"shape {v.shape}; this model needs [{w_dim}], [1, {w_dim}] or [{num_ws}, {w_dim}]")
    return _check_vector(path, v)


def _read_manifest(manifest: Path) -> dict:
    data = loads_json(read_capped(manifest, MAX_MANIFEST_BYTES, DirectionError, "manifest"), manifest,
                      DirectionError, "manifest")
    if not isinstance(data, dict) or not isinstance(data.get("directions", []), list):
        raise DirectionError(manifest, "not a direction manifest (no 'directions' list)")
    return data


def load_folder(folder: Path, fingerprint: str, w_dim: int, num_ws: int) -> dict[str, Direction]:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return {}
    data = _read_manifest(manifest)
    entries = data.get("directions", [])
    if data.get("model_fingerprint") != fingerprint:
        raise DirectionError(manifest, f"made for model {bounded(repr(data.get('model_fingerprint')), 80)}, "
                                       f"not {fingerprint!r}")
    out = {}
    for e in entries:
        try:
            if not isinstance(e, dict) or Path(str(e["file"])).name != e["file"]:
                raise ValueError("'file' must be a file name in the same folder")
            layers = tuple(e["layers"]) if e.get("layers") is not None else None
            holds = {k: (h["amounts"], h["compensation"]) for k, h in (e.get("holds") or {}).items()}
            d = Direction(e["name"], _load_vector(folder / e["file"], w_dim, num_ws),
                          layers, float(e.get("scale", 1.0)), float(e.get("range", 3.0)), holds, e.get("layer"),
                          dict(e.get("carry") or {}))
            # A scale of 1e300 passes as finite and turns any slider move into a NaN render.
            if not (0 < abs(d.scale) <= MAX_LATENT_ABS and 0 < d.range <= AMOUNT_RANGE[1]):
                raise ValueError(f"scale {d.scale:.3g} or range {d.range:.3g} is out of bounds")
            if any(abs(v) > MAX_CARRY for v in d.carry.values()):
                raise ValueError(f"carry {d.carry} is out of bounds (at most {MAX_CARRY:g} sigma per sigma)")
            out[e["name"]] = d
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
    return save_user_directions(model_name, fingerprint, [(direction, made_by)], num_ws)


def save_user_directions(model_name: str, fingerprint: str, items: list[tuple[Direction, dict | str]],
                         num_ws: int) -> Path:
    """Add (or replace) several directions all or nothing. New vectors go to files no manifest entry
    names yet; the manifest, written atomically last, is the one commit point. A failure before it
    removes the new files, so the library is exactly as it was; after it, replaced files are deleted."""
    folder = user_directions_dir(model_name)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    data = {"model_fingerprint": fingerprint, "model": model_name, "directions": []}
    if manifest.is_file():
        try:
            data = _read_manifest(manifest)
        except DirectionError:
            pass  # a damaged manifest is replaced: the .npy files it listed are still there
        if data.get("model_fingerprint") != fingerprint:
            raise DirectionError(manifest, f"belongs to model {bounded(repr(data.get('model_fingerprint')), 80)}, "
                                           f"not {fingerprint!r}")
    entries = [e for e in data.get("directions", []) if isinstance(e, dict)]
    names = {d.name for d, _ in items}
    old_files = {str(e.get("file")) for e in entries if e.get("name") in names}
    kept = [e for e in entries if e.get("name") not in names]
    in_use = {str(e.get("file")) for e in kept}
    written: list[Path] = []
    try:
        for direction, made_by in items:
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in direction.name)[:80] or "direction"
            file = f"{safe}.npy"
            while (folder / file).exists() or file in in_use:
                file = f"{safe}-{secrets.token_hex(3)}.npy"
            atomic_write_npy(folder / file, direction.vector)
            written.append(folder / file)
            in_use.add(file)
            kept.append(manifest_entry(direction, num_ws, file, made_by))
        atomic_write_json(manifest, {**data, "directions": kept})
    except BaseException:
        for p in written:
            with contextlib.suppress(OSError):
                p.unlink()
        raise
    for f in old_files - in_use:
        if Path(f).name == f:
            with contextlib.suppress(OSError):
                (folder / f).unlink()
    return manifest


def import_interfacegan(path: str | Path, model_name: str, fingerprint: str, w_dim: int,
                        num_ws: int) -> Direction:
    """Copy an InterFaceGAN boundary (.npy unit normal, [1, w_dim] or [num_ws, w_dim]) into the user's
    library for this model. InterFaceGAN moves along the unit normal, so one step = 1.0 in w units."""
    path = Path(path)
    vector = _load_vector(path, w_dim, num_ws)
    name = path.stem.removeprefix("stylegan_ffhq_").removesuffix("_boundary").removesuffix("_w") or "direction"
    direction = Direction(name, vector, None, 1.0, 3.0)
    save_user_direction(model_name, fingerprint, direction, f"imported InterFaceGAN boundary {path.name}", num_ws)
    return direction


def import_ganspace(path: str | Path, model_name: str, fingerprint: str, w_dim: int, num_ws: int,
                    count: int = 10) -> list[Direction]:
    """GANSpace's cached components (.npz with lat_comp [k, 1, w_dim], lat_stdev [k]): the first `count`
    principal components, each scaled by its own standard deviation, so one step is one sigma."""
    path = Path(path)
    arrays = read_npz(path, ("lat_comp", "lat_stdev"), DirectionError, MAX_COMPONENTS_BYTES, "GANSpace file")
    if set(arrays) != {"lat_comp", "lat_stdev"}:
        raise DirectionError(path, "not a GANSpace component file (it needs arrays lat_comp and lat_stdev)")
    comp, stdev = arrays["lat_comp"], arrays["lat_stdev"].reshape(-1)
    if comp.ndim not in (2, 3) or comp.shape[-1] != w_dim or (comp.ndim == 3 and comp.shape[1] != 1):
        raise DirectionError(path, f"lat_comp has shape {comp.shape}; this model needs [k, 1, {w_dim}] or [k, {w_dim}]")
    comp = comp.reshape(-1, w_dim)
    if comp.shape[0] != stdev.shape[0] or not comp.shape[0]:
        raise DirectionError(path, f"lat_comp {comp.shape} and lat_stdev {stdev.shape} do not match")
    n = min(count, comp.shape[0])
    comp = _check_vector(path, comp[:n], "lat_comp")
    stdev = np.asarray(stdev[:n], np.float64)
    if not (np.isfinite(stdev).all() and (stdev > 0).all() and (stdev <= MAX_LATENT_ABS).all()):
        raise DirectionError(path, f"lat_stdev must be positive and at most {MAX_LATENT_ABS:g}")
    norms = np.linalg.norm(comp.astype(np.float64), axis=1)
    if not (norms > 1e-12).all():
        raise DirectionError(path, "a component of lat_comp is zero: it points nowhere")
    # Everything is checked before the first file is written; save_user_directions is all or nothing.
    out = [Direction(f"{path.stem}_pc{i}", (comp[i] / norms[i]).astype(np.float32), None, float(stdev[i]), 3.0)
           for i in range(n)]
    save_user_directions(model_name, fingerprint,
                         [(d, f"GANSpace component {i} of {path.name}") for i, d in enumerate(out)], num_ws)
    return out


def holds_json(holds) -> dict:
    """A direction's hold tables as the manifest stores them."""
    return {k: {"amounts": list(xs), "compensation": list(ys)} for k, (xs, ys) in holds.items()}


def manifest_entry(direction: Direction, num_ws: int, file: str, made_by: dict | str) -> dict:
    """A direction's manifest entry (what load_folder reads back), without its quality report."""
    rows = direction.rows(num_ws)
    entry = {"name": direction.name, "file": file, "layers": [rows.start, rows.stop], "scale": direction.scale,
             "range": direction.range, "made_by": made_by}
    if direction.holds:
        entry["holds"] = holds_json(direction.holds)
    if direction.layer:
        entry["layer"] = direction.layer
    if direction.carry:
        entry["carry"] = dict(direction.carry)
    return entry


def replace_in_library(folder: Path, gen, direction: Direction, record: dict,
                       held_out_report: dict | None = None) -> Path:
    """Write the direction's .npy and its manifest entry (same format as fit.save_library), leaving the
    other entries as they are. The manifest is written whole, last."""
    manifest = Path(folder) / "manifest.json"
    data = json.loads(manifest.read_text()) if manifest.is_file() else {
        "model_fingerprint": gen.fingerprint, "model": gen.name,
        "units": "sigma of the model's w distribution (psi = 1) along the direction", "directions": []}
    if data.get("model_fingerprint") != gen.fingerprint:
        raise DirectionError(manifest, f"belongs to model {data.get('model_fingerprint')!r}, not {gen.fingerprint!r}")
    entry = manifest_entry(direction, gen.num_ws, f"{direction.name}.npy", record)
    if held_out_report:
        entry["quality"] = {"held_out": held_out_report}
    entries = [e for e in data["directions"] if e.get("name") != direction.name]
    data["directions"] = sorted([*entries, entry], key=lambda e: e["name"])
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_write_npy(Path(folder) / entry["file"], direction.vector)
    atomic_write_json(manifest, data)
    return manifest
