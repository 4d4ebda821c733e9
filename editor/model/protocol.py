"""The contract every generator architecture fulfils, so `Generator` can drive any of them.

A network is an `nn.Module` with:
  z_dim, w_dim, num_ws, resolution, img_channels : int
  layer_resolutions : list[int]  -- for each w+ index, the output resolution of the layer it styles
  preview_sizes : tuple[int, ...] -- sizes below `resolution` that `synthesis` can stop early at
  mapping(z [B, z_dim]) -> w [B, w_dim]          (no truncation; that is Generator's job)
  synthesis(ws [B, num_ws, w_dim], noise_mode='const'|'random'|'off', noise_strength=1.0,
            size=None|int in preview_sizes) -> image [B, img_channels, size, size], roughly in [-1, 1]
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch

from ..defaults import NOISE_MODES  # noqa: F401  (part of this contract; one definition for every layer)

W_AVG_SAMPLES = 10_000  # z mapped to estimate the mean latent where a model file has none


@runtime_checkable
class SynthesisNet(Protocol):
    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    img_channels: int
    layer_resolutions: list[int]
    preview_sizes: tuple[int, ...]

    def mapping(self, z: torch.Tensor) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                  size: int | None = None) -> torch.Tensor: ...


def check_noise_mode(mode: str) -> str:
    if mode not in NOISE_MODES:
        raise ValueError(f"noise mode must be one of {NOISE_MODES}, not {mode!r}")
    return mode


@torch.inference_mode()
def estimate_w_avg(net: SynthesisNet, samples: int = W_AVG_SAMPLES, seed: int = 0,
                   progress: Callable[[str, int, int], None] | None = None) -> torch.Tensor:
    """Mean w of `samples` mapped z drawn from a fixed seed, for models that do not store one.
    Batched (memory stays small for big mapping nets) and summed in float64 (10k float32 sums drift)."""
    weight = next(p for p in net.parameters())  # the device and dtype the mapping runs in
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(net.w_dim, dtype=torch.float64)
    for start in range(0, samples, 1000):
        z = torch.randn(min(1000, samples - start), net.z_dim, generator=gen).to(weight.device, weight.dtype)
        total += net.mapping(z).double().sum(0).cpu()
        if progress:
            progress("mean latent", min(start + 1000, samples), samples)
    return (total / samples).float()
