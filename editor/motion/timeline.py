"""Animation plans: the edit of every frame, as plain data (no rendering here).

Time runs over [0, 1]. A one-way plan puts its first frame at t = 0 (the start edit) and its last at
t = 1 (the end edit). A loop (there and back, or a closed walk) spreads its frames over [0, 1) so the
last frame leads back into the first without showing the start twice at the seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..compose import Direction, resolve_source
from ..edit import EditState, Source

# Easing curves e: [0, 1] -> [0, 1] with e(0) = 0 and e(1) = 1 exactly (endpoints are the edits).
EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "ease-in-out": lambda t: 0.5 - 0.5 * math.cos(math.pi * t),   # no jolt at either end
    "ease-in": lambda t: 1.0 - math.cos(0.5 * math.pi * t),
    "ease-out": lambda t: math.sin(0.5 * math.pi * t),
    "smoothstep": lambda t: t * t * (3.0 - 2.0 * t),
}
MORPH_ORDERS = ("together", "coarse-first", "fine-first")
# Sliders a sweep can drive besides directions: name -> (default from, default to).
SLIDERS = {"psi": (0.0, 1.0), "mix": (0.0, 1.0), "coarse": (0.0, 1.0), "middle": (0.0, 1.0), "fine": (0.0, 1.0),
           "noise-strength": (0.0, 2.0), "paint-strength": (0.0, 1.0)}


@dataclass(frozen=True)
class Frame:
    """One frame: the edit to render, and for a noise loop where on its circle of noise maps it is
    (turns, 0 = the state's own noise maps; None = not looping noise)."""

    state: EditState
    noise_phase: float | None = None


def _ease(name: str) -> Callable[[float], float]:
    if name not in EASINGS:
        raise ValueError(f"easing must be one of {', '.join(EASINGS)}, not {name!r}")
    f = EASINGS[name]
    # Exact endpoints whatever the float arithmetic of the curve does.
    return lambda t: 0.0 if t <= 0.0 else 1.0 if t >= 1.0 else f(t)


def frame_count(frames: int | None = None, duration: float | None = None, fps: float = 24.0) -> int:
    """Frames from an explicit count, or from a duration at fps; at least 1."""
    if fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"fps must be a positive number, not {fps}")
    if frames is None:
        if duration is None:
            raise ValueError("give a number of frames or a duration")
        if duration <= 0 or not math.isfinite(duration):
            raise ValueError(f"duration must be positive, not {duration}")
        frames = round(duration * fps)
    if frames < 1:
        raise ValueError(f"an animation needs at least 1 frame, not {frames}")
    return int(frames)


def _times(n: int, loop: bool) -> list[float]:
    """Positions along the path: one-way 0..1 inclusive; a there-and-back loop 0 -> 1 -> 0, seam excluded."""
    if loop:
        return [1.0 - abs(1.0 - 2.0 * i / n) for i in range(n)]
    return [i / (n - 1) if n > 1 else 0.0 for i in range(n)]


# ------------------------------------------------------------------------------------------ morph
def morph(base: EditState, groups: Mapping[str, range], frames: int, easing: str = "ease-in-out",
          order: str = "together", loop: bool = False) -> list[Frame]:
    """Source A -> source B of `base` by the per-row mix: t = 0 is A alone (mix 0), t = 1 is B alone.
    `order` coarse-first moves pose and shape, then features, then colour and texture, each over a third
    of the time (fine-first the other way round); rows in no group follow the overall curve."""
    if order not in MORPH_ORDERS:
        raise ValueError(f"order must be one of {', '.join(MORPH_ORDERS)}, not {order!r}")
    ease = _ease(easing)
    stages = [groups.get(g, range(0)) for g in ("coarse", "middle", "fine")]
    if order == "fine-first":
        stages.reverse()
    out = []
    for t in _times(frames, loop):
        mix = [ease(t)] * base.num_ws
        if order != "together":
            for k, rows in enumerate(stages):
                v = ease(min(max(3.0 * t - k, 0.0), 1.0))
                for r in rows:
                    mix[r] = v
        out.append(Frame(replace(base, mix=tuple(mix))))
    return out


# ------------------------------------------------------------------------------------------ sweep
def slider_setter(target: str, directions: Mapping[str, Direction],
                  groups: Mapping[str, range]) -> tuple[Callable[[EditState, float], EditState], tuple[float, float]]:
    """(state, value) -> state for a direction name or one of SLIDERS, and its default (from, to)."""
    if target in directions:
        reach = directions[target].range
        return (lambda s, v: s.with_direction(target, v)), (-reach, reach)
    if target == "psi":
        return (lambda s, v: s.with_psi(v)), SLIDERS[target]
    if target == "mix":
        return (lambda s, v: s.with_group_mix(range(s.num_ws), v)), SLIDERS[target]
    if target in ("coarse", "middle", "fine"):
        rows = groups[target]
        return (lambda s, v: s.with_group_mix(rows, v)), SLIDERS[target]
    if target == "noise-strength":
        return (lambda s, v: s.with_noise(strength=v)), SLIDERS[target]
    if target == "paint-strength":
        return (lambda s, v: s.with_paint(strength=v)), SLIDERS[target]
    known = ", ".join([*sorted(directions), *SLIDERS]) or "none"
    raise ValueError(f"nothing called {target!r} to sweep (directions and sliders: {known})")


def sweep(base: EditState, target: str, directions: Mapping[str, Direction], groups: Mapping[str, range],
          frames: int, start: float | None = None, end: float | None = None, easing: str = "ease-in-out",
          loop: bool = False) -> list[Frame]:
    """A direction or slider from `start` to `end` (default: the direction's measured reach, -range to
    +range, or the slider's whole scale); with loop, there and back."""
    setter, (lo, hi) = slider_setter(target, directions, groups)
    lo, hi = lo if start is None else float(start), hi if end is None else float(end)
    ease = _ease(easing)
    return [Frame(setter(base, lo + (hi - lo) * ease(t) if t < 1.0 else hi)) for t in _times(frames, loop)]


# ------------------------------------------------------------------------------------------ seed walk
def _slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Along the great circle between two Gaussian z (their norms lerped): every point is as likely a z
    as the ends, so the faces on the way are as real as the keyframes (a straight line dips to the mean)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    omega = math.acos(float(np.clip(ua @ ub, -1.0, 1.0)))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    s = math.sin(omega)
    return (math.sin((1 - t) * omega) / s * ua + math.sin(t * omega) / s * ub) * ((1 - t) * na + t * nb)


def _catmull_rom(p0, p1, p2, p3, u: float):
    """The uniform Catmull-Rom segment from p1 (u = 0) to p2 (u = 1): C1-smooth through every keyframe."""
    return 0.5 * (2 * p1 + (p2 - p0) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u * u
                  + (3 * p1 - p0 - 3 * p2 + p3) * u ** 3)


def _truncated(source: Source, gen: Any, psi: float) -> np.ndarray:
    """A keyframe's w+ as the editor renders it: seeds truncated about w_avg, latents as they are."""
    w = resolve_source(source, gen)
    if source.kind != "seed" or psi == 1.0:
        return np.array(w, dtype=np.float32)
    avg = np.asarray(gen.w_avg.detach().float().cpu().numpy() if hasattr(gen.w_avg, "detach") else gen.w_avg,
                     dtype=np.float32).reshape(-1)
    return avg + np.float32(psi) * (w - avg)


def seed_walk(base: EditState, keys: Sequence[Source], gen: Any, frames: int, space: str = "z",
              easing: str = "linear") -> list[Frame]:
    """A closed loop through `keys` (seeds, or in w also latents) as source A of `base`; frame 0 is the
    first key exactly. In z: great-circle steps between the keys' z, mapped one frame at a time. In w:
    a closed Catmull-Rom spline through the keys' (truncated) w+, so it turns smoothly at each key.
    Frames between keys become latent sources; the keys themselves stay as they were given. The mix is
    left as it is: with B's fine styles mixed in, the walk changes who it is and keeps B's colouring."""
    if len(keys) < 2:
        raise ValueError("a seed walk needs at least two keyframes")
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', not {space!r}")
    if space == "z" and any(k.kind != "seed" for k in keys):
        raise ValueError("a walk in z needs seeds; walk latents in w")
    ease = _ease(easing)
    k = len(keys)
    if space == "z":
        zs = [gen.z_from_seed(s.seed).detach().cpu().double().numpy()[0] for s in keys]
    else:
        ws = [_truncated(s, gen, base.psi).astype(np.float64) for s in keys]
    avg = np.asarray(gen.w_avg.detach().float().cpu().numpy(), dtype=np.float32).reshape(-1)
    out = []
    for i in range(frames):
        pos = i * k / frames
        seg, u = int(pos), pos - int(pos)
        if u == 0.0:
            out.append(Frame(base.with_source("a", keys[seg])))
            continue
        u = ease(u)
        if space == "z":
            z = _slerp(zs[seg], zs[(seg + 1) % k], u)
            w = gen.mapping(z[None].astype(np.float32), psi=1.0).detach().float().cpu().numpy()[0]
            w = avg + np.float32(base.psi) * (w - avg) if base.psi != 1.0 else w
        else:
            w = _catmull_rom(ws[(seg - 1) % k], ws[seg], ws[(seg + 1) % k], ws[(seg + 2) % k], u)
        label = f"walk {keys[seg].display_name} → {keys[(seg + 1) % k].display_name} {u:.2f}"
        src = Source.from_latent(np.asarray(w, dtype=np.float32), label)
        out.append(Frame(base.with_source("a", src)))
    return out


# ------------------------------------------------------------------------------------------ noise loop
def noise_loop(base: EditState, frames: int, strength: float | None = None) -> list[Frame]:
    """The same face with its per-pixel noise (hair strands, skin pores) drifting round a closed loop:
    frame 0 is `base` with noise mode 'random' at its noise seed (editor.motion.frames draws the maps)."""
    state = base.with_noise(mode="random", strength=strength)
    return [Frame(state, i / frames) for i in range(frames)]
