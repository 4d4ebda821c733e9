"""From an edit to the w+ the generator renders: directions, resolving sources, composition.

`compose_wplus` is pure numpy and cheap (~23 x 512 floats), so the GUI thread may call it on every slider
move; `wplus_for` resolves the state's sources against a model first (seeds through its mapping, cached).
No Qt, no torch here. The state itself is editor.edit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from .values import RangeLike, as_range, finite, frozen_array, to_numpy

if TYPE_CHECKING:
    from .edit import EditState, Source


# --------------------------------------------------------------------------------------- directions
LAYERS = (None, "freckles")  # image layers a direction's + side may paint (editor.freckle_layer)

@dataclass(frozen=True, eq=False)
class Direction:
    """A semantic direction. vector: [w_dim] (same for every row) or [num_ws, w_dim] (row-specific,
    indexed by absolute w+ row). layers: the w+ rows it moves (None = all). scale: w units per sigma.
    range: the slider's reach, +-range sigma (measured per direction: how far it goes before breaking).
    holds: for a lockable attribute (another direction's name), how to hold it while this one moves: a
    calibrated table (amounts, compensation), the locked direction's amount in sigma that cancels the
    measured mean drift of its attribute at each amount of this one (tools.directions.locks).
    layer: "freckles" - the + side is painted on the rendered image (editor.freckle_layer), not moved in
    w+; the vector acts on the - side only.
    carry: sigma of another direction moved with each sigma of this one, always (tools.directions.carry):
    a hold baked into the direction where a lock's table is not enough - gender carries about -0.39 sigma of
    age, the slope that zeroes the mean age drift over its range on the fitting faces."""

    name: str
    vector: np.ndarray = field(repr=False)
    layers: RangeLike | None = None
    scale: float = 1.0
    range: float = 3.0
    holds: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict, repr=False)
    layer: str | None = None
    carry: Mapping[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        v = frozen_array(self.vector, f"direction {self.name!r}")
        if v.ndim == 2 and v.shape[0] == 1:
            v = v[0]
        if v.ndim not in (1, 2):
            raise ValueError(f"direction {self.name!r} must be [w_dim] or [num_ws, w_dim], got {v.shape}")
        object.__setattr__(self, "vector", v)
        object.__setattr__(self, "scale", finite(self.scale, f"direction {self.name!r} scale"))
        n = v.shape[0] if v.ndim == 2 else None
        if self.layers is not None or n is not None:
            object.__setattr__(self, "layers", as_range(self.layers, n, f"direction {self.name!r} layers"))
        holds = {}
        for k, (xs, ys) in dict(self.holds).items():
            xs, ys = tuple(finite(x, f"{self.name} hold {k}") for x in xs), tuple(finite(y, k) for y in ys)
            if len(xs) != len(ys) or len(xs) < 2 or any(b <= a for a, b in zip(xs, xs[1:])):
                raise ValueError(f"direction {self.name!r}: hold table for {k!r} needs rising amounts, one value each")
            holds[str(k)] = (xs, ys)
        object.__setattr__(self, "holds", holds)
        carry = {str(k): finite(v, f"direction {self.name!r} carry {k!r}") for k, v in dict(self.carry).items()}
        if self.name in carry:
            raise ValueError(f"direction {self.name!r} cannot carry itself")
        object.__setattr__(self, "carry", carry)
        if self.layer not in LAYERS:
            raise ValueError(f"direction {self.name!r}: unknown layer {str(self.layer)[:40]!r} (known: freckles)")

    def latent_amount(self, amount: float) -> float:
        """How far the slider at `amount` moves w+: all of it, or the - side only for a painted layer."""
        return min(amount, 0.0) if self.layer else amount

    def hold_amount(self, locked: str, amount: float) -> float:
        """Sigma of the locked direction that keeps its attribute where it was with this one at `amount`."""
        xs, ys = self.holds[locked]
        return float(np.interp(amount, xs, ys))

    def rows(self, num_ws: int) -> range:
        return as_range(self.layers, num_ws, f"direction {self.name!r} layers")


def compose_wplus(w_a: Any, w_b: Any, state: EditState, w_avg: Any,
                  directions: Mapping[str, Direction], parent_ws: Iterable[Any] = ()) -> np.ndarray:
    """The w+ [num_ws, w_dim] float32 to render: truncation of *seed* sources about w_avg, per-row lerp
    A->B, then directions.

    Truncation acts on seed faces only: a latent from a file or a photo is a face someone already chose
    (often saved from this editor, truncation and directions included), so it is rendered as it is, and
    *Save latent* followed by loading it with a neutral edit gives the same pixels. For two seeds this
    equals truncating the mix (both steps are affine). Directions come last so a 1-sigma step is the same
    size at any psi. Extra parents (`parent_ws`, one untruncated w+ per state.parents) are crossbred in
    after the A/B lerp (editor.breed).
    """
    a, b = to_numpy(w_a), to_numpy(w_b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"w_a and w_b must both be [num_ws, w_dim], got {a.shape} and {b.shape}")
    n, d = a.shape
    if len(state.mix) != n:
        raise ValueError(f"the edit has {len(state.mix)} mix values but the latents have {n} rows")
    avg = to_numpy(w_avg).reshape(-1)
    if avg.shape != (d,):
        raise ValueError(f"w_avg must be [{d}], got {avg.shape}")
    if state.psi != 1.0:  # skip at psi = 1 to keep the identity exact, as Generator.mapping does
        psi = np.float32(state.psi)
        a = avg + psi * (a - avg) if state.source_a.kind == "seed" else a
        b = avg + psi * (b - avg) if state.source_b.kind == "seed" else b
    m = np.asarray(state.mix, dtype=np.float32)[:, None]
    w = (1 - m) * a + m * b          # exact at m = 0 and m = 1 (a*1 + b*0), so the endpoints are the sources
    if state.parents:
        from .breed import crossbreed
        pws = [to_numpy(p) for p in parent_ws]
        if len(pws) != len(state.parents) or any(p.shape != a.shape for p in pws):
            raise ValueError(f"the edit has {len(state.parents)} extra parents; give one [{n}, {d}] w+ each")
        pws = [avg + np.float32(state.psi) * (p - avg) if par.source.kind == "seed" and state.psi != 1.0 else p
               for p, par in zip(pws, state.parents)]
        w = crossbreed(w, pws, state.parents)
    for name, amount in state.directions:
        if name not in directions:
            raise KeyError(name)
        direction = directions[name]
        amount = direction.latent_amount(amount)
        locked = [k for k in state.locks if k != name and k in directions]
        # A calibrated hold moves the locked direction against the measured drift of its attribute; a lock
        # without one (user directions) falls back to projecting the locked vector out.
        vec = held(direction.vector, [directions[k].vector for k in locked if k not in direction.holds])
        _add(w, direction, vec, amount, name)
        for k, per_sigma in direction.carry.items():
            if k not in directions:  # a subset of the library would silently move a different face
                raise KeyError(f"{name} carries {k}, which is not among the directions given")
            # A locked attribute without a table is held by projection above; carrying it would undo that.
            if k not in locked or k in direction.holds:
                _add(w, directions[k], directions[k].vector, per_sigma * amount, k)
        for k in locked:
            if k in direction.holds:
                _add(w, directions[k], directions[k].vector, direction.hold_amount(k, amount), k)
    return np.ascontiguousarray(w, dtype=np.float32)


def _add(w: np.ndarray, direction: Direction, vec: np.ndarray, amount: float, name: str) -> None:
    n, d = w.shape
    if vec.shape[-1] != d or (vec.ndim == 2 and vec.shape[0] != n):
        raise ValueError(f"direction {name!r} has shape {vec.shape}; this model needs [{d}] or [{n}, {d}]")
    rows = direction.rows(n)
    step = vec[rows.start:rows.stop] if vec.ndim == 2 else vec
    w[rows.start:rows.stop] += np.float32(amount * direction.scale) * step


def held(vec: np.ndarray, locked: list[np.ndarray]) -> np.ndarray:
    """`vec` with its components along the locked directions removed (InterFaceGAN's conditional
    manipulation), so moving it leaves those attributes where they are. Row-specific vectors ([num_ws,
    w_dim]) are projected row by row against the locked ones broadcast to rows."""
    if not locked:
        return vec
    out = vec.astype(np.float64)
    rows = out if out.ndim == 2 else out[None]
    for r in range(rows.shape[0]):
        basis: list[np.ndarray] = []
        for lk in locked:
            b = (lk[r] if lk.ndim == 2 else lk).astype(np.float64)
            for q in basis:
                b = b - (b @ q) * q
            norm = np.linalg.norm(b)
            if norm > 1e-8:
                basis.append(b / norm)
        for q in basis:
            rows[r] = rows[r] - (rows[r] @ q) * q
    return (rows if out.ndim == 2 else rows[0]).astype(np.float32)


# ---------------------------------------------------------------------------------- resolving sources
_SEED_CACHE: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
_SEED_CACHE_SIZE = 64
_SEED_LOCK = threading.Lock()  # the render worker and the GUI thread may both resolve


def resolve_source(source: Source, gen: Any) -> np.ndarray:
    """The w+ [num_ws, w_dim] float32 (read-only) of a source, untruncated (compose applies psi)."""
    n, d = gen.num_ws, gen.w_dim
    if source.kind == "latent":
        if source.w.shape[-1] != d or source.w.shape[0] not in (1, n):
            raise ValueError(f"latent {source.display_name!r} has shape {source.w.shape}; this model needs "
                             f"[{d}], [1, {d}] or [{n}, {d}]")
        out = np.array(np.broadcast_to(source.w, (n, d)), dtype=np.float32, order="C")
        out.setflags(write=False)
        return out
    key = (gen.fingerprint, source.seed)
    with _SEED_LOCK:
        if key in _SEED_CACHE:
            _SEED_CACHE.move_to_end(key)
            return _SEED_CACHE[key]
    # Map outside the lock: on a slow device the GUI thread must not wait for another thread's mapping.
    w = to_numpy(gen.mapping(gen.z_from_seed(source.seed), psi=1.0)).reshape(-1)
    out = np.array(np.broadcast_to(w, (n, d)), dtype=np.float32, order="C")
    out.setflags(write=False)
    with _SEED_LOCK:
        _SEED_CACHE[key] = out
        while len(_SEED_CACHE) > _SEED_CACHE_SIZE:
            _SEED_CACHE.popitem(last=False)
    return out


def clear_seed_cache() -> None:
    with _SEED_LOCK:
        _SEED_CACHE.clear()


def wplus_for(state: EditState, gen: Any, directions: Mapping[str, Direction] | None = None) -> np.ndarray:
    """resolve both sources + compose. Refuses a state made for another model (seeds name other faces)."""
    if state.model_fingerprint != gen.fingerprint:
        raise ValueError(f"this edit was made for model {state.model_fingerprint!r}, not {gen.fingerprint!r}")
    return compose_wplus(resolve_source(state.source_a, gen), resolve_source(state.source_b, gen), state,
                         gen.w_avg, directions or {}, [resolve_source(p.source, gen) for p in state.parents])
