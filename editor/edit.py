"""The edit document: immutable state (two sources, per-row mix, psi, noise, directions).

Every change makes a new `EditState`, so undo is a list of states and a render request can hold one
without copying. editor.compose turns a state into the w+ that the generator renders. No Qt, no torch here.
"""

from __future__ import annotations

import base64
import hashlib
import math
import operator
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Mapping

import numpy as np

FORMAT_VERSION = 1
BREED_VERSION = 2  # written only by edits with extra parents (editor.breed), so older apps refuse them clearly
NOISE_MODES = ("const", "random", "off")  # the same names as editor.model.protocol.NOISE_MODES
# Legal ranges; finite values outside them are clamped (slider arithmetic can overshoot by rounding),
# while wrong types, NaN/inf and unknown names raise ValueError (those are bugs or bad files).
MIX_RANGE = (0.0, 1.0)
PSI_RANGE = (-1.0, 2.0)
NOISE_STRENGTH_RANGE = (0.0, 5.0)
AMOUNT_RANGE = (-20.0, 20.0)  # direction amounts, in sigma units
SHIFT_RANGE = (-0.5, 0.5)      # StyleGAN3 input translation, in image widths
ANGLE_RANGE = (-180.0, 180.0)  # StyleGAN3 input rotation, degrees
NO_TRANSFORM = (0.0, 0.0, 0.0)
PAINT_STYLES = ("none", "oil", "watercolour", "ink")  # editor.paint draws them
SEED_LIMIT = 2 ** 32          # NVIDIA's scripts draw z with RandomState(seed), which needs 0 <= seed < 2**32

RangeLike = range | tuple[int, int]


def _to_numpy(x: Any) -> np.ndarray:
    """numpy from numpy, lists or a torch tensor on any device (duck-typed: this module never imports torch)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _frozen_array(x: Any, what: str) -> np.ndarray:
    a = np.array(_to_numpy(x), dtype=np.float32, copy=True, order="C")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinity")
    a.setflags(write=False)
    return a


def _finite(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, not {type(x).__name__}")
    try:
        x = float(x)
    except OverflowError:  # an integer literal beyond float's range (1e400 written without the "e")
        raise ValueError(f"{what} must be a finite number, not an integer of about {int(x).bit_length() * 0.30103:.0f} digits") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, not {x}")
    return x


def _clamped(x: Any, bounds: tuple[float, float], what: str) -> float:
    return min(max(_finite(x, what), bounds[0]), bounds[1])


def _seed(x: Any, what: str) -> int:
    if isinstance(x, bool):
        raise ValueError(f"{what} must be an integer, not bool")
    try:
        n = operator.index(x)
    except TypeError:
        raise ValueError(f"{what} must be an integer, not {type(x).__name__}") from None
    if not 0 <= n < SEED_LIMIT:
        raise ValueError(f"{what} must be in [0, 2**32), not {n}")
    return n


def _as_range(rows: RangeLike | None, n: int | None, what: str) -> range:
    if rows is None:
        if n is None:
            raise ValueError(f"{what}: no rows given")
        return range(n)
    r = rows if isinstance(rows, range) else range(*rows)
    if r.step != 1:
        raise ValueError(f"{what} must be a contiguous range, got {r}")
    if n is not None and r and not (0 <= r.start and r.stop <= n):
        raise ValueError(f"{what} {r} is outside the {n} w+ rows")
    return r


# ------------------------------------------------------------------------------------------ sources
@dataclass(frozen=True, eq=False)
class Source:
    """One face: a seed of the model, or a latent from a file. w is float32, 2-D ([1|num_ws, w_dim]), read-only.

    delta: a latent made from a photo may carry the weight delta pivotal tuning found for it (an
    editor.photo.delta.WeightDelta, or only its digest string once read back from JSON, until the file
    beside the session is loaded). It is compared by digest; JSON holds the digest, never the weights."""

    kind: Literal["seed", "latent"]
    seed: int | None = None
    w: np.ndarray | None = field(default=None, repr=False)
    label: str = ""
    path: str | None = None
    delta: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind == "seed":
            object.__setattr__(self, "seed", _seed(self.seed, "seed"))
            if self.w is not None:
                raise ValueError("a seed source has no latent")
            key: tuple = ("seed", self.seed, self.label, self.path)
        elif self.kind == "latent":
            if self.w is None or self.seed is not None:
                raise ValueError("a latent source needs w and no seed")
            w = _frozen_array(self.w, "latent")
            if w.ndim == 1:
                w = w[None]  # a view of a read-only array stays read-only
            if w.ndim != 2:
                raise ValueError(f"latent must be [w_dim], [1, w_dim] or [num_ws, w_dim], got {w.shape}")
            object.__setattr__(self, "w", w)
            # Hash a digest, not the 47 kB of bytes, and only once: states are compared on every undo step.
            key = ("latent", w.shape, hashlib.blake2b(w.tobytes(), digest_size=16).digest(), self.label, self.path,
                   self.delta_digest)
        else:
            raise ValueError(f"source kind must be 'seed' or 'latent', not {self.kind!r}")
        if self.delta is not None and (self.kind != "latent" or not isinstance(self.delta_digest, str)):
            raise ValueError("only a latent source carries a weight delta (an object with a digest, or a digest)")
        if not isinstance(self.label, str) or not (self.path is None or isinstance(self.path, str)):
            raise ValueError("label must be a str and path a str or None")
        object.__setattr__(self, "_key", key)

    @classmethod
    def from_seed(cls, seed: int, label: str = "") -> Source:
        return cls("seed", seed=seed, label=label)

    @classmethod
    def from_latent(cls, w: Any, label: str, path: str | None = None, delta: Any = None) -> Source:
        return cls("latent", w=w, label=label, path=None if path is None else str(path), delta=delta)

    @property
    def delta_digest(self) -> str | None:
        return self.delta if isinstance(self.delta, str) or self.delta is None else getattr(self.delta, "digest", None)

    @property
    def display_name(self) -> str:
        return self.label or (f"seed {self.seed}" if self.kind == "seed" else "latent")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Source):
            return NotImplemented
        # The digest decides; array_equal guards against the (theoretical) collision.
        return self._key == other._key and (self.kind == "seed" or np.array_equal(self.w, other.w))

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        if self.kind == "seed":
            return f"Source.from_seed({self.seed}{', ' + repr(self.label) if self.label else ''})"
        return f"Source.from_latent(<{self.w.shape}>, {self.label!r}, path={self.path!r})"

    def to_dict(self) -> dict:
        if self.kind == "seed":
            d: dict = {"kind": "seed", "seed": self.seed}
        else:
            # base64 of little-endian float32: exact, and ~4x smaller than a JSON list of floats.
            d = {"kind": "latent", "shape": list(self.w.shape), "dtype": "<f4",
                 "data": base64.b64encode(self.w.astype("<f4").tobytes()).decode("ascii"), "path": self.path}
            if self.delta is not None:
                d["delta"] = self.delta_digest
        if self.label:
            d["label"] = self.label
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "source") -> Source:
        if not isinstance(d, dict):
            raise ValueError(f"{where} must be an object, not {type(d).__name__}")
        label = d.get("label", "")
        if not isinstance(label, str):
            raise ValueError(f"{where}.label must be a string")
        kind = d.get("kind")
        if kind == "seed":
            if "seed" not in d:
                raise ValueError(f"{where} has no 'seed'")
            return cls.from_seed(_seed(d["seed"], f"{where}.seed"), label)
        if kind != "latent":
            raise ValueError(f"{where}.kind must be 'seed' or 'latent', not {kind!r}")
        shape, data, path = d.get("shape"), d.get("data"), d.get("path")
        if d.get("dtype", "<f4") != "<f4":
            raise ValueError(f"{where}.dtype must be '<f4', not {d.get('dtype')!r}")
        if (not isinstance(shape, list) or not 1 <= len(shape) <= 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)):
            raise ValueError(f"{where}.shape must be a list of 1 or 2 positive integers, not {shape!r}")
        if not isinstance(data, str):
            raise ValueError(f"{where}.data must be a base64 string")
        if path is not None and not isinstance(path, str):
            raise ValueError(f"{where}.path must be a string or null")
        delta = d.get("delta")
        if delta is not None and not (isinstance(delta, str) and delta.isalnum() and len(delta) <= 64):
            raise ValueError(f"{where}.delta must be a weight delta's digest (letters and digits)")
        try:
            raw = base64.b64decode(data.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError) as e:
            raise ValueError(f"{where}.data is not valid base64: {e}") from None
        if len(raw) != 4 * math.prod(shape):
            raise ValueError(f"{where}.data holds {len(raw)} bytes, shape {shape} needs {4 * math.prod(shape)}")
        return cls.from_latent(np.frombuffer(raw, dtype="<f4").reshape(shape), label, path, delta)


# --------------------------------------------------------------------------------------- edit state
@dataclass(frozen=True)
class EditState:
    """Everything that decides the rendered face. len(mix) == the model's num_ws."""

    model_fingerprint: str
    source_a: Source
    source_b: Source
    mix: tuple[float, ...]
    psi: float = 0.7
    noise_mode: str = "const"
    noise_strength: float = 1.0
    noise_seed: int = 0
    directions: tuple[tuple[str, float], ...] = ()
    locks: tuple[str, ...] = ()  # directions held fixed while others move ("keep age")
    paint: str = "none"          # a painted-portrait style over the render (editor.paint)
    paint_strength: float = 1.0
    parents: tuple = ()          # extra parents beyond A and B (editor.breed.Parent), crossbreeding
    input_transform: tuple[float, float, float] = NO_TRANSFORM  # (tx, ty, angle°): StyleGAN3 moves/turns the face

    def __post_init__(self) -> None:
        if not isinstance(self.model_fingerprint, str):
            raise ValueError("model_fingerprint must be a str")
        for name in ("source_a", "source_b"):
            if not isinstance(getattr(self, name), Source):
                raise ValueError(f"{name} must be a Source, not {type(getattr(self, name)).__name__}")
        if isinstance(self.mix, (str, bytes)) or not isinstance(self.mix, Iterable):
            raise ValueError("mix must be a sequence of numbers, one per w+ row")
        mix = tuple(_clamped(m, MIX_RANGE, f"mix[{i}]") for i, m in enumerate(self.mix))
        if not mix:
            raise ValueError("mix needs one value per w+ row, got none")
        if self.paint not in PAINT_STYLES:
            raise ValueError(f"paint must be one of {PAINT_STYLES}, not {self.paint!r}")
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, not {self.noise_mode!r}")
        dirs = self.directions.items() if isinstance(self.directions, Mapping) else self.directions
        amounts: dict[str, float] = {}
        for item in dirs:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
                raise ValueError(f"directions must be (name, amount) pairs, got {item!r}")
            if item[0] in amounts:
                raise ValueError(f"direction {item[0]!r} is given twice")
            amounts[item[0]] = _clamped(item[1], AMOUNT_RANGE, f"direction {item[0]!r}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen: normalise in place once
        set_("mix", mix)
        set_("psi", _clamped(self.psi, PSI_RANGE, "psi"))
        set_("noise_strength", _clamped(self.noise_strength, NOISE_STRENGTH_RANGE, "noise_strength"))
        set_("noise_seed", _seed(self.noise_seed, "noise_seed"))
        set_("paint_strength", _clamped(self.paint_strength, (0.0, 1.0), "paint_strength"))
        # Canonical form (sorted, zeros dropped) so equal edits compare equal and undo can spot no-ops.
        set_("directions", tuple(sorted((k, v) for k, v in amounts.items() if v != 0.0)))
        if isinstance(self.locks, str) or not all(isinstance(x, str) for x in self.locks):
            raise ValueError("locks must be a sequence of direction names")
        set_("locks", tuple(sorted(set(self.locks))))
        t = self.input_transform
        if isinstance(t, (str, bytes)) or not isinstance(t, Iterable) or len(tuple(t)) != 3:
            raise ValueError("input_transform must be (tx, ty, angle_deg)")
        tx, ty, angle = tuple(t)
        set_("input_transform", (_clamped(tx, SHIFT_RANGE, "input_transform tx"),
                                 _clamped(ty, SHIFT_RANGE, "input_transform ty"),
                                 _clamped(angle, ANGLE_RANGE, "input_transform angle")))
        from .breed import check_parents  # editor.breed builds on this module
        set_("parents", check_parents(self.parents, len(mix)))

    @classmethod
    def new(cls, model_fingerprint: str, num_ws: int, seed_a: int = 0, seed_b: int = 1, **kw: Any) -> EditState:
        """A fresh edit: face A only (mix all 0), B ready to be mixed in."""
        return cls(model_fingerprint, Source.from_seed(seed_a), Source.from_seed(seed_b), (0.0,) * num_ws, **kw)

    @property
    def num_ws(self) -> int:
        return len(self.mix)

    # Edits. Each returns a new state; the dataclass machinery re-validates it.
    def with_source(self, which: Literal["a", "b"], source: Source) -> EditState:
        if which not in ("a", "b"):
            raise ValueError(f"which must be 'a' or 'b', not {which!r}")
        return replace(self, **{f"source_{which}": source})

    def with_group_mix(self, rows: RangeLike, value: float) -> EditState:
        r = _as_range(rows, self.num_ws, "group")
        v = _clamped(value, MIX_RANGE, "mix")
        return replace(self, mix=tuple(v if i in r else m for i, m in enumerate(self.mix)))

    def with_layer_mix(self, index: int, value: float) -> EditState:
        i = operator.index(index)
        if not 0 <= i < self.num_ws:
            raise IndexError(f"w+ row {i} is outside 0..{self.num_ws - 1}")
        mix = list(self.mix)
        mix[i] = value
        return replace(self, mix=tuple(mix))

    def with_psi(self, psi: float) -> EditState:
        return replace(self, psi=psi)

    def with_noise(self, mode: str | None = None, strength: float | None = None,
                   seed: int | None = None) -> EditState:
        return replace(self, noise_mode=self.noise_mode if mode is None else mode,
                       noise_strength=self.noise_strength if strength is None else strength,
                       noise_seed=self.noise_seed if seed is None else seed)

    def with_direction(self, name: str, amount: float) -> EditState:
        """Set one direction's amount (0 removes it)."""
        return replace(self, directions={**dict(self.directions), name: amount})

    def with_lock(self, name: str, on: bool) -> EditState:
        locks = set(self.locks) | {name} if on else set(self.locks) - {name}
        return replace(self, locks=tuple(locks))

    def with_paint(self, style: str | None = None, strength: float | None = None) -> EditState:
        return replace(self, paint=self.paint if style is None else style,
                       paint_strength=self.paint_strength if strength is None else strength)

    def with_input_transform(self, tx: float | None = None, ty: float | None = None,
                             angle_deg: float | None = None) -> EditState:
        """Move (image widths) / rotate (degrees) the face; only StyleGAN3 models act on it."""
        old = self.input_transform
        return replace(self, input_transform=tuple(o if v is None else v for o, v in zip(old, (tx, ty, angle_deg))))

    def without_directions(self) -> EditState:
        return replace(self, directions=())

    def swapped(self, keep_image: bool = False) -> EditState:
        """A <-> B. With keep_image the mix is mirrored (m -> 1 - m) so the rendered face stays the same."""
        mix = tuple(1.0 - m for m in self.mix) if keep_image else self.mix
        return replace(self, source_a=self.source_b, source_b=self.source_a, mix=mix)

    def group_value(self, rows: RangeLike) -> float:
        """Mean mix over rows: what a group slider shows when its rows were set one by one."""
        r = _as_range(rows, self.num_ws, "group")
        return sum(self.mix[i] for i in r) / len(r) if r else 0.0

    def direction_amount(self, name: str) -> float:
        return dict(self.directions).get(name, 0.0)

    # Persistence.
    def to_dict(self) -> dict:
        d = self._to_dict_v1()
        if self.parents:
            d.update(version=BREED_VERSION, parents=[p.to_dict() for p in self.parents])
        if self.input_transform != NO_TRANSFORM:  # written only when used: other edits' files stay as they were
            d["input_transform"] = list(self.input_transform)
        return d

    def _to_dict_v1(self) -> dict:
        return {"version": FORMAT_VERSION, "model_fingerprint": self.model_fingerprint,
                "source_a": self.source_a.to_dict(), "source_b": self.source_b.to_dict(),
                "mix": list(self.mix), "psi": self.psi, "noise_mode": self.noise_mode,
                "noise_strength": self.noise_strength, "noise_seed": self.noise_seed,
                "directions": dict(self.directions), "locks": list(self.locks),
                "paint": self.paint, "paint_strength": self.paint_strength}

    @classmethod
    def from_dict(cls, d: Any) -> EditState:
        """Inverse of to_dict. Any problem -> ValueError saying which field; unknown keys are ignored."""
        if not isinstance(d, dict):
            raise ValueError(f"an edit must be a JSON object, not {type(d).__name__}")
        version = d.get("version")
        if version not in (FORMAT_VERSION, BREED_VERSION) or isinstance(version, bool):
            raise ValueError(f"unsupported edit version {version!r} (this app reads versions "
                             f"{FORMAT_VERSION} and {BREED_VERSION})")
        missing = [k for k in ("model_fingerprint", "source_a", "source_b", "mix") if k not in d]
        if missing:
            raise ValueError(f"edit is missing {', '.join(missing)}")
        if not isinstance(d["mix"], list):
            raise ValueError("edit.mix must be a list of numbers")
        directions = d.get("directions", {})
        if not isinstance(directions, dict):
            raise ValueError("edit.directions must be an object of name -> amount")
        locks = d.get("locks", [])
        if not isinstance(locks, list):
            raise ValueError("edit.locks must be a list of direction names")
        transform = d.get("input_transform", list(NO_TRANSFORM))
        if not isinstance(transform, list):
            raise ValueError("edit.input_transform must be a list [tx, ty, angle_deg]")
        try:
            from .breed import parents_from_list
            parents = parents_from_list(d.get("parents", []), len(d["mix"]))
            return cls(model_fingerprint=d["model_fingerprint"],
                       source_a=Source.from_dict(d["source_a"], "source_a"),
                       source_b=Source.from_dict(d["source_b"], "source_b"),
                       mix=tuple(d["mix"]), psi=d.get("psi", 0.7), noise_mode=d.get("noise_mode", "const"),
                       noise_strength=d.get("noise_strength", 1.0), noise_seed=d.get("noise_seed", 0),
                       directions=tuple(directions.items()), locks=tuple(locks),
                       paint=d.get("paint", "none"), paint_strength=d.get("paint_strength", 1.0),
                       parents=parents, input_transform=tuple(transform))
        except ValueError as e:
            raise ValueError(f"bad edit: {e}") from None


# The w+ composition lives in editor.compose; these names stay importable from here, where the rest of
# the app and saved scripts have always found them.
from .compose import (Direction, _held, clear_seed_cache, compose_wplus, resolve_source,  # noqa: E402,F401
                      wplus_for)
