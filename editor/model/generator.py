"""`Generator`: the one object the rest of the app uses, whatever architecture or file it came from."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import env as config_env
from ..defaults import DEFAULT_PSI
from .call_inputs import call_inputs
from .device import (MIN_PSNR_DB, cached_precision_choice, choose_device, default_dtype,
                     machine_key)
from .fidelity import psnr_db as psnr
from .fidelity import trusted_sizes
from .protocol import SynthesisNet, check_noise_mode

SLOW_TRIAL_S = 2.0  # a full render slower than this is timed once, not three times, in the precision trial

# Style-mixing groups of the StyleGAN paper, by the resolution a layer acts at (inclusive bounds).
GROUP_RESOLUTIONS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}


def layer_groups_for(layer_resolutions: list[int]) -> dict[str, range]:
    groups = {}
    for name, (lo, hi) in GROUP_RESOLUTIONS.items():
        idx = [i for i, r in enumerate(layer_resolutions) if lo <= r <= hi]
        groups[name] = range(idx[0], idx[-1] + 1) if idx else range(0)
    return groups


class Generator:
    """A face model resident on a device.

    mapping(z, psi) -> w [B, w_dim] (fp32); synthesis(ws, noise, noise_strength, size) -> [B, 3, H, W]
    float32 in [-1, 1] on `device`. ws may be [B, w_dim] (broadcast to every layer) or [B, num_ws, w_dim].
    """

    def __init__(self, net: SynthesisNet, *, w_avg: torch.Tensor, name: str, fingerprint: str,
                 source: str | Path | None = None, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, info: dict | None = None):
        self.name, self.fingerprint = name, fingerprint
        self.source = None if source is None else Path(source)
        self.info = dict(info or {})
        self.device = choose_device(device)
        self._net = net.eval().requires_grad_(False).to(self.device)
        self.resolution, self.num_ws = net.resolution, net.num_ws
        self.w_dim, self.z_dim = net.w_dim, net.z_dim
        self.layer_resolutions = list(net.layer_resolutions)
        self.layer_groups = layer_groups_for(self.layer_resolutions)
        self.preview_sizes = tuple(sorted(net.preview_sizes))
        # Previews the app may show while dragging: only sizes measured faithful to the full render
        # (editor.model.fidelity); {size: {"min", "mean"} dB} comes with the model file where known.
        self.preview_fidelity = self.info.get("preview_fidelity_db")
        self.trusted_preview_sizes = trusted_sizes(self.preview_fidelity, self.preview_sizes)
        # Sizes rendered as the exact area-downsample of the full image (MobileStyleGAN: half, from its
        # last wavelet low band): faithful by construction, so drags may show them (editor.qt.render_requests).
        self.exact_sizes = tuple(getattr(net, "exact_sizes", ()))
        self.w_avg = w_avg.detach().float().reshape(self.w_dim).to(self.device)
        # The mapping stays fp32: w is what gets saved, mixed and edited, so it must be exact.
        self._mapping_net = self._net
        self.dtype = torch.float32
        self._settle_precision(dtype)

    # ------------------------------------------------------------------------------------------ set-up
    def _settle_precision(self, requested: torch.dtype | None) -> None:
        """Reduced precision only where a full render agrees with fp32 (PSNR >= MIN_PSNR_DB) and, unless
        asked for by name, is also faster here: a CPU that supports bf16 can still run it slower than fp32
        (no AMX, depthwise convs). Measured once per machine and model, then cached."""
        if self.device.type == "cpu":
            self._net.to(memory_format=torch.channels_last)  # oneDNN's fast path for these convs
        wanted = requested or default_dtype(self.device)
        self.precision_check_db = None
        self.precision_ms: dict[str, float] = {}
        if wanted == torch.float32:
            return
        forced = requested is not None or bool(config_env("FACE_EDITOR_PRECISION"))
        if forced:
            synth, db, _ = self._trial(wanted, timed=False)
            self.precision_check_db = db
            self._synth_net, self.dtype = synth, wanted
            return
        key = f"{machine_key()}|{self.device}|{self.fingerprint}|{str(wanted).removeprefix('torch.')}"
        trial = {}

        def decide() -> dict:
            trial["net"], db, ms = self._trial(wanted, timed=True)
            faithful, faster = db >= MIN_PSNR_DB, ms["reduced"] < ms["float32"]
            return {"dtype": str(wanted).removeprefix("torch.") if faithful and faster else "float32",
                    "psnr_db": round(db, 2), "ms": ms}
        choice = cached_precision_choice(cache_dir() / "precision.json", key, decide)
        self.precision_check_db, self.precision_ms = choice.get("psnr_db"), dict(choice.get("ms") or {})
        if choice["dtype"] != "float32":
            self._synth_net, self.dtype = trial.get("net") or self._make_reduced(wanted), wanted

    def _trial(self, dtype: torch.dtype, timed: bool):
        """(reduced net, PSNR of its render against fp32, {"float32", "reduced": median ms of 3, or of 1 for a
        model slower than SLOW_TRIAL_S})."""
        import time
        ws = self.broadcast(self.mapping(self.z_from_seed(0), psi=DEFAULT_PSI))
        synth = self._make_reduced(dtype)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        reference = self._run(self._net, ws, "const", 1.0, None, torch.float32)
        sync()
        t1 = time.perf_counter()
        trial = self._run(synth, ws, "const", 1.0, None, dtype)
        sync()
        t2 = time.perf_counter()
        ms = {}
        if timed and t1 - t0 > SLOW_TRIAL_S:
            # A model this slow (StyleGAN3 on a CPU: 10-60 s a render) is timed by the two renders above: set-up
            # is a small part of them, and six more would keep the user waiting minutes at first load.
            ms = {"float32": round((t1 - t0) * 1000, 1), "reduced": round((t2 - t1) * 1000, 1)}
        elif timed:
            for name, net, dt in (("float32", self._net, torch.float32), ("reduced", synth, dtype)):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    self._run(net, ws, "const", 1.0, None, dt)
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append((time.perf_counter() - t0) * 1000)
                ms[name] = round(sorted(times)[1], 1)
        return synth, psnr(trial, reference), ms

    def _make_reduced(self, dtype: torch.dtype):
        import copy
        reduced = copy.deepcopy(self._net).to(dtype)
        if self.device.type == "cpu":
            reduced = reduced.to(memory_format=torch.channels_last)
        return reduced

    @property
    def _synth(self):
        return getattr(self, "_synth_net", self._net)

    # ------------------------------------------------------------------------------------------- API
    @property
    def net(self) -> SynthesisNet:
        """The fp32 network (for optimisation, e.g. projection)."""
        return self._net

    def z_from_seed(self, seed: int, batch: int = 1) -> torch.Tensor:
        """The z of a seed, as NVIDIA's generate scripts draw it (so seeds name the same faces)."""
        z = np.random.RandomState(int(seed) % (2 ** 32)).randn(batch, self.z_dim)
        return torch.from_numpy(z).float().to(self.device)

    @torch.inference_mode()
    def mapping(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.ndim == 1:
            z = z[None]
        w = self._mapping_net.mapping(z)
        return self.w_avg + psi * (w - self.w_avg) if psi != 1.0 else w

    @property
    def supports_input_transform(self) -> bool:
        """True for StyleGAN3: the picture can be moved and rotated by re-sampling the network's input."""
        return bool(getattr(self._net, "supports_input_transform", False))

    def set_input_transform(self, tx: float = 0.0, ty: float = 0.0, angle_deg: float = 0.0) -> None:
        """Move the picture by (tx, ty) image widths and rotate it by angle_deg for every later render
        (StyleGAN3 only; (0, 0, 0) is the identity). Applies to the reduced-precision copy too."""
        if not self.supports_input_transform:
            raise ValueError(f"{self.name} cannot move or rotate its picture (only StyleGAN3 models can)")
        for net in {id(n): n for n in (self._net, self._synth)}.values():
            net.set_input_transform(tx, ty, angle_deg)

    @contextlib.contextmanager
    def transformed(self, tx: float = 0.0, ty: float = 0.0, angle_deg: float = 0.0):
        """Renders on this thread inside the block are moved/rotated (StyleGAN3), a per-call input
        (editor.model.call_inputs): the network itself is not changed, so other threads render unmoved.
        On models without an input transform the block renders unmoved (the edit simply has no effect)."""
        matrix = self.input_transform_matrix(tx, ty, angle_deg)
        if matrix is None:
            yield
            return
        with call_inputs(transform=matrix):
            yield

    def input_transform_matrix(self, tx: float = 0.0, ty: float = 0.0, angle_deg: float = 0.0):
        """The inverse input transform a StyleGAN3 render takes as a call input; None for the identity or a
        model without one."""
        if not self.supports_input_transform or (tx, ty, angle_deg) == (0.0, 0.0, 0.0):
            return None
        from .stylegan3 import make_transform
        inverse = np.linalg.inv(make_transform(float(tx), float(ty), float(angle_deg)))
        return torch.from_numpy(inverse).float().to(self.device)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """[B, w_dim] -> [B, num_ws, w_dim]; w+ passes through."""
        w = torch.as_tensor(w, dtype=torch.float32, device=self.device)
        if w.ndim == 1:
            w = w[None]
        if w.ndim == 2:
            w = w[:, None, :].expand(-1, self.num_ws, -1)
        if w.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"latent must be [B, {self.w_dim}] or [B, {self.num_ws}, {self.w_dim}], "
                             f"got {tuple(w.shape)}")
        return w

    @torch.inference_mode()
    def synthesis(self, ws: torch.Tensor, noise: str = "const", noise_strength: float = 1.0,
                  size: int | None = None) -> torch.Tensor:
        check_noise_mode(noise)
        ws = self.broadcast(ws)
        if self.dtype == torch.float32:
            return self._run(self._synth, ws, noise, noise_strength, size, self.dtype)
        rng = _rng_state(self.device)
        img = self._run(self._synth, ws, noise, noise_strength, size, self.dtype, clamp=False)
        if not bool(torch.isfinite(img.sum())):  # any inf or NaN makes the sum one: 0.1 ms, not 1.5 ms
            # An extreme edit (mixing far-apart faces at psi 1, a large direction) can exceed fp16's
            # range (65504) inside the network: seen on CUDA with coarse mixing. That frame is redone in
            # fp32 with the same noise rather than shown as an error or a face of clamped infinities.
            _set_rng_state(self.device, rng)
            img = self._run(self._net, ws, noise, noise_strength, size, torch.float32, clamp=False)
        return img.clamp_(-1, 1)

    def _run(self, net, ws, noise, strength, size, dtype, clamp: bool = True) -> torch.Tensor:
        size = self.resolution if size is None else int(size)
        if not 1 <= size <= self.resolution:
            raise ValueError(f"size must be between 1 and {self.resolution}, got {size}")
        with torch.inference_mode():
            if size in self.exact_sizes:
                img = net.synthesis(ws.to(dtype), noise_mode=noise, noise_strength=float(strength), size=size,
                                    exact=True).float()
            else:
                # Stop early at the smallest native size that covers the request, then shrink if needed.
                native = min([s for s in self.preview_sizes if s >= size] + [self.resolution])
                img = net.synthesis(ws.to(dtype), noise_mode=noise, noise_strength=float(strength),
                                    size=None if native == self.resolution else native).float()
                if native != size:
                    img = F.interpolate(img, size=(size, size), mode="area")
            return (img.clamp_(-1, 1) if clamp else img).contiguous()

    def __repr__(self) -> str:
        return (f"Generator({self.name!r}, {self.resolution}px, num_ws={self.num_ws}, device={self.device}, "
                f"dtype={str(self.dtype).removeprefix('torch.')})")


def _rng_state(device: torch.device):
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.mps.get_rng_state() if device.type == "mps" else torch.random.get_rng_state()


def _set_rng_state(device: torch.device, state) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)
    else:
        torch.random.set_rng_state(state)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3] (rounded, as NVIDIA's scripts do), C-contiguous: the
    copy happens here, on the thread that rendered, not in the viewer on the GUI thread (5 ms at 1024²)."""
    x = (images.detach().float().clamp(-1, 1) + 1) * 127.5
    return np.ascontiguousarray(x.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


def cache_dir() -> Path:
    """Per-user cache, for things computed from a model file that cannot sit next to it."""
    from ..config import cache_dir as user_cache
    return user_cache()
