"""Two `bench-photo --json` runs side by side: the same faces on a quiet and a loaded machine, or on two CPUs.

The import runs by steps, so a busy or older machine should give the same figures (float tolerance), only
later. This prints, per face, the differences in what the bench measures and the ratio of the times, and
exits 1 when a figure moved by more than the issue allows (PSNR and locality 0.5 dB, identity 0.05,
P(male) 0.05).

    python -m tools.photo.compare quiet.json loaded.json [QUIET_KEEP LOADED_KEEP]

With the two runs' --keep folders it also gives, per face, how far the latents are apart (the largest
|Δw| over the largest |w|) and whether both kept a delta.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LIMITS = {"psnr_db": 0.5, "pivot_db": 0.5, "locality_db": 0.5, "identity": 0.05, "p_male": 0.05}


def _rows(path: str) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(Path(path).read_text())}


def differences(a: dict, b: dict) -> dict[str, float]:
    """|a - b| of each figure both rows have (P(male): of the result)."""
    out = {}
    for key in ("psnr_db", "pivot_db", "locality_db", "identity"):
        if a.get(key) is not None and b.get(key) is not None:
            out[key] = abs(a[key] - b[key])
    out["p_male"] = abs(a["p_male"][1] - b["p_male"][1])
    return out


def compare(a_path: str, b_path: str) -> tuple[str, bool]:
    """(a markdown table, whether every figure is within LIMITS)."""
    a, b = _rows(a_path), _rows(b_path)
    names = [n for n in a if n in b]
    diffs = {n: differences(a[n], b[n]) for n in names}
    lines = [f"| face | PSNR dB: {Path(a_path).stem} → {Path(b_path).stem} | Δ pivot dB | Δ locality dB | Δ identity "
             "| Δ P(male) | same steps | same stages kept | time ratio |", "|---|---|---|---|---|---|---|---|---|"]
    ok = True
    for n in names:
        x, y, d = a[n], b[n], diffs[n]
        same_stages = [s.split(" (")[0] for s in x["stages"].split("; ")] == \
                      [s.split(" (")[0] for s in y["stages"].split("; ")]
        ok &= all(v <= LIMITS[k] for k, v in d.items()) and x["steps"] == y["steps"] and same_stages
        lines.append(f"| {n} | {x['psnr_db']:.2f} → {y['psnr_db']:.2f} | {d['pivot_db']:.2f} "
                     f"| {d.get('locality_db', float('nan')):.2f} | {d['identity']:.3f} | {d['p_male']:.3f} "
                     f"| {'✓' if x['steps'] == y['steps'] else '✗'} | {'✓' if same_stages else '✗'} "
                     f"| {y['seconds'] / x['seconds']:.2f}× |")
    worst = {k: max((d.get(k, 0.0) for d in diffs.values()), default=0.0) for k in LIMITS}
    lines.append(f"| **worst** ({len(names)} faces) | | {worst['pivot_db']:.2f} | {worst['locality_db']:.2f} "
                 f"| {worst['identity']:.3f} | {worst['p_male']:.3f} | | | |")
    missing = sorted(set(a) ^ set(b))
    if missing:
        lines.append(f"\nin one run only: {', '.join(missing)}")
    return "\n".join(lines) + f"\nPSNR worst Δ {worst['psnr_db']:.2f} dB", ok and not missing


def latents(a_dir: str, b_dir: str) -> str:
    """Per face kept by both runs: the latents' largest difference relative to their largest value."""
    import numpy as np

    from editor import io
    from editor.photo.delta import latent_delta_path
    lines = ["| face | latent: max \\|Δw\\| / max \\|w\\| | deltas |", "|---|---|---|"]
    for a in sorted(Path(a_dir).glob("*.npz")):
        b = Path(b_dir) / a.name
        if not b.is_file():
            continue
        wa, wb = (io.load_latent(str(x)) for x in (a, b))
        deltas = [latent_delta_path(x).is_file() for x in (a, b)]
        lines.append(f"| {a.stem} | {float(np.abs(wa - wb).max() / np.abs(wa).max()):.1e} "
                     f"| {'both' if all(deltas) else 'neither' if not any(deltas) else 'one only'} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 4):
        print("usage: python -m tools.photo.compare A.json B.json [A_KEEP B_KEEP]", file=sys.stderr)
        return 2
    text, ok = compare(*argv[:2])
    print(text)
    if len(argv) == 4:
        print(latents(*argv[2:]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
