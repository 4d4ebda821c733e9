"""StyleGAN2 generator in plain PyTorch, with NVIDIA's parameter names so official weights copy by name.

Built bottom-up from small modules (FullyConnectedLayer -> MappingNetwork; SynthesisLayer, ToRGBLayer ->
SynthesisBlock -> SynthesisNetwork -> StyleGAN2), each mirroring the class of the same name in NVIDIA's
`training/networks_stylegan2.py` (stylegan3 repo) / `training/networks.py` (stylegan2-ada-pytorch), so a
StyleGAN2 built from G_ema's init kwargs (nvidia_options.stylegan2_kwargs) takes G_ema's state dict with
strict=True, key for key.

Differences from NVIDIA, all deliberate:
  * `mapping(z)` returns one w per sample (no broadcast, no truncation: the editor does that), and
    conditional models (c_dim > 0) are not built at all.
  * `synthesis(ws, noise_mode, noise_strength, size)` takes noise 'const' | 'random' | 'off' plus a global
    noise gain, and can stop early at a lower block to return a cheap preview (skip architecture only).
  * No fp16 / channels-last machinery: the caller picks the dtype with `.to()`. `num_fp16_res` is accepted
    and ignored so NVIDIA's init kwargs pass straight through.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .interrupt import checkpoint
from .protocol import check_noise_mode
from .stylegan2_ops import bias_act, modulated_conv2d, setup_filter, upsample2d

ARCHITECTURES = ("orig", "skip", "resnet")
MIN_PREVIEW_SIZE = 64  # smaller skip images are too blurry to judge an edit by


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm on z: puts every latent on the same sphere, as in training."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalized learning rate: weights are stored unit-variance and scaled at run time."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)  # He init scale, applied at run time
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight.to(x.dtype) * self.weight_gain).t())
        b = None if self.bias is None else self.bias * self.bias_gain
        return bias_act(x, b, act=self.activation)


class MappingNetwork(nn.Module):
    """z [B, z_dim] -> w [B, w_dim] through `num_layers` lrelu FC layers (unconditional only)."""

    def __init__(self, z_dim: int, w_dim: int, num_ws: int | None,
                 num_layers: int = 8,              # depth of the MLP
                 layer_features: int | None = None,  # hidden width, None = w_dim
                 activation: str = "lrelu",
                 lr_multiplier: float = 0.01,      # the mapping trained 100x slower; weights are stored /0.01
                 w_avg_beta: float | None = 0.998):  # None = the model keeps no running mean of w
        super().__init__()
        assert z_dim > 0, "models without a z input are not supported"
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        hidden = w_dim if layer_features is None else layer_features
        features = [z_dim] + [hidden] * (num_layers - 1) + [w_dim]
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                                          lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))  # truncation centre, tracked during training

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        assert z.ndim == 2 and z.shape[1] == self.z_dim, f"z must be [B, {self.z_dim}], got {list(z.shape)}"
        x = normalize_2nd_moment(z.to(self.fc0.weight.dtype))
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional 2x upsampling) + noise + bias + lrelu: one styled layer."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: tuple | list = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)  # w -> per-input-channel style
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))  # the 'const' noise
            self.noise_strength = nn.Parameter(torch.zeros([]))  # learned per-layer noise gain
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                gain: float = 1.0) -> torch.Tensor:
        in_res = self.resolution // self.up
        assert x.shape[1:] == (self.in_channels, in_res, in_res), (list(x.shape), self.in_channels, in_res)
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight, styles, up=self.up, resample_filter=self.resample_filter)
        if self.use_noise and noise_mode != "off":
            if noise_mode == "const":
                noise = self.noise_const.to(x.dtype)
            else:  # one fresh map per sample, shared by all channels, as in training
                noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device, dtype=x.dtype)
            x = x + noise * (self.noise_strength.to(x.dtype) * noise_strength)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, without demodulation (colour scale is meant to vary with w)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)  # no demod, so equalized lr lives here

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SkipConv(nn.Module):
    """The resnet architecture's 1x1 shortcut with 2x upsampling (NVIDIA's Conv2dLayer(k=1, up=2, bias=False))."""

    def __init__(self, in_channels: int, out_channels: int, resample_filter: tuple | list = (1, 3, 3, 1)):
        super().__init__()
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        # A 1x1 conv commutes with upsampling, so convolve at low resolution first (NVIDIA's fast path too).
        x = nn.functional.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))
        return upsample2d(x, self.resample_filter)


class SynthesisBlock(nn.Module):
    """One resolution: (const | conv0 with 2x up), conv1, and a ToRGB when the architecture needs one here.

    num_conv / num_torgb count the ws this block reads; consecutive blocks overlap by num_torgb, so the torgb
    of one block shares its w with the conv0 of the next (NVIDIA's accounting, which fixes num_ws).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: tuple | list = (1, 3, 3, 1),
                 conv_clamp: float | None = 256, use_fp16: bool = False, **layer_kwargs):
        super().__init__()
        assert architecture in ARCHITECTURES, f"architecture must be one of {ARCHITECTURES}"
        del use_fp16  # the caller chooses the dtype for the whole network
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.is_last, self.architecture = is_last, architecture
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = SkipConv(in_channels, out_channels, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str, noise_strength: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert ws.shape[1] == self.num_conv + self.num_torgb, (list(ws.shape), self.num_conv, self.num_torgb)
        w_iter = iter(ws.unbind(dim=1))
        noise = dict(noise_mode=noise_mode, noise_strength=noise_strength)
        if self.in_channels == 0:
            x = self.const.to(ws.dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, next(w_iter), **noise)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))  # sqrt(.5) on both paths keeps the sum at unit variance
            x = self.conv0(x, next(w_iter), **noise)
            x = y + self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **noise)
        else:
            x = self.conv0(x, next(w_iter), **noise)
            x = self.conv1(x, next(w_iter), **noise)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w_iter))
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> image, one SynthesisBlock `b{res}` per power of two from 4 up."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768,  # channels at res r = min(channel_base // r, channel_max); 16384 = config-e
                 channel_max: int = 512,
                 num_fp16_res: int = 4,      # accepted for NVIDIA kwargs compatibility; ignored
                 **block_kwargs):
        super().__init__()
        log2 = int(math.log2(img_resolution)) if img_resolution > 0 else 0
        assert img_resolution >= 4 and 2 ** log2 == img_resolution, "img_resolution must be a power of two >= 4"
        del num_fp16_res
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            is_last = res == img_resolution
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res, img_channels,
                                   is_last=is_last, **block_kwargs)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += block.num_torgb  # the final torgb is the only one with a w of its own
        # Style-mixing convention of the StyleGAN papers: two w rows per resolution (4², 4², 8², 8², ...),
        # so coarse = rows 0-3, middle 4-7, fine 8+ at 1024². (Row 2k+1 also feeds the next block's conv0;
        # labelling rows by that conv instead would shift every group boundary by one.)
        self.layer_resolutions = [2 ** (2 + i // 2) for i in range(self.num_ws)]
        skip = block.architecture == "skip"
        self.preview_sizes = tuple(r for r in self.block_resolutions if skip and MIN_PREVIEW_SIZE <= r < img_resolution)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                size: int | None = None) -> torch.Tensor:
        check_noise_mode(noise_mode)
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}"
        last = self.img_resolution if size is None else size
        if last != self.img_resolution and last not in self.preview_sizes:
            raise ValueError(f"size must be None, {self.img_resolution} or one of {self.preview_sizes}, not {size}")
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            checkpoint()
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode, noise_strength)
            w_idx += block.num_conv
            if res == last:  # skip architecture: img already holds this resolution's full picture
                break
        assert img is not None and img.shape[-1] == last
        if img.shape[1] == 1:  # a greyscale model: the editor's API promises RGB, so grey RGB it is
            img = img.repeat(1, 3, 1, 1)
        return img


def init_generator(net: nn.Module, synthesis_cls: type, z_dim: int, w_dim: int, img_resolution: int,
                   img_channels: int, mapping_kwargs: dict | None, c_dim: int, synthesis_kwargs: dict) -> None:
    """What StyleGAN2 and StyleGAN3 generators share: the protocol's fields and the synthesis network."""
    if c_dim:
        raise ValueError(f"conditional generators (c_dim={c_dim}) are not supported")
    # Kept (like NVIDIA's persistence init_kwargs) so a network can be described, rebuilt or re-saved.
    net.init_kwargs = dict(z_dim=z_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                           mapping_kwargs=dict(mapping_kwargs or {}), **synthesis_kwargs)
    net.z_dim, net.w_dim, net.c_dim = z_dim, w_dim, 0
    net.img_resolution = net.resolution = img_resolution
    net.img_channels = img_channels
    net.synthesis = synthesis_cls(w_dim, img_resolution, img_channels, **synthesis_kwargs)
    net.num_ws = net.synthesis.num_ws
    net.layer_resolutions = list(net.synthesis.layer_resolutions)
    net.preview_sizes = tuple(getattr(net.synthesis, "preview_sizes", ()))


class StyleGAN2(nn.Module):
    """The whole generator: `mapping` and `synthesis` submodules, named as in NVIDIA's state dict.

    The submodules are called with the editor's protocol signatures: `net.mapping(z) -> w` and
    `net.synthesis(ws, noise_mode, noise_strength, size) -> image`.
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3,
                 mapping_kwargs: dict | None = None,
                 c_dim: int = 0,  # NVIDIA's label size; only unconditional (0) generators are built
                 **synthesis_kwargs):  # channel_base, channel_max, num_fp16_res, conv_clamp, architecture, ...
        super().__init__()
        init_generator(self, SynthesisNetwork, z_dim, w_dim, img_resolution, img_channels, mapping_kwargs, c_dim,
                       synthesis_kwargs)
        self.mapping = MappingNetwork(z_dim, w_dim, num_ws=self.num_ws, **(mapping_kwargs or {}))

    def param_resolution(self, name: str) -> int | None:
        """The resolution a parameter or buffer works at (None: the mapping network), for layer swapping."""
        parts = name.split(".")
        if parts[0] == "mapping":
            return None
        if parts[0] == "synthesis" and len(parts) > 1 and parts[1][:1] == "b" and parts[1][1:].isdigit():
            return int(parts[1][1:])
        raise KeyError(f"unknown StyleGAN2 parameter {name!r}")

    def forward(self, z: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """z -> image with every layer given the same w (no truncation); for quick checks."""
        w = self.mapping(z)
        return self.synthesis(w.unsqueeze(1).expand(-1, self.num_ws, -1), noise_mode=noise_mode)


@torch.no_grad()
def _style_affines(net: "StyleGAN2") -> list[list[torch.Tensor]]:
    """For each w+ row, the affine weights [C, w_dim] that read it, with their run-time gain (for SeFa).
    Follows the blocks' w accounting: a block reads conv0, conv1, torgb in order; the torgb row is shared
    with the next block's conv0."""
    rows: list[list[torch.Tensor]] = [[] for _ in range(net.num_ws)]
    w_idx = 0
    for res in net.synthesis.block_resolutions:
        block = getattr(net.synthesis, f"b{res}")
        layers = [m for m in (getattr(block, "conv0", None), block.conv1) if m is not None]
        if block.num_torgb:
            layers.append(block.torgb)
        for i, layer in enumerate(layers):
            rows[w_idx + i].append(layer.affine.weight * layer.affine.weight_gain)
        w_idx += block.num_conv
    return rows


StyleGAN2.style_affines = _style_affines
