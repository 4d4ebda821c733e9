"""Plain-PyTorch stand-ins for the CUDA ops StyleGAN2 was written against (upfirdn2d, bias_act, modulated conv).

Everything here is ordinary `torch.nn.functional` calls, so the generator runs on any device and dtype torch
supports, with nothing to compile. The numerics follow NVIDIA's reference implementations
(`torch_utils/ops/upfirdn2d._upfirdn2d_ref`, `bias_act._bias_act_ref`, `networks_stylegan2.modulated_conv2d`),
so weights trained there give the same images here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance through leaky ReLU (NVIDIA's def_gain)


def setup_filter(taps: list[float]) -> torch.Tensor:
    """A 1-D list of taps -> the normalised 2-D low-pass filter NVIDIA registers as `resample_filter` [k, k]."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    return f.to(dtype)[None, None].expand(channels, 1, *f.shape)


def blur2d(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int], gain: float = 1.0) -> torch.Tensor:
    """FIR-filter each channel with `f` after zero-padding (pad_before, pad_after) on both axes.

    upfirdn2d convolves (not correlates), hence the flip; [1,3,3,1] is symmetric, but other filters need not be.
    """
    c = x.shape[1]
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, _depthwise(f.flip([0, 1]) * gain, c, x.dtype), groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling of the skip image, as NVIDIA's upsample2d (zero-insert, pad (2, 1), filter, gain 4).

    A strided transposed depthwise conv *is* zero insertion followed by convolution with the kernel, so one
    op does it; padding=1 crops the transposed conv's "full" output ((k-1) per side) down to NVIDIA's (2, 1)
    padding of the zero-inserted signal. Only valid for 4-tap filters, which is all StyleGAN2 uses.
    """
    assert f.shape == (4, 4), "upsample2d assumes the 4x4 [1,3,3,1] filter"
    c = x.shape[1]
    return F.conv_transpose2d(x, _depthwise(f * 4.0, c, x.dtype), stride=2, padding=1, groups=c)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """x + b, optional leaky ReLU (with its sqrt(2) gain), extra gain, optional clamp to +-clamp.

    The clamp is part of the trained model (NVIDIA applies it in fp32 too), so it must be reproduced.
    """
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, *([1] * (x.ndim - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE) * (LRELU_GAIN * gain)
    elif act == "linear":
        if gain != 1:
            x = x * gain
    else:
        raise ValueError(f"unsupported activation {act!r}")
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: int = 1, resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN2's per-sample modulated convolution, run as one grouped conv over the batch.

    x [B, I, H, W], weight [O, I, k, k], styles [B, I] -> [B, O, H*up, W*up] ('same' padding).
    Demodulation rescales each output channel to unit expected variance, replacing AdaIN.
    """
    b, i, h, w_ = x.shape
    o, i_w, kh, kw = weight.shape
    assert i_w == i and styles.shape == (b, i), (x.shape, weight.shape, styles.shape)
    w = weight.to(x.dtype).unsqueeze(0) * styles.to(x.dtype).reshape(b, 1, i, 1, 1)  # [B, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(b, o, 1, 1, 1)
    x = x.reshape(1, b * i, h, w_)
    if up == 1:
        out = F.conv2d(x, w.reshape(b * o, i, kh, kw), padding=kh // 2, groups=b)
    else:
        # NVIDIA's conv2d_resample fast path: stride-2 transposed conv (weights used unflipped, as trained),
        # then the [1,3,3,1] blur with gain 4 and padding (1, 1) to land exactly on 2H x 2W.
        assert up == 2 and kh == 3 and resample_filter is not None
        wt = w.transpose(1, 2).reshape(b * i, o, kh, kw)
        out = F.conv_transpose2d(x, wt, stride=2, groups=b)
        out = blur2d(out, resample_filter, pad=(1, 1), gain=4.0)
    return out.reshape(b, o, *out.shape[2:])
