"""The developer subcommands of `python -m editor directions`: fit, fit-looks, calibrate, carry, evaluate, hold,
freckles. Their arguments are declared in editor/directions/cli.py, which dispatches here from a source checkout."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from editor.directions.library import RESOURCES, load_library, user_directions_dir


def _open_library(args, bar):
    """(generator, library folder, its directions) for a subcommand with --model, --device and --out."""
    from editor.model import load_generator
    from editor.directions.library import load_folder
    gen = load_generator(args.model, device=args.device, progress=bar)
    folder = Path(args.out) if args.out else _default_folder(gen)
    return gen, folder, load_folder(folder, gen.fingerprint, gen.w_dim, gen.num_ws)


def _default_folder(gen) -> Path:
    from editor.model.convert_default import DEFAULT_NAME
    return RESOURCES / gen.name if gen.name == DEFAULT_NAME else user_directions_dir(gen.name)


def _fit(args) -> int:
    from editor.progress import Bar
    from editor.model import load_generator
    from tools.directions.fit import FIT_SEED0, contact_sheet, fit_directions, sample_and_score, save_library

    bar = Bar()
    gen = load_generator(args.model, device=args.device, progress=bar)
    samples = sample_and_score(gen, args.n, psi=args.psi, progress=bar, keep_thumbs=bool(args.sheet),
                               cache=Path(args.cache) if args.cache else None)
    directions, records = fit_directions(gen, samples)
    _freckles_from_labels(gen, directions, records, bar)
    if args.carry_n > 0:  # gender carries age (tools.directions.carry); before the locks, which see it
        from tools.directions.carry import fit_carry, with_carry
        per_sigma, records["gender"]["carry"] = fit_carry(gen, directions, "gender", "age", n=args.carry_n,
                                                          psi=args.psi, progress=bar)
        directions = with_carry(directions, "gender", "age", per_sigma)
    if args.lock_n > 0:
        from tools.directions.locks import calibrate_holds
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
    from editor.progress import Bar
    from editor.model import load_generator
    from tools.directions.fit import FIT_SEED0
    from tools.directions.fit_looks import add_to_library, fit_looks, sample_looks

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
    from editor.progress import Bar
    from tools.directions.fit import FIT_SEED0
    from editor.directions.library import holds_json
    from tools.directions.locks import calibrate_holds

    bar = Bar()
    gen, folder, library = _open_library(args, bar)
    if args.only:
        from tools.directions.locks import LOCKABLE
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
    from editor.progress import Bar
    from tools.directions.carry import fit_carry
    from tools.directions.locks import LOCKABLE

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
    from tools.directions import freckles as fr
    from editor.directions.library import DirectionError
    try:
        if fr.read_labels(fr.LABELS)[3] != gen.fingerprint:
            return
    except DirectionError:
        return
    from tools.directions.freckle_paint import painted_freckles
    labelled, records["freckles"] = fr.fit_freckles(gen, directions, progress=bar)
    directions["freckles"], painted = painted_freckles(gen, labelled, progress=bar)
    directions["freckles"] = replace(directions["freckles"], layer="freckles")  # + paints (freckle_layer)
    records["freckles"].update(painted)


def _evaluate(args) -> int:
    from editor.progress import Bar
    from editor.model import load_generator
    from tools.directions.evaluate import evaluate, format_table, strips

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
    from editor.progress import Bar
    from editor.model import load_generator
    from editor.directions.hold_loop import LOOPED
    from tools.directions.evaluate import evaluate_loop

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
    from editor.progress import Bar
    from tools.directions import freckles as fr
    from editor.directions.library import replace_in_library

    bar = Bar()
    gen, folder, directions = _open_library(args, bar)
    direction, record = fr.fit_freckles(gen, directions, args.labels or fr.LABELS,
                                        args.range or fr.FRECKLE_RANGE, progress=bar)
    if not args.no_paint:
        from tools.directions.freckle_paint import PAINT_STEPS, painted_freckles
        direction, painted = painted_freckles(gen, direction, steps=args.paint_steps or PAINT_STEPS, progress=bar)
        record.update(painted)
    if not args.no_layer:  # the + side painted on the render: this model's own spots are red dashes
        direction = replace(direction, layer="freckles")
    if args.lock_n > 0:
        from tools.directions.fit import FIT_SEED0
        from tools.directions.locks import calibrate_holds
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
    from editor.files import atomic_write_json
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    for entry in data["directions"]:
        write(entry)
    atomic_write_json(manifest, data)


if __name__ == "__main__":  # python -m tools.directions.cli fit ...: as `python -m editor directions fit ...`
    import sys

    from editor.cli import main
    sys.exit(main(["directions", *sys.argv[1:]]))
