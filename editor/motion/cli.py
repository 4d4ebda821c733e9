"""`python -m editor animate morph|sweep|walk|noise ...`: an animation straight to MP4, GIF or PNG frames."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import cli_args as A
from ..defaults import DEFAULT_PSI, NOISE_MODES
from ..edit import AMOUNT_RANGE, NOISE_STRENGTH_RANGE, PAINT_STYLES, PSI_RANGE, EditState, Source
from .timeline import EASINGS, MORPH_ORDERS, SLIDERS

DEFAULT_SIZE = 512


def add_parser(sub) -> None:
    a = sub.add_parser("animate", help="a morph, sweep, seed walk or noise loop to .mp4 / .gif / PNG frames",
                       description="Render an animation at full resolution, resized to --size. The output "
                                   "format follows the name: .mp4 (H.264), .gif, or no suffix (a folder of PNGs).")
    kinds = a.add_subparsers(dest="kind", required=True)
    common = A.Parser(add_help=False)
    common.add_argument("-o", "--output", required=True, type=A.animation_output, help="out.mp4, out.gif or a folder for PNG frames")
    common.add_argument("--frames", type=A.integer(1, 100_000), help="number of frames (default: --duration x --fps)")
    common.add_argument("--duration", type=A.number(0.0, 3600.0, open_low=True), default=2.0, help="seconds, when --frames is not given")
    common.add_argument("--fps", type=A.number(0.0, 240.0, open_low=True), default=24.0)
    common.add_argument("--size", type=A.size, help=f"frame size in pixels (default: {DEFAULT_SIZE} or the model's)")
    common.add_argument("--easing", choices=tuple(EASINGS), help="speed curve (default: ease-in-out; walk: linear)")
    common.add_argument("--edit", type=A.existing_file, help="start from this edit: an exported image or a session .json")
    common.add_argument("--psi", type=A.number(*PSI_RANGE), help=f"truncation psi, {PSI_RANGE[0]:g}..{PSI_RANGE[1]:g} (default: {DEFAULT_PSI}, or the --edit's)")
    common.add_argument("--noise", choices=NOISE_MODES, help="noise mode (default: const)")
    common.add_argument("--paint", choices=PAINT_STYLES, help="painted portrait style")
    common.add_argument("--paint-strength", type=A.number(0.0, 1.0), help="0 = photo-real, 1 = fully painted")
    common.add_argument("--crf", type=A.integer(0, 51), default=18, help="MP4 quality, 0 (lossless) .. 51 (worst)")
    common.add_argument("--model", type=A.existing_file, help="model file (default: the converted default model)")
    common.add_argument("--device", type=A.device, help="cpu, cuda, mps (default: best available)")
    common.add_argument("--quiet", action="store_true")

    m = kinds.add_parser("morph", parents=[common], help="face A into face B")
    m.add_argument("--seed-a", type=A.seed)
    m.add_argument("--seed-b", type=A.seed)
    m.add_argument("--latent-a", type=A.existing_file, help=".npz / .npy latent for A (instead of a seed)")
    m.add_argument("--latent-b", type=A.existing_file, help=".npz / .npy latent for B")
    m.add_argument("--order", choices=MORPH_ORDERS, default="together",
                   help="coarse-first: pose and shape, then features, then colour and texture")
    m.add_argument("--loop", action="store_true", help="A -> B -> A")

    s = kinds.add_parser("sweep", parents=[common], help="one direction or slider from one end to the other")
    s.add_argument("--seed", type=A.seed)
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--direction", help="a direction of the model's library (age, gender, smile, ...)")
    which.add_argument("--slider", choices=tuple(SLIDERS))
    s.add_argument("--from", dest="start", type=A.number(*AMOUNT_RANGE), help="start value (default: -reach, or the slider's low end)")
    s.add_argument("--to", dest="end", type=A.number(*AMOUNT_RANGE), help="end value (default: +reach, or the slider's high end)")
    s.add_argument("--loop", action="store_true", help="there and back")

    w = kinds.add_parser("walk", parents=[common], help="a smooth closed loop through seeds")
    w.add_argument("--seeds", required=True, type=A.seed_list, help="comma-separated keyframe seeds, e.g. 1,2,3,4")
    w.add_argument("--space", choices=("z", "w"), default="z",
                   help="z: great circles between the seeds' z; w: a smooth spline through their w")

    n = kinds.add_parser("noise", parents=[common], help="one face, its fine noise drifting round a loop")
    n.add_argument("--seed", type=A.seed)
    n.add_argument("--noise-seed", type=A.seed, help="the loop's first noise maps (default: the edit's)")
    n.add_argument("--noise-strength", type=A.number(*NOISE_STRENGTH_RANGE), help="noise strength (default: the edit's, 1.0)")
    a.set_defaults(func=run)


def _base(args, gen) -> EditState:
    from .. import io
    if args.edit:
        path = Path(args.edit)
        state, _ = io.load_session(path) if path.suffix.lower() == ".json" else io.read_edit_from_image(path)
        if state.model_fingerprint != gen.fingerprint:
            raise ValueError(f"{path}: made for model {state.model_fingerprint!r}, not {gen.fingerprint!r}")
    else:
        state = EditState.new(gen.fingerprint, gen.num_ws, seed_a=0, seed_b=1, psi=DEFAULT_PSI)
    if args.psi is not None:
        state = state.with_psi(args.psi)
    if args.noise is not None:
        state = state.with_noise(mode=args.noise)
    return state.with_paint(args.paint, args.paint_strength)


def _source(seed: int | None, latent: str | None):
    from .. import io
    if latent:
        return Source.from_latent(io.load_latent(latent), Path(latent).stem, latent)
    return None if seed is None else Source.from_seed(seed)


def plan(args, gen, directions: dict) -> list:
    """The frames the arguments describe (also what the tests check)."""
    from . import timeline
    from .timeline import frame_count
    frames = frame_count(args.frames, None if args.frames else args.duration, args.fps)
    base = _base(args, gen)
    groups = dict(gen.layer_groups)
    if args.kind == "morph":
        for which, src in (("a", _source(args.seed_a, args.latent_a)), ("b", _source(args.seed_b, args.latent_b))):
            base = base if src is None else base.with_source(which, src)
        return timeline.morph(base, groups, frames, args.easing or "ease-in-out", args.order, args.loop)
    if args.kind == "sweep":
        base = base if args.seed is None else base.with_source("a", Source.from_seed(args.seed))
        return timeline.sweep(base, args.direction or args.slider, directions, groups, frames, args.start,
                              args.end, args.easing or "ease-in-out", args.loop)
    if args.kind == "walk":
        seeds = args.seeds if isinstance(args.seeds, list) else [int(x) for x in str(args.seeds).split(",") if x.strip()]
        keys = [Source.from_seed(s) for s in seeds]
        return timeline.seed_walk(base, keys, gen, frames, args.space, args.easing or "linear")
    base = base if args.seed is None else base.with_source("a", Source.from_seed(args.seed))
    base = base if args.noise_seed is None else base.with_noise(seed=args.noise_seed)
    return timeline.noise_loop(base, frames, args.noise_strength)


def run(args) -> int:
    from ..progress import Bar
    from ..directions import load_library
    from ..io import FileFormatError
    from ..setup_models import load_for_command
    from .frames import render_animation
    from .writers import open_writer
    bar = Bar(args.quiet)
    gen = load_for_command(args.model, args.device, bar)
    bar.close()
    directions, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)
    size = args.size or min(DEFAULT_SIZE, gen.resolution)
    try:
        if not 1 <= size <= gen.resolution:
            raise ValueError(f"--size must be between 1 and the model's {gen.resolution}, not {size}")
        frames = plan(args, gen, directions)
        missing = sorted({n for f in frames[:1] for n, _ in f.state.directions} - set(directions))
        if missing:
            raise ValueError(f"the edit uses directions this model's library does not have: {', '.join(missing)}")
        writer = open_writer(args.output, size, args.fps, crf=args.crf)
    except (ValueError, FileFormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    render_animation(gen, frames, directions, size, writer, progress=lambda i, n: bar("frames", i, n))
    bar.close()
    print(f"wrote {args.output}: {len(frames)} frames, {size}² at {args.fps:g} fps "
          f"({len(frames) / args.fps:.1f} s), rendered in {time.perf_counter() - t0:.0f} s on {gen.device}")
    return 0
