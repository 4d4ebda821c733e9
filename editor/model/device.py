"""Run-time choice of device and synthesis precision: CUDA (fp16) -> MPS -> CPU (bf16 where the CPU has it).

Reduced precision is only a default: `Generator` keeps it when a render agrees with fp32 to
`MIN_PSNR_DB`, else falls back to fp32 (see `Generator._settle_precision`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from functools import lru_cache
from pathlib import Path

import torch

from ..config import env as config_env
from ..runtime import keep_freed_memory  # noqa: F401  (its home moved; callers import it here)

MIN_PSNR_DB = 35.0


def choose_device(preference: str | torch.device | None = None) -> torch.device:
    """`preference` (or $FACE_EDITOR_DEVICE) wins: 'cpu', 'cuda', 'cuda:1', 'mps'. Otherwise the best present."""
    preference = preference or config_env("FACE_EDITOR_DEVICE") or None
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


# oneDNN's ISA names, oldest first; ONEDNN_MAX_CPU_ISA=<name> caps torch's kernels to emulate an older CPU.
_ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI",
                "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16",
                "AVX10_1_512_AMX_FP16")


def _onednn_allows(isa: str) -> bool:
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    return cap not in _ONEDNN_ISAS or _ONEDNN_ISAS.index(cap) >= _ONEDNN_ISAS.index(isa)


@lru_cache(maxsize=1)
def cpu_flags() -> dict:
    """The CPU features that decide speed here (AMX, AVX512-BF16 = native bf16 dot products, AVX2), as
    the CPU has them and as oneDNN may use them under $ONEDNN_MAX_CPU_ISA."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((ln for ln in f if ln.startswith("flags")), "")
        flags = set(line.partition(":")[2].split())
    except OSError:
        flags = set()
    return {"amx": "amx_bf16" in flags and _onednn_allows("AVX512_CORE_AMX"),
            "avx512_bf16": "avx512_bf16" in flags and _onednn_allows("AVX512_CORE_BF16"),
            "avx2": "avx2" in flags and _onednn_allows("AVX2"),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or None}


def cpu_class() -> str:
    """A short name for the speed class of this CPU (as oneDNN sees it): amx, avx512_bf16, avx2 or older."""
    f = cpu_flags()
    return "amx" if f["amx"] else "avx512_bf16" if f["avx512_bf16"] else "avx2" if f["avx2"] else "older"


def cpu_has_fast_bf16() -> bool:
    """bf16 only pays on CPUs with native bf16 matmul (AMX or AVX512-BF16); elsewhere it is emulated."""
    return cpu_class() in ("amx", "avx512_bf16")


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        model = ""
    return model or platform.processor() or platform.machine()


def machine_key() -> str:
    """Names this machine's CPU (model, flags class under any oneDNN cap, threads) for cached measurements."""
    return f"{cpu_model_name()}|{cpu_class()}|{torch.get_num_threads()}"


def cached_precision_choice(cache_file: Path, key: str, decide) -> dict:
    """decide() -> {"dtype": "bfloat16"|"float32", ...}, measured once per machine and model and kept in
    `cache_file` (a JSON map key -> choice). A cache that cannot be read or written is ignored."""
    try:
        cache = json.loads(cache_file.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), dict) and cache[key].get("dtype") in ("bfloat16", "float16", "float32"):
        return cache[key]
    choice = decide()
    cache[key] = {**choice, "measured": time.strftime("%Y-%m-%d")}
    try:
        from ..files import atomic_write_json
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cache_file, cache)
    except OSError:
        pass
    return choice


def default_dtype(device: torch.device) -> torch.dtype:
    """Preferred synthesis dtype before the quality check. $FACE_EDITOR_PRECISION=fp32|fp16|bf16 overrides."""
    forced = config_env("FACE_EDITOR_PRECISION")
    if forced:
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[forced]
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32
