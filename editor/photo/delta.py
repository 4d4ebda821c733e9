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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model.mobilestylegan import param_row
from ..pipeline.photo_inputs import applied, detail_gate, row_weights, source_deltas  # noqa: F401 - re-exported

RANK = 8
FULL_BELOW = 70_000  # elements: tensors smaller than this are tuned in full


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

    def to_bytes(self) -> bytes:
        from safetensors.torch import save
        return save(self.tensors(), metadata={"kind": "face-editor weight delta", "version": "1"})

    def save(self, path: str | Path) -> None:
        from ..files import atomic_write_bytes
        atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, net) -> WeightDelta:
        """Read a delta (safetensors: no code runs) and check it against `net`; ValueError naming the file."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from ..safe_read import open_regular
        open_regular(path, lambda p, problem: ValueError(f"{p}: {problem}"), "weight delta").close()  # a FIFO blocks
        try:
            raw = load_file(str(path))
        except (OSError, SafetensorError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable weight delta ({str(exc)[:200]})") from None
        return cls.from_tensors(raw, net, str(path))

    @classmethod
    def from_tensors(cls, raw: dict[str, torch.Tensor], net, where: str = "weight delta") -> WeightDelta:
        params = dict(tunable(net))
        factors, shapes, maps = {}, {}, {}
        sizes = {n[:-len(".act.noise_const")]: tuple(b.shape) for n, b in net.named_buffers()
                 if n.endswith(".act.noise_const")}
        radius = raw.get("detail::radius", torch.zeros(1)).float().reshape(-1)
        for key in raw:
            name, _, part = key.rpartition("::")
            if key == "detail::radius":
                if radius.numel() != 1 or not bool(torch.isfinite(radius).all()) or float(radius[0]) <= 0:
                    raise ValueError(f"{where}: its detail radius is not a positive number")
                continue
            if part == "detail":
                m = raw[key]
                if name not in sizes or not map_fits(tuple(m.shape), sizes[name]) or not bool(torch.isfinite(m).all()):
                    raise ValueError(f"{where}: detail map {name!r} does not fit this model (or holds NaN/infinity)")
                maps[name] = m
                continue
            if name not in params or part not in ("full", "a", "b"):
                raise ValueError(f"{where}: {key!r} is not a tunable parameter of this model")
            shapes[name] = tuple(params[name].shape)
            if part == "full":
                factors[name] = (raw[key],)
            elif part == "a":
                if f"{name}::b" not in raw:
                    raise ValueError(f"{where}: {name!r} has A but no B")
                factors[name] = (raw[key], raw[f"{name}::b"])
        for name, f in factors.items():
            try:
                dense = f[0] if len(f) == 1 else f[0].float() @ f[1].float()
                ok = dense.numel() == params[name].numel() and bool(torch.isfinite(dense).all())
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(f"{where}: {name!r} does not fit this model (or holds NaN/infinity)")
        if maps and "detail::radius" not in raw:
            raise ValueError(f"{where}: has detail maps but no detail radius")
        return cls(factors, shapes, maps, float(radius[0]) if maps else 0.0)


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
