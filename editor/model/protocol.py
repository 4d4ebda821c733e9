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

from typing import Protocol, runtime_checkable

import torch

NOISE_MODES = ("const", "random", "off")


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
