"""Run-time choice of device and synthesis precision: CUDA (fp16) -> MPS -> CPU (bf16 where the CPU has it).

Reduced precision is only a default: `Generator` keeps it when a render agrees with fp32 to
`MIN_PSNR_DB`, else falls back to fp32 (see `Generator._settle_precision`).
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch

MIN_PSNR_DB = 35.0


def choose_device(preference: str | torch.device | None = None) -> torch.device:
    """`preference` (or $EDITOR_DEVICE) wins: 'cpu', 'cuda', 'cuda:1', 'mps'. Otherwise the best present."""
    preference = preference or os.environ.get("EDITOR_DEVICE") or None
    if preference is not None:
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {preference!r} requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {preference!r} requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 matmul (AMX or AVX512-BF16); elsewhere it is emulated."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def default_dtype(device: torch.device) -> torch.dtype:
    """Preferred synthesis dtype before the quality check. $EDITOR_PRECISION=fp32|fp16|bf16 overrides."""
    forced = os.environ.get("EDITOR_PRECISION")
    if forced:
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[forced]
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32
