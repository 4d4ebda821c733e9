"""`python -m editor bench-photo --pair A B`: two tuned photos as A and B, mixed the way the app mixes them.

Each photo is imported (pivot + pivotal tuning, the app's budget), then the edit with A = photo 1 and B =
photo 2 is rendered through the app's own render path (editor.render: per-row w+ lerp, each layer with
(1 - mix_i) x delta_A + mix_i x delta_B) at mix 0, coarse / middle / fine at 0.5, all at 0.5 and mix 1.
Reported: each end against its photo's own single-source render (must be the same image) and against the
photo at 256², and for every render whether dlib still finds a face in it and how far (identity distance)
it is from each photo. A contact sheet of the renders is written for the eye, with the latents and deltas
(so the pair can be opened in the app: *Latent…* picks the delta up).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STEPS = (("mix 0", None, 0.0), ("coarse 0.5", "coarse", 0.5), ("middle 0.5", "middle", 0.5),
         ("fine 0.5", "fine", 0.5), ("all 0.5", None, 0.5), ("mix 1", None, 1.0))


@dataclass
class PairRow:
    name: str
    face_found: bool
    identity_a: float          # dlib distance to photo A (same person below 0.6)
    identity_b: float
    psnr_alone_db: float | None = None   # ends only: vs that photo's own single-source render
    psnr_photo_db: float | None = None   # ends only: vs the aligned photo at 256²


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR at 256² of two uint8 images (inf when identical), as bench-photo measures."""
    from editor.photo.project import similarity, to_target
    if np.array_equal(a, b):
        return float("inf")
    return similarity(to_target(a, "cpu"), to_target(b, "cpu"))[0]


def pair_states(gen, a, b):
    """(name, EditState) for each step of the mix, A and B the two photo sources."""
    from editor.edit import EditState
    base = EditState(gen.fingerprint, a, b, (0.0,) * gen.num_ws)
    out = []
    for name, group, value in STEPS:
        rows = gen.layer_groups[group] if group else range(gen.num_ws)
        out.append((name, base.with_group_mix(rows, value)))
    return out


def render_pair(gen, a, b) -> dict[str, np.ndarray]:
    """The app's render (full resolution, uint8) of every step of the mix, and each source alone."""
    from editor.render import RenderRequest, render
    from tools.photo.bench import render_tuned
    from editor.model import to_uint8
    images = {}
    for name, state in pair_states(gen, a, b):
        result = render(gen, RenderRequest(0, state), {})
        if result.error:
            raise RuntimeError(f"{name}: {result.error}")
        images[name] = result.images[0]
    for key, src in (("A alone", a), ("B alone", b)):
        images[key] = to_uint8(render_tuned(gen, np.asarray(src.w), src.delta))[0]
    return images


def measure_pair(images: dict[str, np.ndarray], photo_a: np.ndarray, photo_b: np.ndarray) -> list[PairRow]:
    from editor.measures.align import find_faces
    from editor.measures.identity import descriptor
    da, db = descriptor(photo_a), descriptor(photo_b)
    rows = []
    for name, _, _ in STEPS:
        img = images[name]
        d = descriptor(img)
        row = PairRow(name, bool(find_faces(img)), float(np.linalg.norm(d - da)), float(np.linalg.norm(d - db)))
        if name in ("mix 0", "mix 1"):
            alone, photo = (images["A alone"], photo_a) if name == "mix 0" else (images["B alone"], photo_b)
            row.psnr_alone_db, row.psnr_photo_db = _psnr(img, alone), _psnr(img, photo)
        rows.append(row)
    return rows


def contact_sheet(images: dict[str, np.ndarray], photo_a: np.ndarray, photo_b: np.ndarray, side: int = 256):
    """One row: photo A, then every step of the mix, then photo B, each `side` px."""
    from PIL import Image
    tiles = [photo_a] + [images[n] for n, _, _ in STEPS] + [photo_b]
    sheet = Image.new("RGB", (side * len(tiles), side))
    for i, t in enumerate(tiles):
        sheet.paste(Image.fromarray(t).resize((side, side), Image.LANCZOS), (i * side, 0))
    return sheet


def table(rows: list[PairRow]) -> str:
    fmt = lambda v: "" if v is None else ("identical" if v == float("inf") else f"{v:.1f}")  # noqa: E731
    lines = ["| mix | face found | identity to A | identity to B | PSNR dB vs own render alone | PSNR dB vs photo |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.name} | {'yes' if r.face_found else 'NO'} | {r.identity_a:.2f} | {r.identity_b:.2f} "
              f"| {fmt(r.psnr_alone_db)} | {fmt(r.psnr_photo_db)} |" for r in rows]
    return "\n".join(lines)


def run_pair(gen, path_a: Path, path_b: Path, out: Path, progress=None, **import_args) -> list[PairRow]:
    """Import both photos, render the mix, write the sheet, latents and deltas under `out`; the rows."""
    from editor import io
    from editor.edit import Source
    from editor.measures.align import aligned_faces
    from editor.photo.delta import latent_delta_path
    from editor.photo.importer import import_photo
    out.mkdir(parents=True, exist_ok=True)
    sources, photos = [], []
    for path in (path_a, path_b):
        started = time.perf_counter()
        photo = aligned_faces(path)[0][1]
        report = None if progress is None else (
            lambda stage, s, n, _loss, _img, label=Path(path).stem: progress(f"{label} {stage}", s, n))
        result = import_photo(gen, photo, started=started, progress=report, **import_args)
        print(f"{Path(path).name}: PSNR {result.pivot_psnr_db:.1f} -> {result.psnr_db:.1f} dB at 256², "
              f"{'+'.join(map(str, result.steps))} steps, {result.seconds:.0f} s")
        latent = out / f"{Path(path).stem}.npz"
        io.save_latent_npz(latent, result.wplus)
        if result.delta is not None:
            result.delta.save(latent_delta_path(latent), latent=result.wplus)
        sources.append(Source.from_latent(result.wplus, f"photo: {Path(path).name}", str(latent), result.delta))
        photos.append(photo)
    if hasattr(progress, "close"):
        progress.close()
    images = render_pair(gen, *sources)
    rows = measure_pair(images, *photos)
    contact_sheet(images, *photos).save(out / "pair_sheet.png")
    return rows


def run_pair_cli(args, progress) -> int:
    """`bench-photo --pair A B`."""
    import torch

    from editor.measures.align import PhotoError
    from editor.model import load_generator
    from tools.photo.bench import schedule_from
    gen = load_generator(args.model, device=args.device)
    schedule, budget = schedule_from(args)
    out = Path(args.out)
    try:
        rows = run_pair(gen, Path(args.pair[0]), Path(args.pair[1]), out, progress, mode=args.mode,
                        seconds=args.seconds, tuning=args.tune, schedule=schedule)
    except PhotoError as exc:
        print(exc)
        return 2
    print(f"{gen}, mode {args.mode}, {'pivot + tuning + detail maps' if args.tune else 'projection only'}, {budget} a face, "
          f"{torch.get_num_threads()} threads; A = {Path(args.pair[0]).name}, B = {Path(args.pair[1]).name}")
    print(table(rows))
    print(f"renders side by side (photo A, the mix, photo B): {out / 'pair_sheet.png'}")
    return 0
