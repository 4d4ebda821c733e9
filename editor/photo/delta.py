"""A photo's weight delta: what pivotal tuning changed in the synthesis network, small enough to store.

Each tuned tensor keeps a delta of its own: large 2-D-like weights (pointwise convs, the 4² conv) as a
low-rank product A @ B (rank RANK: ~1 MB for the whole default model instead of 36), small ones (depthwise
kernels, biases, the last layer) in full. Every synthesis layer reads exactly one w+ row, so a delta is
per row too; that is how two deltas combine while mixing: the layer of row i gets
(1 - mix_i) x delta_A + mix_i x delta_B (a seed source contributes no delta), so mix 0 is photo A's tuned
network, mix 1 photo B's, and a coarse-only mix takes the coarse layers' tuning from B.

A delta may also carry a photo's detail maps (editor.photo.detail): per-image inputs added where the
network adds its noise, for what no weight change reaches in the time. They belong to that photo's renders
only, so they are not part of the network's change that locality measures; while mixing they follow the
same per-row weights, and they fade as an edit takes the face away from the photo's latent (`detail_gate`).

A render gets deltas and maps as per-call inputs (editor.pipeline.photo_inputs, re-exported here): nothing
is written into the generator.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model.mobilestylegan import param_row
from ..pipeline.photo_inputs import applied, detail_gate, row_weights, source_deltas  # noqa: F401 - re-exported

RANK = 8
FULL_BELOW = 70_000  # elements: tensors smaller than this are tuned in full
MAX_RANK = 64        # a file's low-rank factors may have up to this rank (tuning makes RANK)
MAX_CHANGE = 4.0     # a tensor's change may reach this times its parameter's largest |value| (+0.1)
MAX_MAP = 100.0      # |value| of a detail map (fitted ones stay within a few units)
MAX_RADIUS = 1e4


def row_of(name: str, num_ws: int) -> int | None:
    """The w+ row a MobileStyleGAN synthesis parameter works for; None for the mapping network and const."""
    return param_row(name, num_ws)


def tunable(net) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters pivotal tuning changes: every synthesis conv weight and bias (affines, const and the
    mapping network stay, so w still means what it meant)."""
    if type(net).__name__ != "MobileStyleGAN":
        raise ValueError(f"pivotal tuning supports the MobileStyleGAN architecture, not {type(net).__name__}")
    return [(n, p) for n, p in net.named_parameters()
            if row_of(n, net.num_ws) is not None and ".affine." not in n]


class WeightDelta:
    """factors: {param name: (full,) or (A [out, r], B [r, in])}; all float32 CPU tensors.
    maps: {layer: [1, 1, size, size]} detail maps (layer e.g. "blocks.5.conv1"), each at its layer's size or
    at the coarser size it was fitted at (map_at upsamples it; 1.5 MB less a file for the default model),
    with `radius`: the latent distance at which they have faded to 1/e (see detail_gate)."""

    def __init__(self, factors: dict[str, tuple[torch.Tensor, ...]], shapes: dict[str, tuple[int, ...]],
                 maps: dict[str, torch.Tensor] | None = None, radius: float = 0.0):
        self.factors = {k: tuple(t.detach().float().cpu().contiguous() for t in v) for k, v in factors.items()}
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.maps = {k: v.detach().float().cpu().contiguous() for k, v in (maps or {}).items()}
        self.radius = float(radius) if self.maps else 0.0
        self._at_size: dict[tuple, torch.Tensor] = {}  # map_for's upsampled maps
        h = hashlib.blake2b(digest_size=12)
        for k in sorted(self.factors):
            h.update(k.encode())
            for t in self.factors[k]:
                h.update(t.numpy().tobytes())
        if self.maps:  # a delta without maps keeps the digest it had before maps existed
            h.update(np.float32(self.radius).tobytes())
            for k in sorted(self.maps):
                h.update(f"{k}::detail".encode())
                h.update(self.maps[k].numpy().tobytes())
        self.digest = h.hexdigest()
        self.latent: str | None = None  # the digest of the latent it was tuned at, once saved or loaded

    def map_for(self, layer: str, size: tuple[int, int]) -> torch.Tensor:
        """`layer`'s map at the layer's size (map_at), upsampled once: renders ask for it every frame."""
        key = (layer, tuple(size))
        if key not in self._at_size:
            self._at_size[key] = map_at(self.maps[layer], size)
        return self._at_size[key]

    def with_maps(self, maps: dict[str, torch.Tensor], radius: float) -> WeightDelta:
        return WeightDelta(self.factors, self.shapes, maps, radius)

    @classmethod
    def zeros_like(cls, net, rank: int = RANK, seed: int = 0, full_below: int = FULL_BELOW) -> WeightDelta:
        """A starting point that changes nothing: B random, A zero (LoRA's initialisation)."""
        g = torch.Generator().manual_seed(seed)
        factors, shapes = {}, {}
        for name, p in tunable(net):
            shapes[name] = tuple(p.shape)
            if p.numel() < full_below:
                factors[name] = (torch.zeros(p.shape),)
            else:
                out, fan_in = p.shape[0], p.numel() // p.shape[0]
                factors[name] = (torch.zeros(out, rank), torch.randn(rank, fan_in, generator=g) / fan_in ** 0.5)
        return cls(factors, shapes)

    def dense(self, name: str) -> torch.Tensor:
        f = self.factors[name]
        return (f[0] if len(f) == 1 else f[0] @ f[1]).reshape(self.shapes[name])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * 4 for f in self.factors.values() for t in f) + \
            sum(t.numel() * 4 for t in self.maps.values())

    def __eq__(self, other) -> bool:
        return isinstance(other, WeightDelta) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    # ------------------------------------------------------------------------------- persistence
    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, f in self.factors.items():
            if len(f) == 1:
                out[f"{name}::full"] = f[0]
            else:
                out[f"{name}::a"], out[f"{name}::b"] = f
        for layer, m in self.maps.items():
            out[f"{layer}::detail"] = m
        if self.maps:
            out["detail::radius"] = torch.tensor([self.radius], dtype=torch.float32)
        return out

    def to_bytes(self, latent=None) -> bytes:
        """The safetensors file; `latent` (the w+ it was tuned at, or its digest) is named in its metadata."""
        from safetensors.torch import save
        meta = {"kind": "face-editor weight delta", "version": "1"}
        named = latent if isinstance(latent, str) or latent is None else latent_digest(latent)
        if named or self.latent:
            meta["latent"] = named or self.latent
        return save(self.tensors(), metadata=meta)

    def save(self, path: str | Path, latent=None) -> None:
        from ..files import atomic_write_bytes
        atomic_write_bytes(path, self.to_bytes(latent))

    @classmethod
    def load(cls, path: str | Path, net, latent=None) -> WeightDelta:
        """Read a delta (safetensors: no code runs) and check it against `net`; ValueError naming the file.
        Every shape is checked from the file's header before a tensor is read or multiplied. With `latent`
        (a w+ or its digest), a file that names another latent is refused as StaleDelta."""
        from safetensors import SafetensorError, safe_open
        from ..safe_read import open_regular
        where = str(path)
        open_regular(path, lambda p, problem: ValueError(f"{p}: {problem}"), "weight delta").close()  # a FIFO blocks
        try:
            with safe_open(where, "pt") as f:
                meta = f.metadata() or {}
                shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
                dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
                bad = sorted(k for k, d in dtypes.items() if d not in ("F32", "F16", "BF16", "F64"))
                if bad:
                    raise ValueError(f"{where}: {bad[0]!r} is not a float tensor ({dtypes[bad[0]]})")
                check_shapes(shapes, net, where)
                named = meta.get("latent")
                if latent is not None and named is not None:
                    wanted = latent if isinstance(latent, str) else latent_digest(latent)
                    if named != wanted:
                        raise StaleDelta(f"{where}: belongs to another latent (it names {named[:12]}…, the latent "
                                         f"is {wanted[:12]}…): an older import's, or one cut short")
                raw = {k: f.get_tensor(k) for k in f.keys()}
        except (OSError, SafetensorError) as exc:
            raise ValueError(f"{where}: not a readable weight delta ({str(exc)[:200]})") from None
        except ValueError:
            raise
        except Exception as exc:  # a malformed header: whatever the reader raised, one line naming the file
            raise ValueError(f"{where}: not a readable weight delta ({type(exc).__name__}: {str(exc)[:200]})") from None
        delta = cls.from_tensors(raw, net, where)
        delta.latent = meta.get("latent")
        return delta

    @classmethod
    def from_tensors(cls, raw: dict[str, torch.Tensor], net, where: str = "weight delta") -> WeightDelta:
        """A delta from its tensors, checked against `net`: names and shapes first (no product is taken
        before the factors are known to make the parameter's shape), then every value finite and within
        MAX_CHANGE of its parameter's scale, maps within MAX_MAP; ValueError naming `where` and the tensor."""
        check_shapes({k: tuple(v.shape) for k, v in raw.items()}, net, where)
        params = dict(tunable(net))
        factors, shapes, maps = {}, {}, {}
        radius = raw.get("detail::radius", torch.zeros(1)).float().reshape(-1)
        for key in raw:
            name, _, part = key.rpartition("::")
            if key == "detail::radius":
                if not bool(torch.isfinite(radius).all()) or not 0 < float(radius[0]) <= MAX_RADIUS:
                    raise ValueError(f"{where}: its detail radius is not a positive number up to {MAX_RADIUS:g}")
                continue
            if part == "detail":
                m = raw[key].float()
                if not bool(torch.isfinite(m).all()) or float(m.abs().max()) > MAX_MAP:
                    raise ValueError(f"{where}: detail map {name!r} holds NaN/infinity or values over {MAX_MAP:g}")
                maps[name] = m
                continue
            shapes[name] = tuple(params[name].shape)
            if part == "full":
                factors[name] = (raw[key].float(),)
            elif part == "a":
                factors[name] = (raw[key].float(), raw[f"{name}::b"].float())
        for name, f in factors.items():
            if not all(bool(torch.isfinite(t).all()) for t in f):
                raise ValueError(f"{where}: {name!r} holds NaN/infinity")
            limit = MAX_CHANGE * (float(params[name].detach().abs().max()) + 0.1)
            # |A @ B| <= |row of A| x |column of B| everywhere: the product only when that bound is not enough
            bound = float(f[0].abs().max()) if len(f) == 1 else \
                float(f[0].norm(dim=1).max()) * float(f[1].norm(dim=0).max())
            if bound > limit and float((f[0] if len(f) == 1 else f[0] @ f[1]).abs().max()) > limit:
                raise ValueError(f"{where}: {name!r} changes its weights by more than {limit:.3g} "
                                 f"({MAX_CHANGE:g} x their own scale): not a tuned delta")
        if maps and "detail::radius" not in raw:
            raise ValueError(f"{where}: has detail maps but no detail radius")
        return cls(factors, shapes, maps, float(radius[0]) if maps else 0.0)


class StaleDelta(ValueError):
    """A delta file beside a latent that names another latent: it must not be rendered with this one."""


def latent_digest(wplus) -> str:
    """The digest a delta names its latent by: of the float32 rows [k, w_dim] (any leading 1s dropped)."""
    a = np.ascontiguousarray(np.asarray(wplus, np.float32))
    a = a.reshape(-1, a.shape[-1]) if a.ndim else a
    h = hashlib.blake2b(digest_size=16)
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def check_shapes(shapes: dict[str, tuple], net, where: str) -> None:
    """Every tensor of a delta file named and shaped for `net`, from the shapes alone (a header): a
    low-rank pair must multiply to its parameter's shape with a rank up to MAX_RANK, a full delta have
    its parameter's size, a map fit its layer; ValueError naming `where` and the tensor otherwise."""
    params = dict(tunable(net))
    sizes = {n[:-len(".act.noise_const")]: tuple(b.shape) for n, b in net.named_buffers()
             if n.endswith(".act.noise_const")}
    for key, shape in shapes.items():
        name, _, part = key.rpartition("::")
        if key == "detail::radius":
            if math.prod(shape) != 1:
                raise ValueError(f"{where}: its detail radius is not one number (shape {list(shape)})")
            continue
        if part == "detail":
            if name not in sizes or not map_fits(tuple(shape), sizes[name]):
                raise ValueError(f"{where}: detail map {name!r} of shape {list(shape)} does not fit this model")
            continue
        if name not in params or part not in ("full", "a", "b"):
            raise ValueError(f"{where}: {key!r} is not a tunable parameter of this model")
        p = params[name]
        out, fan_in = p.shape[0], p.numel() // p.shape[0]
        if part == "full" and math.prod(shape) != p.numel():
            raise ValueError(f"{where}: {name!r} does not fit this model ({math.prod(shape)} values, "
                             f"the model's {p.numel()})")
        if part == "a":
            b = shapes.get(f"{name}::b")
            if b is None:
                raise ValueError(f"{where}: {name!r} has A but no B")
            if len(shape) != 2 or len(b) != 2 or shape[0] != out or b[1] != fan_in or shape[1] != b[0] \
                    or not 0 < shape[1] <= MAX_RANK:
                raise ValueError(f"{where}: {name!r} does not fit this model (factors {list(shape)} x {list(b)} "
                                 f"do not make its {list(p.shape)} at a rank up to {MAX_RANK})")
        if part == "b" and f"{name}::a" not in shapes:
            raise ValueError(f"{where}: {name!r} has B but no A")


def map_fits(shape: tuple, layer: tuple) -> bool:
    """A detail map [1, 1, n, n] fits a layer of `layer` shape at its size or stored at the coarser size it
    was fitted at (editor.photo.detail.FREE_TO): the layer's size over a power of two."""
    if len(shape) != 4 or shape[:2] != (1, 1) or shape[2] != shape[3] or not 0 < shape[-1] <= layer[-1]:
        return False
    ratio, rest = divmod(layer[-1], shape[-1])
    return rest == 0 and ratio & (ratio - 1) == 0


def map_at(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A map at its layer's size: one stored at the size it was fitted at is upsampled as the fit did."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.interpolate(m, size=size, mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------- files beside sessions
def delta_file(folder: str | Path, digest: str) -> Path:
    """Where a session in `folder` keeps a source's delta: named by its digest, so renaming the session
    keeps the link, and two sessions of one photo share one file."""
    return Path(folder) / f"{digest}.delta.safetensors"


def latent_delta_path(latent: str | Path) -> Path:
    """The delta written beside a latent by `python -m editor project`: me.npz -> me.delta.safetensors."""
    latent = Path(latent)
    return latent.with_name(latent.stem + ".delta.safetensors")


def delta_beside_latent(latent: str | Path, wplus, net) -> tuple[WeightDelta | None, str | None]:
    """The delta `project` wrote beside a latent file, if it is there and belongs to it: (delta, None);
    (None, None) when there is none; (None, warning) when it is damaged, unsafe, or names another latent
    (an older import's, or a run cut short between its two writes): the latent is then shown alone."""
    beside = latent_delta_path(latent)
    if not beside.is_file():
        return None, None
    try:
        return WeightDelta.load(beside, net, latent=wplus), None
    except ValueError as exc:
        return None, f"{str(exc)[:300]}; the latent is shown without it"


def save_beside(session: str | Path, state) -> list[Path]:
    """Write the deltas of the edit's sources beside `session` (atomically; call before writing the session
    itself, so a session never names a file that is not there). Returns the files."""
    written = []
    for src in (state.source_a, state.source_b):
        if isinstance(src.delta, WeightDelta):
            path = delta_file(Path(session).parent, src.delta.digest)
            if not path.is_file():
                src.delta.save(path)
            written.append(path)
    return written


def resolve_beside(state, folder: str | Path, net) -> tuple[object, list[str]]:
    """Load the delta files an edit read from JSON names (by digest) from `folder`. A missing or bad file
    drops that delta (the face then renders from its latent alone) and says so; nothing else changes."""
    from dataclasses import replace
    problems = []
    for which in ("a", "b"):
        src = getattr(state, f"source_{which}")
        if not isinstance(src.delta, str):
            continue
        path = delta_file(folder, src.delta)
        try:
            if not path.is_file():
                raise ValueError(f"{path}: missing")
            delta = WeightDelta.load(path, net)
            if delta.digest != src.delta:
                raise ValueError(f"{path}: holds another delta than the edit names")
        except ValueError as exc:
            problems.append(f"{src.display_name}: tuned weights not loaded ({str(exc)[:200]}); shown from its latent")
            delta = None
        state = state.with_source(which, replace(src, delta=delta))
    return state, problems
