"""Which loader a model file needs (from its first bytes, never its name), and the strict tensor copy they share."""

from __future__ import annotations

import struct
from pathlib import Path

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


def load_named_tensors(net: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Copy `tensors` into `net` by name; every name must match both ways, with the same shape.

    A partial copy would give a plausible-looking but wrong network, so anything off is an error that lists
    the offending names (`what` says where they came from, e.g. "G_ema").
    """
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
        raise CheckpointError(path, f"{what} does not match the StyleGAN2 layout its settings imply: "
                                    + "; ".join(problems))
    bad = [k for k, t in tensors.items() if not (t.is_floating_point() and torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(path, f"{what} has non-finite or non-float values in {list_names(bad)}")
    with torch.no_grad():
        for k, t in expected.items():
            t.copy_(tensors[k])
