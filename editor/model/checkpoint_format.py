"""Which loader a model file needs (from its first bytes, never its name), and the strict tensor copy they share."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import CheckpointError

NVIDIA_PKL = "nvidia-pkl"
ROSINALITY_PT = "rosinality-pt"
MOBILESTYLEGAN_SAFETENSORS = "mobilestylegan-safetensors"

_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format since torch 1.6
# torch.save's legacy format starts with a pickled long: PROTO 2, LONG1 of 10 bytes, torch's magic number.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def detect_format(path: str | Path) -> str:
    """'nvidia-pkl' | 'rosinality-pt' | 'mobilestylegan-safetensors', judged by the file's magic bytes.

    A torch .pt (zip or legacy) is taken to be rosinality's layout and a bare pickle NVIDIA's; the loaders
    then check the contents and say precisely what is wrong if the guess was not right.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            size = f.seek(0, 2)
    except OSError as e:
        raise CheckpointError(path, f"cannot be read ({e.strerror or e})") from e
    if not head:
        raise CheckpointError(path, "is empty")
    if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_TORCH_MAGIC):
        return ROSINALITY_PT
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle PROTO opcode + protocol number
        return NVIDIA_PKL
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])  # safetensors: u64 JSON header length, then the JSON
        if 2 <= header_len <= size - 8 and head[8:9] == b"{":
            return MOBILESTYLEGAN_SAFETENSORS
    raise CheckpointError(path, f"is not a known model format (starts with {head[:8]!r}); expected an NVIDIA "
                                "StyleGAN2 .pkl, a rosinality .pt or a MobileStyleGAN .safetensors file")


def list_names(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MAX_ABS_WEIGHT = 1e5  # trained StyleGAN weights stay within a few hundred (mapping weights are stored /0.01)


def check_file_tensors(tensors: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Every tensor a dense float array in CPU memory, and no more of them than the file's bytes hold.

    A tensor record chooses its own shape and strides over a storage, so a tiny file can describe a huge
    model out of stride-0 views or one storage shared many times; the network is built from those shapes,
    so they are checked against real bytes first. Meta and sparse tensors hold no values at all.
    """
    odd = [k for k, t in tensors.items() if not isinstance(t, torch.Tensor) or t.layout != torch.strided
           or t.device.type != "cpu" or t.dtype not in FLOAT_DTYPES]
    if odd:
        raise CheckpointError(path, f"{what} holds values that are not dense CPU floating-point tensors "
                                    f"(sparse, meta, integer or other): {list_names(odd)}")
    views = [k for k, t in tensors.items()
             if not (t.is_contiguous() or (t.ndim == 4 and t.is_contiguous(memory_format=torch.channels_last)))]
    if views:
        raise CheckpointError(path, f"{what} holds strided views instead of whole tensors: {list_names(views)}")
    claimed = sum(t.numel() * t.element_size() for t in tensors.values())
    storages = {}
    for t in tensors.values():
        s = t.untyped_storage()
        storages[(s.data_ptr(), s.nbytes())] = s.nbytes()
    held = sum(storages.values())
    if claimed > held:
        raise CheckpointError(path, f"{what}'s tensors claim {claimed:,} bytes but share storages holding only "
                                    f"{held:,}; a real network stores each tensor once")


def check_values(tensors: dict[str, torch.Tensor], path: str | Path, what: str,
                 max_abs: float = MAX_ABS_WEIGHT) -> None:
    bad = [k for k, t in tensors.items() if t.numel() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(path, f"{what} has non-finite values (NaN or inf) in {list_names(bad)}")
    huge = [k for k, t in tensors.items() if t.numel() and float(t.abs().max()) > max_abs]
    if huge:
        raise CheckpointError(path, f"{what} has values beyond ±{max_abs:g}, which no trained network has, "
                                    f"in {list_names(huge)}")


def build_checked(build: Callable[[], nn.Module], tensors: dict[str, torch.Tensor], path: str | Path,
                  what: str, arch: str = "StyleGAN2") -> nn.Module:
    """`build()` on the meta device (no memory), its state dict matched against `tensors` by name and shape,
    and only then made real and filled: settings that imply a huge network cost nothing until they are
    backed by tensors of that size in the file."""
    try:
        with torch.device("meta"):
            net = build()
    except CheckpointError:
        raise
    except Exception as e:  # settings were validated one by one; their combination can still be impossible
        raise CheckpointError(path, f"{what}'s settings do not describe a buildable {arch} "
                                    f"({type(e).__name__})") from None
    expected = net.state_dict()
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    wrong = [f"{k} {list(tensors[k].shape)} (expected {list(expected[k].shape)})"
             for k in expected if k in tensors and tuple(tensors[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing tensors {list_names(missing)}")
    if extra:
        problems.append(f"unexpected tensors {list_names(extra)}")
    if wrong:
        problems.append(f"mis-shaped tensors {list_names(wrong)}")
    if problems:
        raise CheckpointError(path, f"{what} does not match the {arch} layout its settings imply: "
                                    + "; ".join(problems))
    # Settings can imply layers of no channels (a channel base too small for the resolution): such a file
    # matches its own empty tensors, loads, and fails at the first render instead.
    empty = [k for k, t in expected.items() if t.numel() == 0]
    if empty:
        raise CheckpointError(path, f"{what}'s settings give layers with no channels: {list_names(empty)}")
    check_values(tensors, path, what)
    net = net.to_empty(device="cpu")
    with torch.no_grad():
        for k, t in net.state_dict().items():
            t.copy_(tensors[k])
    return net.eval().requires_grad_(False)
