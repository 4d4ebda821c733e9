"""Checks on our own converted .safetensors before anything is built from it: the config in its metadata,
then the tensors themselves.

The config decides the size of the network made before the weights are loaded, so it is checked first:
a `w_dim` of 1e9 or a million preview sizes must be a clear CheckpointError, not an allocation of gigabytes.
The tensors must be finite and of a sane magnitude: a model with NaN weights or weights of 3e38 loads
fine and renders black, which looks like a bug in the editor rather than in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..values import MAX_LATENT_ABS
from ..safe_read import bounded, loads_json
from .errors import CheckpointError

MAX_DIM = 4096              # z_dim, w_dim and channel counts: StyleGANs use 512
MAX_MAPPING_LAYERS = 32
MAX_BLOCKS = 12             # 4096² output
MAX_PREVIEWS = 16
# The default model's largest weight (folded modulation scale) is 47; 200x that is no trained network.
MAX_WEIGHT_ABS = 1e4


def _int(config: dict, key: str, low: int, high: int, path: Path) -> int:
    v = config.get(key)
    if type(v) is not int or not low <= v <= high:
        raise CheckpointError(path, f"config {key} must be an integer in [{low}, {high}], not {bounded(repr(v), 40)}")
    return v


def _ints(config: dict, key: str, count: tuple[int, int], high: int, path: Path) -> tuple[int, ...]:
    v = config.get(key, [])
    if (not isinstance(v, list) or not count[0] <= len(v) <= count[1]
            or not all(type(x) is int and 1 <= x <= high for x in v)):
        raise CheckpointError(path, f"config {key} must be a list of {count[0]}-{count[1]} integers in "
                                    f"[1, {high}], not {bounded(repr(v), 60)}")
    return tuple(v)


def parse_config(path: Path, meta: dict[str, str]) -> tuple[dict, dict[str, Any]]:
    """(MobileConfig keyword arguments, the whole config) from the file's metadata; CheckpointError otherwise."""
    text = meta.get("config")
    if not isinstance(text, str):
        raise CheckpointError(path, "safetensors file has no editor config in its metadata")
    config = loads_json(text, path, CheckpointError, "editor config")
    if not isinstance(config, dict):
        raise CheckpointError(path, f"the editor config must be a JSON object, not {type(config).__name__}")
    if config.get("architecture") != "mobilestylegan":
        raise CheckpointError(path, f"unknown architecture {bounded(repr(config.get('architecture')), 60)}")
    for key in ("name", "fingerprint"):
        if key in config and not (isinstance(config[key], str) and 0 < len(config[key]) <= 200):
            raise CheckpointError(path, f"config {key} must be a short string")
    fidelity = config.get("preview_fidelity_db", {})
    if not isinstance(fidelity, dict) or len(fidelity) > MAX_PREVIEWS:
        raise CheckpointError(path, "config preview_fidelity_db must be an object with one entry per preview size")
    arch = {"z_dim": _int(config, "z_dim", 1, MAX_DIM, path), "w_dim": _int(config, "w_dim", 1, MAX_DIM, path),
            "mapping_layers": _int(config, "mapping_layers", 1, MAX_MAPPING_LAYERS, path),
            "channels": _ints(config, "channels", (2, MAX_BLOCKS + 1), MAX_DIM, path),
            "preview_sizes": _ints(config, "preview_sizes", (0, MAX_PREVIEWS), 1 << 16, path)}
    return arch, config


def check_tensors(path: Path, tensors: dict[str, torch.Tensor], w_avg: torch.Tensor | None, w_dim: int) -> None:
    """Every floating tensor finite and below MAX_WEIGHT_ABS; w_avg, if stored, a latent within ±MAX_LATENT_ABS."""
    for name, t in tensors.items():
        if not t.is_floating_point() or t.numel() == 0:
            continue
        top = t.detach().abs().max().item()
        if top != top or top == float("inf"):
            raise CheckpointError(path, f"tensor {bounded(name, 60)} contains NaN or infinity: the model would render black")
        if top > MAX_WEIGHT_ABS:
            raise CheckpointError(path, f"tensor {bounded(name, 60)} reaches {top:.3g} (trained weights stay far "
                                        f"below {MAX_WEIGHT_ABS:g}): the file is damaged")
    if w_avg is not None:
        if not w_avg.is_floating_point() or w_avg.numel() != w_dim:
            raise CheckpointError(path, f"w_avg must be {w_dim} floats, not {w_avg.dtype} {tuple(w_avg.shape)}")
        top = w_avg.detach().abs().max().item() if w_avg.numel() else 0.0
        if top != top or top > MAX_LATENT_ABS:
            raise CheckpointError(path, f"w_avg is not a usable mean latent (it reaches {top:.3g}; at most "
                                        f"{MAX_LATENT_ABS:g})")
