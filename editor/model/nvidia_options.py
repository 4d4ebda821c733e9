"""NVIDIA generator constructor kwargs (as recorded in a network pickle) -> our constructor kwargs, checked.

NVIDIA's code accepts a family of keyword options; pickles record whichever ones the training run (or
`legacy.py`, for networks converted from TensorFlow) passed. We accept every option NVIDIA's StyleGAN2
accepts, as long as its value is one we implement; performance-only options (fp16, channels-last, fused
modconv) are accepted and ignored because they do not change the function computed. A value we do not
implement is refused naming the option and the value (described safely: values come from the file).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from .errors import CheckpointError, describe

Check = Callable[[Any], bool]


def _int(lo: int, hi: int) -> Check:
    return lambda v: type(v) is int and lo <= v <= hi


def _number(lo: float, hi: float, open_lo: bool = False) -> Check:
    def ok(v: Any) -> bool:
        if type(v) not in (int, float) or abs(v) > 1e308 or not math.isfinite(v):  # 10**400: no OverflowError
            return False
        return (v > lo if open_lo else v >= lo) and v <= hi
    return ok


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _one_of(*values: Any) -> Check:
    return lambda v: type(v) in (str, bool, int) and any(type(v) is type(x) and v == x for x in values)


def _taps(*taps: int) -> Check:
    return lambda v: (type(v) in (list, tuple) and len(v) == len(taps)
                      and all(type(x) in (int, float) and x == t for x, t in zip(v, taps)))


_ANY: Check = lambda v: True
_BOOL: Check = lambda v: type(v) is bool

# name -> (check, what we implement (for the message), keep = pass on to our constructor)
Spec = dict[str, tuple[Check, str, bool]]

TOP: Spec = {
    "z_dim": (_int(1, 8192), "1-8192", True),
    "w_dim": (_int(1, 8192), "1-8192", True),
    "c_dim": (_one_of(0), "0: unconditional models only", False),
    "img_resolution": (lambda v: _int(4, 8192)(v) and v & (v - 1) == 0, "a power of two, 4-8192", True),
    "img_channels": (_one_of(1, 3), "3 (RGB) or 1 (greyscale, shown as grey RGB)", True),
}

MAPPING: Spec = {
    "num_layers": (_int(1, 32), "1-32", True),
    "layer_features": (_optional(_int(1, 8192)), "None or 1-8192", True),
    "embed_features": (_ANY, "anything: unused without labels", False),
    "activation": (_one_of("lrelu", "linear"), "'lrelu' or 'linear'", True),
    "lr_multiplier": (_number(0, 1e3, open_lo=True), "a positive number", True),
    "w_avg_beta": (_optional(_number(-1e3, 1e3)), "None or a number", True),
}

SYNTHESIS: Spec = {
    "channel_base": (_int(1, 1 << 24), "1-16777216", True),
    "channel_max": (_int(1, 8192), "1-8192", True),
    "num_fp16_res": (_int(0, 64), "0-64 (ignored: precision is chosen at run time)", False),
    "conv_clamp": (_optional(_number(0, 1e9, open_lo=True)), "None or a positive number", True),
    "architecture": (_one_of("orig", "skip", "resnet"), "'orig', 'skip' or 'resnet'", True),
    "resample_filter": (_taps(1, 3, 3, 1), "[1, 3, 3, 1]", False),
    "use_noise": (_BOOL, "True or False", True),
    "activation": (_one_of("lrelu", "linear"), "'lrelu' or 'linear'", True),
    "kernel_size": (_one_of(3), "3", False),
    "channels_last": (_BOOL, "True or False (ignored)", False),
    "fp16_channels_last": (_BOOL, "True or False (ignored)", False),
    "fused_modconv_default": (_one_of(True, False, "inference_only"), "True, False or 'inference_only'", False),
}


def check_options(given: dict, spec: Spec, path: str | Path, where: str) -> dict:
    """The kept options of `given`, each checked against `spec`; CheckpointError on the first bad one."""
    unknown = [k for k in given if k not in spec]
    if unknown:
        names = ", ".join(describe(k) if not isinstance(k, str) else k for k in unknown[:6])
        raise CheckpointError(path, f"G_ema records {where} options this editor does not know: {names}")
    out = {}
    for key, value in given.items():
        check, implemented, keep = spec[key]
        if not check(value):
            raise CheckpointError(path, f"G_ema's {where} option {key}={describe(value)} is not implemented "
                                        f"(this editor implements {implemented})")
        if keep:
            out[key] = value
    return out


def _plain_dict(value: Any, path: str | Path, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CheckpointError(path, f"G_ema's {what} is {describe(value)}, not a dict of named options")
    return dict(value)


GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")


def generator_init_kwargs(state: dict, path: str | Path) -> tuple[dict, dict, dict]:
    """A Generator record's (_init_args, _init_kwargs) -> (top-level, mapping, synthesis) option dicts.

    stylegan2-ada-pytorch nests synthesis options in `synthesis_kwargs`; the stylegan3 repo passes them flat.
    """
    args = state.get("_init_args") or ()
    if not isinstance(args, (tuple, list)) or len(args) > len(GENERATOR_ARGS):
        raise CheckpointError(path, f"G_ema's positional init arguments are {describe(args)}")
    kwargs = {**dict(zip(GENERATOR_ARGS, args)), **_plain_dict(state.get("_init_kwargs"), path, "init kwargs")}
    c_dim = kwargs.get("c_dim", 0)
    if c_dim not in (0, None):
        raise CheckpointError(path, f"holds a conditional (class-labelled) generator, c_dim={describe(c_dim)}; "
                                    "only unconditional models are supported")
    kwargs.pop("c_dim", None)
    missing = [k for k in ("z_dim", "w_dim", "img_resolution", "img_channels") if k not in kwargs]
    if missing:
        raise CheckpointError(path, f"G_ema records no {', '.join(missing)}; cannot rebuild the generator")
    top = {k: kwargs.pop(k) for k in ("z_dim", "w_dim", "img_resolution", "img_channels")}
    mapping = _plain_dict(kwargs.pop("mapping_kwargs", None), path, "mapping_kwargs")
    synthesis = {**_plain_dict(kwargs.pop("synthesis_kwargs", None), path, "synthesis_kwargs"), **kwargs}
    return top, mapping, synthesis


def stylegan2_kwargs(state: dict, path: str | Path) -> dict:
    """StyleGAN2 constructor kwargs for an NVIDIA StyleGAN2 Generator record, every option checked."""
    top, mapping, synthesis = generator_init_kwargs(state, path)
    out = check_options(top, TOP, path, "generator")
    out["mapping_kwargs"] = check_options(mapping, MAPPING, path, "mapping")
    out.update(check_options(synthesis, SYNTHESIS, path, "synthesis"))
    return out


# StyleGAN3 (training/networks_stylegan3.py): its own mapping and synthesis options. Ranges are generous
# for real models, but bound what a file can make us compute: the layer count, margins and filter lengths
# set work done per render and are not pinned by any tensor's size.
MAPPING3: Spec = {
    "num_layers": (_int(1, 32), "1-32", True),
    "lr_multiplier": (_number(0, 1e3, open_lo=True), "a positive number", True),
    "w_avg_beta": (_optional(_number(-1e3, 1e3)), "None or a number (w_avg is always stored)", False),
}

SYNTHESIS3: Spec = {
    "channel_base": (_int(1, 1 << 24), "1-16777216", True),
    "channel_max": (_int(1, 8192), "1-8192", True),
    "num_layers": (_int(2, 64), "2-64", True),
    "num_critical": (_int(0, 63), "0-63, fewer than num_layers", True),
    "first_cutoff": (_number(0, 1e4, open_lo=True), "a positive number up to 10000", True),
    "first_stopband": (_number(0, 1e4, open_lo=True), "a positive number up to 10000", True),
    "last_stopband_rel": (_number(0, 1e3, open_lo=True), "a positive number up to 1000", True),
    "margin_size": (_int(0, 256), "0-256", True),
    "output_scale": (_number(-1e3, 1e3), "a number", True),
    "num_fp16_res": (_int(0, 64), "0-64 (ignored: precision is chosen at run time)", False),
    "conv_kernel": (_int(1, 15), "1-15", True),
    "filter_size": (_int(1, 32), "1-32", True),
    "lrelu_upsampling": (_int(1, 8), "1-8", True),
    "use_radial_filters": (_BOOL, "True or False", True),
    "conv_clamp": (_optional(_number(0, 1e9, open_lo=True)), "None or a positive number", True),
    "magnitude_ema_beta": (_number(-1e3, 1e3), "a number (training only; ignored)", False),
}


def stylegan3_kwargs(state: dict, path: str | Path) -> dict:
    """StyleGAN3 constructor kwargs for an NVIDIA StyleGAN3 Generator record, every option checked."""
    top, mapping, synthesis = generator_init_kwargs(state, path)
    out = check_options(top, TOP, path, "generator")
    out["mapping_kwargs"] = check_options(mapping, MAPPING3, path, "mapping")
    out.update(check_options(synthesis, SYNTHESIS3, path, "synthesis"))
    layers, critical = out.get("num_layers", 14), out.get("num_critical", 2)
    if critical >= layers:
        raise CheckpointError(path, f"G_ema's synthesis option num_critical={critical} is not below "
                                    f"num_layers={layers}")
    return out
