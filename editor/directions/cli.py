"""`python -m editor directions ...`: `export` ships with the editor; fit, fit-looks, calibrate, carry, evaluate,
hold and freckles are developer commands, run from a source checkout (tools/directions/cli.py)."""

from __future__ import annotations

import sys

from .. import cli_args as A
from ..devtools import command
from ..edit import AMOUNT_RANGE, PSI_RANGE
from .library import load_library


def add_parser(sub) -> None:
    p = sub.add_parser("directions", help="fit and evaluate semantic directions (from a source checkout), export one")
    dsub = p.add_subparsers(dest="directions_command", required=True)
    f = dsub.add_parser("fit", help="fit age, gender, freckle, smile and yaw directions and calibrate their locks")
    f.add_argument("--model", type=A.existing_file, help="model file (default: the default model)")
    f.add_argument("--n", type=A.integer(1, 1_000_000), default=400, help="latents to sample")
    f.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8, help="truncation of the sampled latents")
    f.add_argument("--out", type=A.output_folder, help="library folder (default: resources/directions/<model> for the default "
                                 "model, else your user library)")
    f.add_argument("--sheet", type=A.output_file(".png"), help="contact sheet of the 8 highest and lowest freckle scores (PNG)")
    f.add_argument("--cache", type=A.output_file(".npz"), help="keep the renders in this .npz and reuse them next time (same model, seeds, psi)")
    f.add_argument("--lock-n", type=A.integer(0, 1_000_000), default=32, help="faces to calibrate the locks on (0: no locks)")
    f.add_argument("--carry-n", type=A.integer(0, 1_000_000), default=384, help="faces to fit the age gender carries on (0: none)")
    f.add_argument("--device", type=A.device)
    f.set_defaults(func=command("directions.cli", "_fit"))
    g = dsub.add_parser("fit-looks", help="fit the eyeglasses and hair-lightness directions into a library")
    g.add_argument("--model", type=A.existing_file, help="model file (default: the default model)")
    g.add_argument("--n", type=A.integer(1, 1_000_000), default=400, help="latents to sample")
    g.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    g.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    g.add_argument("--device", type=A.device)
    g.set_defaults(func=command("directions.cli", "_fit_looks"))
    c = dsub.add_parser("calibrate", help="measure again every direction's lock tables (after adding directions)")
    c.add_argument("--model", type=A.existing_file)
    c.add_argument("--n", type=A.integer(1, 1_000_000), default=64, help="faces to calibrate on (the shipped tables: 64)")
    c.add_argument("--only", nargs="+", metavar="NAME", help="write just these directions' tables")
    c.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    c.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    c.add_argument("--device", type=A.device)
    c.set_defaults(func=command("directions.cli", "_calibrate"))
    y = dsub.add_parser("carry", help="bake a hold into a direction: the amount of another direction moved with "
                                      "it that zeroes the mean drift of that one's attribute (gender carries age)")
    y.add_argument("--moved", default="gender")
    y.add_argument("--held", default="age")
    y.add_argument("--n", type=A.integer(1, 1_000_000), default=384, help="fitting faces (the shipped carry: 384)")
    y.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    y.add_argument("--model", type=A.existing_file)
    y.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    y.add_argument("--device", type=A.device)
    y.set_defaults(func=command("directions.cli", "_carry"))
    e = dsub.add_parser("evaluate", help="measure every direction on held-out seeds")
    e.add_argument("--only", nargs="+", metavar="NAME", help="just these directions")
    e.add_argument("--model", type=A.existing_file)
    e.add_argument("--n", type=A.integer(1, 1_000_000), default=50, help="held-out faces")
    e.add_argument("--k", type=A.number(0.0, AMOUNT_RANGE[1], open_low=True), help="move each face from -k to +k sigma (default: each direction's range)")
    e.add_argument("--steps", type=A.integer(2, 1000), default=7)
    e.add_argument("--json", action="store_true")
    e.add_argument("--no-locks", action="store_true", help="skip measuring the locks")
    e.add_argument("--strips", type=A.output_folder, help="folder for one strip image per direction")
    e.add_argument("--save-quality", action="store_true", help="record the results in the library manifest")
    e.add_argument("--device", type=A.device)
    e.set_defaults(func=command("directions.cli", "_evaluate"))
    h = dsub.add_parser("hold", help="measure a lock's closed loop (as the app runs it) on held-out faces")
    h.add_argument("--model", type=A.existing_file)
    h.add_argument("--moved", default="gender")
    h.add_argument("--locked", default="age", choices=["age", "yaw", "smile", "gender"])
    h.add_argument("--n", type=A.integer(1, 1_000_000), default=20, help="held-out faces")
    h.add_argument("--device", type=A.device)
    h.set_defaults(func=command("directions.cli", "_hold"))
    r = dsub.add_parser("freckles", help="refit the freckle direction from faces labelled by eye, recolour its "
                                         "spots brown, and write it into the library (the other directions stay "
                                         "as they are)")
    r.add_argument("--labels", type=A.existing_file, help="labels file (default: resources/labels/freckles.json)")
    r.add_argument("--range", type=A.number(0.0, AMOUNT_RANGE[1], open_low=True), help="slider reach in sigma (default: 6)")
    r.add_argument("--model", type=A.existing_file)
    r.add_argument("--out", type=A.output_folder, help="library folder (default: as for fit)")
    r.add_argument("--n", type=A.integer(1, 1_000_000), default=20, help="held-out faces to measure age and P(male) on")
    r.add_argument("--sheet", type=A.output_file(".png"), help="write the held-out faces' cheeks at 0 and +range, 1:1, to this PNG")
    r.add_argument("--lock-n", type=A.integer(0, 1_000_000), default=64, help="faces to calibrate its locks on, as the shipped ones (0: none)")
    r.add_argument("--no-paint", action="store_true",
                   help="keep the labelled class-mean direction (red marks at 1:1) instead of recolouring its spots "
                        "brown and round (tools/directions/freckle_paint.py, ~15 min more on 2 CPU cores)")
    r.add_argument("--paint-steps", type=A.integer(1, 1_000_000), help="optimiser steps of the recolouring fit (default: 150)")
    r.add_argument("--no-layer", action="store_true",
                   help="the + side moves w+ as the - side does, instead of painting freckles on the render "
                        "(editor/freckle_layer.py)")
    r.add_argument("--device", type=A.device)
    r.set_defaults(func=command("directions.cli", "_freckles"))
    x = dsub.add_parser("export", help="write a direction as an InterFaceGAN boundary .npy")
    x.add_argument("name")
    x.add_argument("-o", "--output", required=True, type=A.output_file(".npy"), help="the .npy to write: [1, w_dim] or [num_ws, w_dim]")
    x.add_argument("--model", type=A.existing_file)
    x.set_defaults(func=_export)


def _export(args) -> int:
    """InterFaceGAN's layout: a unit normal [1, w_dim]; a direction limited to some rows becomes a
    per-row array [num_ws, w_dim] with zeros elsewhere, so importing it back acts on the same rows."""
    import numpy as np

    from ..files import atomic_write_npy
    from ..model import load_generator
    gen = load_generator(args.model, device="cpu")
    directions, _ = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    if args.name not in directions:
        print(f"error: no direction {args.name!r} for {gen.name}; there are: {', '.join(sorted(directions)) or 'none'}",
              file=sys.stderr)
        return 2
    d = directions[args.name]
    rows = d.rows(gen.num_ws)
    vec = np.asarray(d.vector, np.float32)
    if rows == range(gen.num_ws) and vec.ndim == 1:
        out = vec[None]
    else:
        out = np.zeros((gen.num_ws, gen.w_dim), np.float32)
        out[rows.start:rows.stop] = vec[rows.start:rows.stop] if vec.ndim == 2 else vec
    atomic_write_npy(args.output, out)
    print(f"wrote {args.output} {out.shape} (one sigma = {d.scale:.4f} in w units)")
    for k, per_sigma in d.carry.items():  # a boundary is one vector: what the editor moves with it is left out
        print(f"note: in this editor {args.name} also moves {per_sigma:+.4f} sigma of {k} per sigma; the file holds "
              f"{args.name} alone")
    return 0
