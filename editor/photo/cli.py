"""`python -m editor project`: a face photo -> a latent (.npz) and the tuned weights beside it."""

from __future__ import annotations

import sys

from .. import cli_args as A
from ..progress import Bar


def add_parser(sub) -> None:
    from .importer import DEFAULT, PRESETS, THREADS
    j = sub.add_parser("project", help="turn a face photo into a latent (NVIDIA projected_w.npz layout) "
                       "and tuned weights beside it (NAME.delta.safetensors)")
    j.add_argument("photo", type=A.existing_file)
    j.add_argument("-o", "--output", required=True, type=A.output_file(".npz"),
                   help="the .npz to write (key 'w', [1, num_ws, w_dim])")
    j.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT,
                   help="step schedule: " + ", ".join(f"{k} {'+'.join(map(str, v.steps))}" for k, v in PRESETS.items())
                   + f" (pivot + tuning + detail steps; default {DEFAULT}): the same face on any machine")
    j.add_argument("--steps", type=A.integer(1, 1_000_000), default=None, help="pivot steps (instead of the preset's)")
    j.add_argument("--tune-steps", type=A.integer(0, 1_000_000), default=None,
                   help="tuning steps (instead of the preset's)")
    j.add_argument("--detail-steps", type=A.integer(0, 1_000_000), default=None, help="detail-map steps (0: none)")
    j.add_argument("--seconds", type=A.number(0.0, 86_400.0, open_low=True), default=None,
                   help="a time budget for the whole import instead of the schedule: the result then depends on "
                   "the machine; a stage that cannot reach its minimum steps in it is skipped")
    j.add_argument("--threads", type=A.integer(0, 256), default=THREADS,
                   help=f"CPU threads the import runs on (default {THREADS}: the same result bit for bit however many cores "
                   "the machine has and however busy it is; 0: all cores, faster on a many-core CPU, not reproducible)")
    j.add_argument("--no-tune", dest="tune", action="store_false",
                   help="projection only: no tuned weights (a latent any copy of the model renders the same)")
    j.add_argument("--mode", choices=("w", "w+"), default="w+")
    j.add_argument("--face", type=A.integer(0, 1000), default=0, help="which face, largest first (default: the largest)")
    j.add_argument("--aligned", action="store_true", help="the photo is already FFHQ-aligned: skip detection")
    j.add_argument("--model", type=A.existing_file)
    j.add_argument("--device", type=A.device)
    j.set_defaults(func=run)


def schedule_from_args(args):
    """The preset, with any step count given on the command line in its place."""
    from .importer import PRESETS, Schedule
    base = PRESETS[args.preset]
    pick = lambda given, default: default if given is None else given  # noqa: E731
    return Schedule(pick(args.steps, base.pivot), pick(args.tune_steps, base.tuning),
                    pick(args.detail_steps, base.detail))


def run(args) -> int:
    import time

    from .. import io
    from ..model import load_generator
    from ..measures.align import PhotoError, aligned_faces, read_photo
    from .delta import latent_delta_path
    from .importer import describe_seconds, import_photo, measure_costs
    started = time.perf_counter()  # a budget counts reading and aligning the photo, as the app's does
    try:
        if args.aligned:
            face = read_photo(args.photo)
        else:
            faces = aligned_faces(args.photo)
            if args.face >= len(faces):
                print(f"error: {args.photo}: there are {len(faces)} faces; --face must be below that", file=sys.stderr)
                return 2
            face = faces[args.face][1]
    except PhotoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    schedule = schedule_from_args(args)
    if min(schedule.steps) < 0:
        print("error: step counts must be 0 or more", file=sys.stderr)
        return 2
    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    bar.close()
    threads = args.threads or None
    costs = measure_costs(gen, threads=threads)
    if args.seconds is None:
        print(f"{'+'.join(map(str, schedule.steps))} steps (pivot + tuning + detail): "
              f"{describe_seconds(costs.seconds(schedule, args.tune))} on this machine", file=sys.stderr)
    else:
        print(f"a budget of {args.seconds:.0f} s: steps planned from this machine's pace", file=sys.stderr)
    bar = Bar()
    result = import_photo(gen, face, schedule, seconds=args.seconds, mode=args.mode, tuning=args.tune,
                          started=started, costs=costs, threads=threads, progress=lambda stage, i, n, loss, _img: bar(stage, i, n))
    bar.close()
    beside = latent_delta_path(args.output)
    # The latent first, then its delta naming it: a run cut short in between leaves an older delta that
    # names another latent, which render and the app then refuse with a warning.
    io.save_latent_npz(args.output, result.wplus)
    if result.delta is not None:
        result.delta.save(beside, latent=result.wplus)
    elif beside.is_file():
        beside.unlink()  # an older run's tuned weights would no longer belong to this latent
    for stage in result.stages:
        print(f"  {stage.line()}")
    print(f"wrote {args.output}" + (f" and {beside} ({result.delta.nbytes // 1024} kB of tuned weights and detail maps)"
                                   if result.delta is not None else "")
          + f": {args.mode}, {' + '.join(map(str, result.steps))} steps in {result.seconds:.0f} s, "
          f"PSNR {result.pivot_psnr_db:.1f} -> {result.psnr_db:.1f} dB at 256²")
    return 0
