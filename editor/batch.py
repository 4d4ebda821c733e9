"""`python -m editor batch`: a manifest of faces (seeds, or a folder of photos to project) x edits, rendered
to image files on a local process pool, or on Ray (`--ray auto|ADDRESS`).

Workers only render: each returns pixels, and this process writes every file (with its edit embedded, as
the app exports), so the outputs are the same bytes whichever backend ran, and a cluster needs no shared
disk for them. Every worker loads the model once, at the precision this process settled on (loading here
once decides it), so two backends cannot pick different precisions and differ in the last bit.

The manifest (its keys, limits and checks) is editor.batch_manifest's.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from .batch_manifest import EDIT_KEYS, FORMATS, check_for_model, edit_state, read_manifest, tasks  # noqa: F401
from . import cli_args as A
from .edit import EditState, Source

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
    from .pipeline import render_edit
    gen, directions = _WORKER["gen"], _WORKER["directions"]
    if task["kind"] == "seed":
        source = Source.from_seed(task["seed"])
    else:
        from .measures.align import aligned_faces
        from .photo.importer import DEFAULT, PRESETS, THREADS, Schedule
        from .photo.importer import import_photo
        face = aligned_faces(task["path"])[0][1]
        # The app's and `project`'s import, with the manifest's knobs (each falls back to the default preset).
        base = PRESETS[DEFAULT]
        knob = lambda key, default: default if task.get(key) is None else int(task[key])  # noqa: E731
        schedule = Schedule(knob("steps", base.pivot), knob("tune_steps", base.tuning), knob("detail_steps", base.detail))
        threads = THREADS if task.get("threads") is None else (int(task["threads"]) or None)  # 0: all cores
        imported = import_photo(gen, face, schedule, seconds=task.get("seconds"), threads=threads)
        source = Source.from_latent(imported.wplus, f"photo: {task['stem']}", delta=imported.delta)
    base = EditState.new(gen.fingerprint, gen.num_ws).with_source("a", source)
    out = []
    for name, spec in task["edits"].items():
        state = edit_state(base, spec, dict(gen.layer_groups), task["psi"])
        out.append((f"{task['stem']}_{name}", state.to_dict(), render_edit(gen, state, directions, task["size"])))
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
    try:  # what needs the model (direction names, its resolution), still before any work
        from .directions import load_library
        names = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)[0]
        check_for_model(manifest, names, gen.resolution, args.manifest)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be
        print(f"error: cannot make the output folder {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    results = _ray(todo, init_args, workers, args.ray) if args.ray else _pool(todo, init_args, workers)
    bar, written, problems = Bar(args.quiet), 0, []
    for i, (items, problem) in enumerate(results):
        if problem:
            problems.append(problem)
        for stem, edit, image in items:
            try:  # a folder in the way of one file is that file's problem, not a traceback
                io.export_image(out / f"{stem}{FORMATS[manifest['format']]}", image, EditState.from_dict(edit), name)
                written += 1
            except OSError as exc:
                problems.append(f"{stem}: cannot write: {exc}")
        bar("faces", i + 1, len(todo))
    bar.close()
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    print(f"wrote {written} images of {len(todo) - len(problems)} faces to {out} "
          f"({'Ray' if args.ray else f'{workers} processes'})")
    return 1 if problems else 0
