"""`python -m editor project`: a face photo -> a latent (.npz) and the tuned weights beside it."""

from __future__ import annotations

import sys

from .. import cli_args as A
from ..progress import Bar


def add_parser(sub) -> None:
    j = sub.add_parser("project", help="turn a face photo into a latent (NVIDIA projected_w.npz layout) "
                       "and tuned weights beside it (NAME.delta.safetensors)")
    j.add_argument("photo", type=A.existing_file)
    j.add_argument("-o", "--output", required=True, type=A.output_file(".npz"), help="the .npz to write (key 'w', [1, num_ws, w_dim])")
    j.add_argument("--seconds", type=A.number(0.0, 86_400.0, open_low=True), default=90.0, help="time budget for the whole import (default 90)")
    j.add_argument("--steps", type=A.integer(1, 1_000_000), default=None, help="projection steps instead of the time budget")
    j.add_argument("--tune-steps", type=A.integer(0, 1_000_000), default=100, help="with --steps: tuning steps")
    j.add_argument("--detail-steps", type=A.integer(0, 1_000_000), default=60, help="with --steps: detail-map steps (0: none)")
    j.add_argument("--no-tune", dest="tune", action="store_false",
                   help="projection only: no tuned weights (a latent any copy of the model renders the same)")
    j.add_argument("--mode", choices=("w", "w+"), default="w+")
    j.add_argument("--face", type=A.integer(0, 1000), default=0, help="which face, largest first (default: the largest)")
    j.add_argument("--aligned", action="store_true", help="the photo is already FFHQ-aligned: skip detection")
    j.add_argument("--model", type=A.existing_file)
    j.add_argument("--device", type=A.device)
    j.set_defaults(func=run)


def run(args) -> int:
    import time

    from .. import io
    from ..model import load_generator
    from .align import PhotoError, aligned_faces, read_photo
    from .delta import latent_delta_path
    from .tune import import_face
    started = time.perf_counter()  # the budget counts reading and aligning the photo, as the app's does
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
    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    steps = (args.steps, args.tune_steps, args.detail_steps) if args.steps else None
    result = import_face(gen, face, seconds=args.seconds, mode=args.mode, tuning=args.tune, started=started,
                         steps=steps, progress=lambda stage, i, n, loss, _img: bar(stage, i, n))
    bar.close()
    io.save_latent_npz(args.output, result.wplus)
    beside = latent_delta_path(args.output)
    if result.delta is not None:
        result.delta.save(beside)
    elif beside.is_file():
        beside.unlink()  # an older run's tuned weights would no longer belong to this latent
    print(f"wrote {args.output}" + (f" and {beside} ({result.delta.nbytes // 1024} kB of tuned weights and detail maps)"
                                   if result.delta is not None else "")
          + f": {args.mode}, {' + '.join(map(str, result.steps))} steps in {result.seconds:.0f} s, "
          f"PSNR {result.pivot_psnr_db:.1f} -> {result.psnr_db:.1f} dB at 256²")
    return 0
