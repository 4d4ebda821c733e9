"""Read rosinality/stylegan2-pytorch checkpoints ({'g_ema': state_dict, 'latent_avg': tensor, ...}).

rosinality's Generator computes exactly what NVIDIA's does, with other names and a few extra unit axes:
both store equalized-lr weights unscaled and apply the 1/sqrt(fan_in) (and mapping lr 0.01) at run time,
both keep the modulation bias with its +1 folded in, and both flip the TF up-conv kernels the same way
(NVIDIA legacy.py and rosinality convert_weight.py), so every tensor copies over unchanged up to a reshape.
The configuration (size, n_mlp, channel_multiplier, style_dim) is not stored; it is read off the shapes.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import warnings
from pathlib import Path
from typing import Callable

import torch

from .checkpoint_format import build_checked, check_file_tensors, check_values, list_names
from .errors import CheckpointError, cause_in_words, clean_text, describe
from .nvidia_options import TOP, check_options
from .pickle_scan import scan_torch_file
from .stylegan2 import StyleGAN2
from .stylegan2_ops import setup_filter

MAPPING_LR = 0.01  # rosinality's lr_mlp default; not stored in the file


def _drop_lead(t: torch.Tensor) -> torch.Tensor:
    """[1, ...] -> [...]; anything else is left for the shape check to report."""
    return t[0] if t.ndim >= 1 and t.shape[0] == 1 else t


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1)


def _scalar(t: torch.Tensor) -> torch.Tensor:
    return t.reshape([]) if t.numel() == 1 else t


def _noise_map(t: torch.Tensor) -> torch.Tensor:
    # [1, 1, r, r] -> [r, r]; any other shape is left for the shape check to name
    return t.reshape(t.shape[-2:]) if t.ndim == 4 and t.shape[:2] == (1, 1) else t


def infer_config(sd: dict[str, torch.Tensor], path: str | Path) -> dict:
    """StyleGAN2 kwargs for a rosinality g_ema state dict, from its tensor shapes."""
    try:
        n_mlp = 0
        while f"style.{n_mlp + 1}.weight" in sd:
            n_mlp += 1
        n_up = 0
        while f"to_rgbs.{n_up}.conv.weight" in sd:
            n_up += 1
        w_dim, z_dim = sd["style.1.weight"].shape
        img_channels = sd["to_rgb1.conv.weight"].shape[1]
        size = 4 * 2 ** n_up
        channels = {4: sd["conv1.conv.weight"].shape[1]}
        channels.update({8 * 2 ** j: sd[f"convs.{2 * j}.conv.weight"].shape[1] for j in range(n_up)})
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(path, f"g_ema is not a rosinality StyleGAN2 generator (cannot read {e})") from e
    # rosinality hard-codes channels {4..32: 512, 64: 256*m, ..., 1024: 16*m}; NVIDIA's min(base // res, max)
    # with base = 16384*m gives the same, but solve for base/max so that other widths work too.
    channel_max = max(channels.values())
    channel_base = channels[size] * size
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(path, f"g_ema has channel counts {channels} that no channel_base/channel_max reproduces")
    return dict(z_dim=int(z_dim), w_dim=int(w_dim), img_resolution=size, img_channels=int(img_channels),
                mapping_kwargs=dict(num_layers=n_mlp, lr_multiplier=MAPPING_LR),
                channel_base=int(channel_base), channel_max=int(channel_max), num_fp16_res=0, conv_clamp=None,
                architecture="skip")


def name_map(config: dict) -> dict[str, tuple[str, Callable]]:
    """Our (NVIDIA) tensor name -> (rosinality name, reshape), for every learned tensor and noise map."""
    m: dict[str, tuple[str, Callable]] = {}
    for i in range(config["mapping_kwargs"]["num_layers"]):
        m[f"mapping.fc{i}.weight"] = (f"style.{i + 1}.weight", lambda t: t)
        m[f"mapping.fc{i}.bias"] = (f"style.{i + 1}.bias", lambda t: t)
    m["synthesis.b4.const"] = ("input.input", _drop_lead)

    def styled(ours: str, theirs: str, noise_idx: int) -> None:
        m[f"{ours}.weight"] = (f"{theirs}.conv.weight", _drop_lead)
        m[f"{ours}.affine.weight"] = (f"{theirs}.conv.modulation.weight", lambda t: t)
        m[f"{ours}.affine.bias"] = (f"{theirs}.conv.modulation.bias", lambda t: t)
        m[f"{ours}.noise_strength"] = (f"{theirs}.noise.weight", _scalar)
        m[f"{ours}.bias"] = (f"{theirs}.activate.bias", lambda t: t)
        m[f"{ours}.noise_const"] = (f"noises.noise_{noise_idx}", _noise_map)

    def torgb(ours: str, theirs: str) -> None:
        m[f"{ours}.weight"] = (f"{theirs}.conv.weight", _drop_lead)
        m[f"{ours}.affine.weight"] = (f"{theirs}.conv.modulation.weight", lambda t: t)
        m[f"{ours}.affine.bias"] = (f"{theirs}.conv.modulation.bias", lambda t: t)
        m[f"{ours}.bias"] = (f"{theirs}.bias", _flat)

    styled("synthesis.b4.conv1", "conv1", 0)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k in range(3, int(math.log2(config["img_resolution"])) + 1):
        j, res = k - 3, 2 ** k
        styled(f"synthesis.b{res}.conv0", f"convs.{2 * j}", 2 * k - 5)  # rosinality's noise order, as legacy.py
        styled(f"synthesis.b{res}.conv1", f"convs.{2 * j + 1}", 2 * k - 4)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{j}")
    return m


_BLOCKED_GLOBAL = re.compile(r"unsupported global:?\s+(?:GLOBAL\s+)?([\w.]+)", re.IGNORECASE)


def torch_load_problem(e: Exception) -> str:
    """What torch.load(weights_only=True) refused, in one line: the blocked global by name where there is one,
    else the weights-only loader's own reason without torch's advice around it (its message spreads the reason
    over many lines of advice, with terminal colour codes); other failures in plain words (cause_in_words)."""
    text = clean_text(str(e), 4000)
    found = _BLOCKED_GLOBAL.search(text)
    if found:
        return f"it needs the global '{found.group(1)}', which a weights-only load refuses: it could run code"
    if "Weights only load failed" in text:
        core = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else \
            text.split("Weights only load failed.", 1)[1]
        for advice in ("Re-running `torch.load`", "Check the documentation", "In PyTorch 2.6", "Please file an issue"):
            core = core.split(advice, 1)[0] if core.split(advice, 1)[0].strip() else core
        return f"torch's weights-only loader refused it: {clean_text(core.strip(), 200) or 'no reason given'}"
    return cause_in_words(e)


# Fixed blur kernels rosinality registers as buffers; ours come from `resample_filter` instead.
_KERNEL_BUFFER = re.compile(r"(convs\.\d+\.conv\.blur|to_rgbs\.\d+\.upsample)\.kernel")


def load_rosinality(path: str | Path) -> tuple[StyleGAN2, torch.Tensor | None]:
    """A rosinality .pt -> (our StyleGAN2 with g_ema's weights, eval mode, CPU; latent_avg [w_dim] or None).

    None means the file stores no average w (net.mapping.w_avg is then left at zeros): the caller estimates
    one, e.g. with protocol.estimate_w_avg, and can cache it.
    """
    scan_torch_file(path)  # same opcode limits as NVIDIA pickles before torch's unpickler sees it
    try:
        # weights_only: torch's restricted unpickler. rosinality's train.py also saves its argparse options,
        # a plain attribute bag, which torch >= 2.5 can be told to accept.
        allow = getattr(torch.serialization, "safe_globals", None)
        with allow([argparse.Namespace]) if allow else contextlib.nullcontext(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickles; failures are reported below
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RecursionError, MemoryError, OverflowError) as e:
        raise CheckpointError(path, f"is not a usable torch checkpoint: {cause_in_words(e)}") from None
    except Exception as e:
        raise CheckpointError(path, f"is not a readable torch checkpoint: {torch_load_problem(e)}") from None
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        keys = ", ".join(describe(k) for k in list(ckpt)[:8]) if isinstance(ckpt, dict) else describe(ckpt)
        raise CheckpointError(path, f"has no 'g_ema' generator state dict (found {keys or 'an empty dict'})")
    sd = ckpt["g_ema"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        raise CheckpointError(path, "'g_ema' is not a state dict of named tensors")
    check_file_tensors(sd, path, "g_ema")

    config = infer_config(sd, path)
    names = name_map(config)
    missing = [theirs for theirs, _ in names.values() if theirs not in sd]
    used = {theirs for theirs, _ in names.values()}
    extra = [k for k in sd if k not in used and not _KERNEL_BUFFER.fullmatch(k)]
    if missing or extra:
        parts = [f"missing {list_names(missing)}"] if missing else []
        parts += [f"unexpected {list_names(extra)}"] if extra else []
        raise CheckpointError(path, f"g_ema does not match a {config['img_resolution']}px StyleGAN2: "
                                    + "; ".join(parts))
    blur = setup_filter([1, 3, 3, 1]) * 4
    odd = [k for k in sd if _KERNEL_BUFFER.fullmatch(k)
           and (sd[k].shape != blur.shape or not torch.allclose(sd[k].float(), blur))]
    if odd:
        raise CheckpointError(path, f"g_ema uses a blur kernel other than [1,3,3,1] ({list_names(odd)})")

    check_options({k: config[k] for k in TOP if k in config}, TOP, path, "generator")
    tensors = {ours: fn(sd[theirs]) for ours, (theirs, fn) in names.items()}
    # Not stored by rosinality: our fixed blur filters, and the mean latent (filled in below if present).
    try:
        with torch.device("meta"):
            fixed = [k for k in StyleGAN2(**config).state_dict() if k.endswith("resample_filter")]
    except Exception as e:
        raise CheckpointError(path, f"g_ema's shapes imply settings that do not build ({type(e).__name__})") from None
    tensors.update({k: setup_filter([1, 3, 3, 1]) for k in fixed}, **{"mapping.w_avg": torch.zeros(config["w_dim"])})
    net = build_checked(lambda: StyleGAN2(**config), tensors, path, "g_ema (in NVIDIA names)")

    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None:
        ok = isinstance(latent_avg, torch.Tensor) and latent_avg.is_floating_point()
        if not ok or latent_avg.numel() != net.w_dim:
            found = list(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else describe(latent_avg)
            raise CheckpointError(path, f"latent_avg should hold {net.w_dim} floats, found {found}")
        check_file_tensors({"latent_avg": latent_avg}, path, "latent_avg")
        check_values({"latent_avg": latent_avg}, path, "latent_avg")
        latent_avg = latent_avg.detach().reshape(net.w_dim).float().clone()
        with torch.no_grad():
            net.mapping.w_avg.copy_(latent_avg)
    return net, latent_avg
