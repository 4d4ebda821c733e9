"""`python -m editor directions fit|evaluate|sefa`."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from .. import cli_args as A
from ..edit import AMOUNT_RANGE, PSI_RANGE
from .library import RESOURCES, load_library, user_directions_dir


def add_parser(sub) -> None:
    p = sub.add_parser("directions", help="fit and evaluate semantic directions")
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
    f.set_defaults(func=_fit)
    g = dsub.add_parser("fit-looks", help="fit the eyeglasses and hair-lightness directions into a library")
    g.add_argument("--model", type=A.existing_file, help="model file (default: the default model)")
    g.add_argument("--n", type=A.integer(1, 1_000_000), default=400, help="latents to sample")
    g.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    g.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    g.add_argument("--device", type=A.device)
    g.set_defaults(func=_fit_looks)
    c = dsub.add_parser("calibrate", help="measure again every direction's lock tables (after adding directions)")
    c.add_argument("--model", type=A.existing_file)
    c.add_argument("--n", type=A.integer(1, 1_000_000), default=64, help="faces to calibrate on (the shipped tables: 64)")
    c.add_argument("--only", nargs="+", metavar="NAME", help="write just these directions' tables")
    c.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    c.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    c.add_argument("--device", type=A.device)
    c.set_defaults(func=_calibrate)
    y = dsub.add_parser("carry", help="bake a hold into a direction: the amount of another direction moved with "
                                      "it that zeroes the mean drift of that one's attribute (gender carries age)")
    y.add_argument("--moved", default="gender")
    y.add_argument("--held", default="age")
    y.add_argument("--n", type=A.integer(1, 1_000_000), default=384, help="fitting faces (the shipped carry: 384)")
    y.add_argument("--psi", type=A.number(*PSI_RANGE), default=0.8)
    y.add_argument("--model", type=A.existing_file)
    y.add_argument("--out", type=A.output_folder, help="library folder holding a manifest (default: the model's own)")
    y.add_argument("--device", type=A.device)
    y.set_defaults(func=_carry)
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
    e.set_defaults(func=_evaluate)
    h = dsub.add_parser("hold", help="measure a lock's closed loop (as the app runs it) on held-out faces")
    h.add_argument("--model", type=A.existing_file)
    h.add_argument("--moved", default="gender")
    h.add_argument("--locked", default="age", choices=["age", "yaw", "smile", "gender"])
    h.add_argument("--n", type=A.integer(1, 1_000_000), default=20, help="held-out faces")
    h.add_argument("--device", type=A.device)
    h.set_defaults(func=_hold)
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
                        "brown and round (editor/directions/freckle_paint.py, ~15 min more on 2 CPU cores)")
    r.add_argument("--paint-steps", type=A.integer(1, 1_000_000), help="optimiser steps of the recolouring fit (default: 150)")
    r.add_argument("--no-layer", action="store_true",
                   help="the + side moves w+ as the - side does, instead of painting freckles on the render "
                        "(editor/freckle_layer.py)")
    r.add_argument("--device", type=A.device)
    r.set_defaults(func=_freckles)
    x = dsub.add_parser("export", help="write a direction as an InterFaceGAN boundary .npy")
    x.add_argument("name")
    x.add_argument("-o", "--output", required=True, type=A.output_file(".npy"), help="the .npy to write: [1, w_dim] or [num_ws, w_dim]")
    x.add_argument("--model", type=A.existing_file)
    x.set_defaults(func=_export)


def _open_library(args, bar):
    """(generator, library folder, its directions) for a subcommand with --model, --device and --out."""
    from ..model import load_generator
    from .library import load_folder
    gen = load_generator(args.model, device=args.device, progress=bar)
    folder = Path(args.out) if args.out else _default_folder(gen)
    return gen, folder, load_folder(folder, gen.fingerprint, gen.w_dim, gen.num_ws)


def _default_folder(gen) -> Path:
    from ..model.convert_default import DEFAULT_NAME
    return RESOURCES / gen.name if gen.name == DEFAULT_NAME else user_directions_dir(gen.name)


def _fit(args) -> int:
    from ..progress import Bar
    from ..model import load_generator
    from .fit import FIT_SEED0, contact_sheet, fit_directions, sample_and_score, save_library

    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    samples = sample_and_score(gen, args.n, psi=args.psi, progress=bar, keep_thumbs=bool(args.sheet),
                               cache=Path(args.cache) if args.cache else None)
    directions, records = fit_directions(gen, samples)
    _freckles_from_labels(gen, directions, records, bar)
    if args.carry_n > 0:  # gender carries age (editor.directions.carry); before the locks, which see it
        from .carry import fit_carry, with_carry
        per_sigma, records["gender"]["carry"] = fit_carry(gen, directions, "gender", "age", n=args.carry_n,
                                                          psi=args.psi, progress=bar)
        directions = with_carry(directions, "gender", "age", per_sigma)
    if args.lock_n > 0:
        from .locks import calibrate_holds
        directions = calibrate_holds(gen, directions, n=args.lock_n, psi=args.psi, progress=bar)
        for r in records.values():
            r["locks_calibrated_on"] = {"seeds": [FIT_SEED0, FIT_SEED0 + args.lock_n - 1], "psi": args.psi}
    bar.close()
    folder = Path(args.out) if args.out else _default_folder(gen)
    manifest = save_library(folder, gen, directions, records)
    if args.sheet:
        contact_sheet(samples, "freckles", Path(args.sheet))
        print(f"wrote {args.sheet}")
    _report_fits(gen, directions, records, manifest)
    return 0


def _report_fits(gen, directions: dict, records: dict, manifest: Path) -> None:
    for name, r in records.items():
        rows = directions[name].rows(gen.num_ws)
        print(f"{name:<15} scale {directions[name].scale:.3f}  rows {rows.start}-{rows.stop - 1}  held-out correlation "
              f"{r['cv_correlation']:+.3f} (ridge {r['ridge']:g})  holding {', '.join(r['conditioned_on'])}")
    print(f"wrote {manifest}")


def _fit_looks(args) -> int:
    from ..progress import Bar
    from ..model import load_generator
    from .fit import FIT_SEED0
    from .fit_looks import add_to_library, fit_looks, sample_looks

    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    w, scores = sample_looks(gen, args.n, psi=args.psi, progress=bar)
    directions, records = fit_looks(gen, w, scores, args.psi, (FIT_SEED0, FIT_SEED0 + args.n - 1))
    bar.close()
    manifest = add_to_library(Path(args.out) if args.out else _default_folder(gen), gen, directions, records)
    _report_fits(gen, directions, records, manifest)
    print("the lock tables of every direction need measuring again: python -m editor directions calibrate")
    return 0


def _calibrate(args) -> int:
    from ..progress import Bar
    from .fit import FIT_SEED0
    from .library import holds_json
    from .locks import calibrate_holds

    bar = Bar()
    gen, folder, library = _open_library(args, bar)
    if args.only:
        from .locks import LOCKABLE
        # The lockable directions are measured too: a table is read off their responses.
        library = {k: d for k, d in library.items() if k in args.only or k in LOCKABLE}
    directions = calibrate_holds(gen, library, n=args.n, psi=args.psi, progress=bar)
    if args.only:
        directions = {k: d for k, d in directions.items() if k in args.only}
    bar.close()
    def write(entry: dict) -> None:
        d = directions.get(entry["name"])
        if d is not None:
            entry["holds"] = holds_json(d.holds)
            entry.setdefault("made_by", {})["locks_calibrated_on"] = {"seeds": [FIT_SEED0, FIT_SEED0 + args.n - 1],
                                                                      "psi": args.psi}
    _edit_entries(folder, write)
    print(f"calibrated the locks of {', '.join(sorted(directions))} in {folder / 'manifest.json'}")
    return 0


def _carry(args) -> int:
    from ..progress import Bar
    from .carry import fit_carry
    from .locks import LOCKABLE

    bar = Bar()
    gen, folder, library = _open_library(args, bar)
    if args.moved not in library or args.held not in library or args.held not in LOCKABLE or args.moved == args.held:
        bar.close()
        print(f"need two different directions, the held one lockable ({', '.join(LOCKABLE)}); "
              f"this library has: {', '.join(sorted(library))}")
        return 1
    per_sigma, record = fit_carry(gen, library, args.moved, args.held, n=args.n, psi=args.psi, progress=bar)
    bar.close()
    def write(entry: dict) -> None:
        if entry["name"] == args.moved:
            entry["carry"] = {**(entry.get("carry") or {}), args.held: per_sigma}
            entry.setdefault("made_by", {})["carry"] = record
    _edit_entries(folder, write)
    print(f"{args.moved} now carries {per_sigma:+.4f} sigma of {args.held} per sigma: mean change of "
          f"{record['score']} over its range {record['mean_change']['free']:+.2f} -> {record['mean_change']['carried']:+.2f}, "
          f"per face {record['mean_abs_change']['free']:.2f} -> {record['mean_abs_change']['carried']:.2f} "
          f"({args.n} fitting faces)")
    print("the lock tables of every direction need measuring again: python -m editor directions calibrate")
    return 0


def _freckles_from_labels(gen, directions: dict, records: dict, bar) -> None:
    """For the model the shipped freckle labels were made on, the freckle direction comes from them (the
    score-fitted one shows no freckles at 1:1), recoloured brown (freckle_paint); other models keep the score fit."""
    from . import freckles as fr
    from .library import DirectionError
    try:
        if fr.read_labels(fr.LABELS)[3] != gen.fingerprint:
            return
    except DirectionError:
        return
    from .freckle_paint import painted_freckles
    labelled, records["freckles"] = fr.fit_freckles(gen, directions, progress=bar)
    directions["freckles"], painted = painted_freckles(gen, labelled, progress=bar)
    directions["freckles"] = replace(directions["freckles"], layer="freckles")  # + paints (freckle_layer)
    records["freckles"].update(painted)


def _evaluate(args) -> int:
    from ..progress import Bar
    from ..model import load_generator
    from .evaluate import evaluate, format_table, strips

    bar = Bar(quiet=args.json)
    gen = load_generator(args.model, device=args.device, progress=bar)
    directions, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    for p in problems:
        print(f"warning: {p}")
    if not directions:
        print("no directions for this model: run `python -m editor directions fit` first")
        return 1
    if args.only:
        unknown = [n for n in args.only if n not in directions]
        if unknown:
            print(f"no direction {', '.join(unknown)}; there are: {', '.join(sorted(directions))}")
            return 1
    report = evaluate(gen, directions, n=args.n, k=args.k, steps=args.steps, locks=not args.no_locks, progress=bar,
                      only=args.only)
    bar.close()
    if args.strips:
        for p in strips(gen, directions, Path(args.strips), k=args.k, steps=args.steps, only=args.only):
            report.setdefault("strips", []).append(str(p))
    if args.save_quality:
        _save_quality(_default_folder(gen), report)
    print(json.dumps(report) if args.json else format_table(report))
    return 0


def _hold(args) -> int:
    from ..progress import Bar
    from ..model import load_generator
    from .hold_loop import LOOPED, evaluate_loop

    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    directions, _problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    missing = [d for d in (args.moved, args.locked) if d not in directions]
    if missing:
        print(f"no direction {', '.join(missing)} for this model")
        return 1
    r = evaluate_loop(gen, directions, args.moved, args.locked, args.n, progress=bar)
    bar.close()
    spec = LOOPED[args.locked]
    print(f"{args.moved} over ±{directions[args.moved].range:g} σ with Keep {args.locked}, {r['faces']} held-out faces "
          f"(seeds {r['seeds'][0]}-{r['seeds'][1]}, ψ {r['psi']}): mean |Δ {spec.key}| per face free "
          f"{r['free']:.2f}{spec.unit}, table {r['table']:.2f}{spec.unit}, closed loop {r['loop']:.2f}{spec.unit} "
          f"({r['mean_steps']:.1f} correction renders a move)")
    return 0


def _freckles(args) -> int:
    from ..progress import Bar
    from . import freckles as fr
    from .library import replace_in_library

    bar = Bar()
    gen, folder, directions = _open_library(args, bar)
    direction, record = fr.fit_freckles(gen, directions, args.labels or fr.LABELS,
                                        args.range or fr.FRECKLE_RANGE, progress=bar)
    if not args.no_paint:
        from .freckle_paint import PAINT_STEPS, painted_freckles
        direction, painted = painted_freckles(gen, direction, steps=args.paint_steps or PAINT_STEPS, progress=bar)
        record.update(painted)
    if not args.no_layer:  # the + side painted on the render: this model's own spots are red dashes
        direction = replace(direction, layer="freckles")
    if args.lock_n > 0:
        from .fit import FIT_SEED0
        from .locks import calibrate_holds
        psi = 0.8
        others = {k: v for k, v in directions.items() if k != "freckles"}
        direction = calibrate_holds(gen, {**others, "freckles": direction}, n=args.lock_n, psi=psi, refine=(),
                                    progress=bar)["freckles"]
        record["locks_calibrated_on"] = {"seeds": [FIT_SEED0, FIT_SEED0 + args.lock_n - 1], "psi": psi}
    report, pairs = fr.held_out(gen, direction, n=args.n)
    bar.close()
    manifest = replace_in_library(folder, gen, direction, record, report)
    if args.sheet:
        seeds = range(report["seeds"][0], report["seeds"][1] + 1)
        print(f"wrote {fr.cheek_sheet(pairs, seeds, direction.range, args.sheet)}")
    rows = direction.rows(gen.num_ws)
    print(f"freckles: {record['positives']} freckled of {record['samples']} labelled faces, held-out AUC "
          f"{record['cv_auc']:.2f}, scale {direction.scale:.3f}, rows {rows.start}-{rows.stop - 1}, "
          f"range +-{direction.range:g}")
    change = report["mean_abs_change"]
    print(f"{args.n} held-out faces, 0 -> +{direction.range:g} sigma: mean |d age| {change['age']:.2f} y, "
          f"mean |dP(male)| {change['p_male']:.3f}; judge the freckles by eye on the sheet")
    print(f"wrote {manifest}")
    return 0


def _save_quality(folder: Path, report: dict) -> None:
    def write(entry: dict) -> None:
        r = report["directions"].get(entry["name"])
        if r:
            kept = {k: v for k, v in (entry.get("quality") or {}).items() if k == "held_out"}  # freckles' 0 -> +range
            entry["quality"] = {**kept, "held_out_seeds": report["seeds"], "amounts": r["amounts"],
                                "mean": r["mean"], "mean_abs_change": r["mean_abs_change"], "from_zero": r["from_zero"],
                                "locks": r.get("locks", {}), "targets": report["verdict"].get(entry["name"], {})}
    _edit_entries(folder, write)


def _edit_entries(folder: Path, write) -> None:
    """Rewrite the library's manifest with `write(entry)` applied to each direction's entry, atomically."""
    from ..io import atomic_write_json
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    for entry in data["directions"]:
        write(entry)
    atomic_write_json(manifest, data)


def _export(args) -> int:
    """InterFaceGAN's layout: a unit normal [1, w_dim]; a direction limited to some rows becomes a
    per-row array [num_ws, w_dim] with zeros elsewhere, so importing it back acts on the same rows."""
    import numpy as np

    from ..io import atomic_write_npy
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
