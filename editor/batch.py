"""`python -m editor batch`: a manifest of faces (seeds, or a folder of photos to project) x edits, rendered
to image files on a local process pool, or on Ray (`--ray auto|ADDRESS`).

Workers only render: each returns pixels, and this process writes every file (with its edit embedded, as
the app exports), so the outputs are the same bytes whichever backend ran, and a cluster needs no shared
disk for them. Every worker loads the model once, at the precision this process settled on (loading here
once decides it), so two backends cannot pick different precisions and differ in the last bit.

Manifest (JSON):
    {"seeds": [1, 2, 3] or "0-99", "photos": "folder/", "psi": 0.7, "size": 512, "format": "png",
     "steps": 150, "edits": {"plain": {}, "older": {"directions": {"age": 3}, "locks": ["gender"]},
                             "oil": {"paint": "oil", "psi": 0.5}, "mixed": {"seed_b": 7, "mix": {"coarse": 1}}}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from . import cli_args as A
from .edit import EditState, Source

EDIT_KEYS = {"psi", "directions", "locks", "paint", "paint_strength", "noise", "noise_strength", "noise_seed",
             "seed_b", "mix"}
FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}


# ----------------------------------------------------------------------------------------- manifest
def _seeds(spec) -> list[int]:
    if isinstance(spec, str):
        lo, sep, hi = spec.partition("-")
        try:
            return list(range(int(lo), int(hi) + 1)) if sep else [int(x) for x in spec.split(",")]
        except ValueError:
            raise ValueError(f"seeds must be a list or 'FROM-TO', not {spec!r}") from None
    if not isinstance(spec, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in spec):
        raise ValueError("seeds must be a list of integers or 'FROM-TO'")
    return spec


def read_manifest(path: str | os.PathLike | None, seeds: str | None = None) -> dict:
    """The manifest, checked, with defaults filled in; any problem -> ValueError naming it."""
    m = {}
    if path is not None:
        try:
            m = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable JSON manifest ({exc})") from None
        if not isinstance(m, dict):
            raise ValueError(f"{path}: a manifest is a JSON object")
    if seeds is not None:
        m["seeds"] = seeds
    out = {"seeds": _seeds(m.get("seeds", [])), "photos": m.get("photos"), "psi": float(m.get("psi", 0.7)),
           "size": m.get("size"), "format": m.get("format", "png"), "steps": int(m.get("steps", 150)),
           "edits": m.get("edits", {"plain": {}})}
    if out["format"] not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {out['format']!r}")
    if not isinstance(out["edits"], dict) or not out["edits"]:
        raise ValueError("edits must be an object of name -> edit")
    for name, spec in out["edits"].items():
        if not isinstance(spec, dict) or set(spec) - EDIT_KEYS or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"edit {name!r}: a name of letters, digits, - and _, and an object of {sorted(EDIT_KEYS)}")
    if not out["seeds"] and not out["photos"]:
        raise ValueError("nothing to render: give seeds and/or a photos folder")
    return out


def edit_state(base: EditState, spec: dict, groups: dict, psi: float) -> EditState:
    """One manifest edit applied to a face's fresh state."""
    s = base.with_psi(spec.get("psi", psi))
    if "seed_b" in spec:
        s = s.with_source("b", Source.from_seed(spec["seed_b"]))
    for group, value in spec.get("mix", {}).items():
        if group not in groups:
            raise ValueError(f"mix group must be one of {', '.join(groups)}, not {group!r}")
        s = s.with_group_mix(groups[group], value)
    for name, amount in spec.get("directions", {}).items():
        s = s.with_direction(name, amount)
    for name in spec.get("locks", []):
        s = s.with_lock(name, True)
    s = s.with_noise(spec.get("noise"), spec.get("noise_strength"), spec.get("noise_seed"))
    return s.with_paint(spec.get("paint"), spec.get("paint_strength"))


def tasks(manifest: dict) -> list[dict]:
    """One task per face (all its edits), so a photo is projected once."""
    photos = []
    if manifest["photos"]:
        folder = Path(manifest["photos"])
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    common = {k: manifest[k] for k in ("psi", "size", "edits", "steps")}
    return ([{**common, "kind": "seed", "seed": s, "stem": f"seed{s:06d}"} for s in manifest["seeds"]]
            + [{**common, "kind": "photo", "path": str(p), "stem": p.stem} for p in photos])


# ----------------------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(model, device, dtype: str, threads: int) -> None:
    import torch
    from .directions import load_library
    from .model import load_generator
    torch.set_num_threads(threads)
    gen = load_generator(model, device=device, dtype=getattr(torch, dtype))
    _WORKER.update(gen=gen, directions=load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0])


def _run_task(task: dict) -> tuple[list[tuple[str, dict, np.ndarray]], str | None]:
    """([(file stem, edit as a dict, pixels) for each edit of the task's face], None), or ([], the
    problem): one bad photo is reported, the rest of the batch goes on."""
    try:
        return _render_face(task), None
    except Exception as exc:  # noqa: BLE001 - reported by the driver with the face's name
        return [], f"{task['stem']}: {type(exc).__name__}: {str(exc)[:300]}"


def _render_face(task: dict) -> list[tuple[str, dict, np.ndarray]]:
    from .render import RenderRequest, render
    gen, directions = _WORKER["gen"], _WORKER["directions"]
    if task["kind"] == "seed":
        source = Source.from_seed(task["seed"])
    else:
        from .photo.align import aligned_faces
        from .photo.project import project
        face = aligned_faces(task["path"])[0][1]
        source = Source.from_latent(project(gen, face, steps=task["steps"]).wplus, f"photo: {task['stem']}")
    base = EditState.new(gen.fingerprint, gen.num_ws).with_source("a", source)
    out = []
    for name, spec in task["edits"].items():
        state = edit_state(base, spec, dict(gen.layer_groups), task["psi"])
        result = render(gen, RenderRequest(0, state, task["size"]), directions)
        if result.error:
            raise RuntimeError(f"{task['stem']} {name}: {result.error}")
        out.append((f"{task['stem']}_{name}", state.to_dict(), result.images[0]))
    return out


class _RayWorker:
    def __init__(self, *args):
        _init_worker(*args)

    def run(self, task):
        return _run_task(task)


def _init_pool_worker(*args) -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the driver's to handle: no traceback per worker
    _init_worker(*args)


def _pool(todo: list[dict], init_args: tuple, workers: int):
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_pool_worker,
                               initargs=init_args)
    try:
        for future in as_completed([pool.submit(_run_task, t) for t in todo]):
            yield future.result()
    finally:  # on Ctrl+C too: faces not started are dropped, the pool is closed before the driver exits
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(todo: list[dict], init_args: tuple, workers: int, address: str):
    import ray
    from ray.util import ActorPool
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    # Workers import this package from where this process found it (a checkout, or site-packages).
    root = str(Path(__file__).resolve().parents[1])
    actor = ray.remote(_RayWorker).options(runtime_env={"env_vars": {"PYTHONPATH": root}})
    actors = [actor.remote(*init_args) for _ in range(workers)]
    yield from ActorPool(actors).map_unordered(lambda a, t: a.run.remote(t), todo)


# ----------------------------------------------------------------------------------------- command
def add_parser(sub) -> None:
    b = sub.add_parser("batch", help="render a manifest (seeds x edits, or photos to project) to files")
    b.add_argument("manifest", nargs="?", type=A.existing_file, help="JSON manifest (see editor/batch.py); optional with --seeds")
    b.add_argument("-o", "--output", required=True, type=A.output_folder, help="folder for the images")
    b.add_argument("--seeds", help="seeds, 'FROM-TO' or 'a,b,c' (instead of, or over, the manifest's)")
    b.add_argument("--workers", type=A.integer(1, 1024), help="processes or Ray actors (default: CPU cores / 2, at least 1)")
    b.add_argument("--ray", metavar="auto|ADDRESS", help="run on a Ray cluster instead of local processes")
    b.add_argument("--model", type=A.existing_file)
    b.add_argument("--device", type=A.device, default="cpu")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from . import io
    from .progress import Bar
    from .setup_models import load_for_command
    try:
        manifest = read_manifest(args.manifest, args.seeds)
        todo = tasks(manifest)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Settle the precision once, here; every worker then uses it.
    gen = load_for_command(args.model, args.device)
    workers = args.workers or max(1, (os.cpu_count() or 2) // 2)
    if not args.ray:  # a cluster's memory is its own; here the workers share this machine's
        from .model.render_memory import workers_that_fit
        workers, why = workers_that_fit(gen.net, gen.device, workers)
        if why:
            print(f"note: {why}", file=sys.stderr)
    threads = max(1, (os.cpu_count() or 1) // workers)
    init_args = (args.model, args.device, str(gen.dtype).removeprefix("torch."), threads)
    name = gen.name
    del gen  # the workers hold their own
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    results = _ray(todo, init_args, workers, args.ray) if args.ray else _pool(todo, init_args, workers)
    bar, written, problems = Bar(args.quiet), 0, []
    for i, (items, problem) in enumerate(results):
        if problem:
            problems.append(problem)
        for stem, edit, image in items:
            io.export_image(out / f"{stem}{FORMATS[manifest['format']]}", image, EditState.from_dict(edit), name)
            written += 1
        bar("faces", i + 1, len(todo))
    bar.close()
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    print(f"wrote {written} images of {len(todo) - len(problems)} faces to {out} "
          f"({'Ray' if args.ray else f'{workers} processes'})")
    return 1 if problems else 0
