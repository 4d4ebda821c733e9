"""MobileStyleGAN (arXiv 2104.04767) re-implemented for editing: w+ in, wavelets out.

The network predicts Haar wavelet coefficients instead of pixels and grows them with depthwise-separable
modulated convolutions. Three facts of the distilled FFHQ model shape this port:
- Demodulation uses a fixed `style_inv` buffer, not the style, so it is a constant per output channel;
  the converter folds it (and the modulation's 1/sqrt(fan_in)) into the weights. Modulation stays
  style dependent, and for a single image we fold it into the pointwise weight too (one pass less over
  the largest tensors; see `_modulated_pointwise`).
- The traced model feeds one w to every style affine. We give each affine its own w+ row (23 of them),
  which is what makes per-layer mixing possible: 0 = the 4² conv, then per block i (8² .. 512²)
  1+3i = IDWT upsample, 2+3i = conv1, 3+3i = conv2, and 22 = the final to-wavelets layer.
- Noise maps were traced as constants already multiplied by their learned strength; their standard
  deviation is that strength, which is what 'random' noise is drawn with.
The traced model kept no to-image layers for the inner blocks. Previews therefore run the whole
network, every w+ row included, with only the last (most expensive) block at half resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .call_inputs import detail_for, name_modules, tuned
from .interrupt import checkpoint
from .protocol import check_noise_mode

LRELU_SLOPE = 0.2


def param_row(name: str, num_ws: int) -> int | None:
    """The w+ row a synthesis parameter or layer works for (e.g. "blocks.2.conv1.weight_pw" -> 8); None for
    the mapping network and const."""
    parts = name.split(".")
    if parts[0] == "conv1":
        return 0
    if parts[0] == "to_wavelets":
        return num_ws - 1
    if parts[0] == "blocks":
        return 1 + 3 * int(parts[1]) + {"up": 0, "conv1": 1, "conv2": 2}[parts[2]]
    return None


@dataclass(frozen=True)
class MobileConfig:
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    # Hidden channels: the 4² stage, then the output of each block at 8², 16², ... (the last at resolution/2).
    channels: tuple[int, ...] = (512, 512, 512, 512, 512, 256, 128, 64)
    # Preview sizes (below full): the last block at half resolution, shrunk to the size asked.
    preview_sizes: tuple[int, ...] = (256, 512)
    img_channels: int = 3

    @property
    def num_blocks(self) -> int:
        return len(self.channels) - 1

    @property
    def resolution(self) -> int:
        return 2 ** (self.num_blocks + 3)  # 4² stage, num_blocks doublings, then the final IDWT doubles again

    @property
    def num_ws(self) -> int:
        return 2 + 3 * self.num_blocks


# Haar synthesis as a 4x4 matrix on each channel's (low, LH, HL, HH) coefficients, giving the 2x2 output
# pixels (0,0), (0,1), (1,0), (1,1). Rows carry the LH sign, columns the HL sign, as in pytorch_wavelets' db1
# synthesis the model was trained with. The matrix is orthonormal, so its transpose is the analysis.
_HAAR = 0.5 * torch.tensor([[1.0, 1.0, 1.0, 1.0],
                            [1.0, 1.0, -1.0, -1.0],
                            [1.0, -1.0, 1.0, -1.0],
                            [1.0, -1.0, -1.0, 1.0]])


def interleave_bands(channels: int) -> list[int]:
    """Permutation from the trained layout [low (q), high (q x 3)] to ours, where each channel's four
    coefficients are adjacent (4c + band). Applied to weights once at conversion, it turns the inverse
    transform into one small matmul and a reshape instead of a dozen passes over the tensor."""
    q = channels // 4
    return [c if k == 0 else q + 3 * c + k - 1 for c in range(q) for k in range(4)]


def haar_synthesis(x: torch.Tensor) -> torch.Tensor:
    """Inverse 2-D Haar: [B, 4q, H, W] with interleaved bands -> [B, q, 2H, 2W] (channels_last strides)."""
    b, c4, h, w = x.shape
    q = c4 // 4
    bands = x.permute(0, 2, 3, 1).reshape(b, h, w, q, 4)  # a view when x is channels_last
    pix = bands @ _HAAR.to(x.dtype).T  # [b, h, w, q, (r1, r2)]
    pix = pix.reshape(b, h, w, q, 2, 2).permute(0, 1, 4, 2, 5, 3).reshape(b, 2 * h, 2 * w, q)
    return pix.permute(0, 3, 1, 2)


def haar_analysis(img: torch.Tensor) -> torch.Tensor:
    """Forward Haar, the exact inverse of `haar_synthesis`: [B, q, 2H, 2W] -> [B, 4q, H, W] interleaved."""
    b, q, h2, w2 = img.shape
    h, w = h2 // 2, w2 // 2
    pix = img.permute(0, 2, 3, 1).reshape(b, h, 2, w, 2, q).permute(0, 1, 3, 5, 2, 4).reshape(b, h, w, q, 4)
    bands = pix @ _HAAR.to(img.dtype)
    return bands.reshape(b, h, w, 4 * q).permute(0, 3, 1, 2)


def _modulated_pointwise(x: torch.Tensor, style: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor | None) -> torch.Tensor:
    """1x1 conv of (style * x). One image: scale the weight's input columns (cheap). A batch: scale x."""
    if x.shape[0] == 1:
        return F.conv2d(x, weight * style.reshape(1, -1, 1, 1), bias)
    return F.conv2d(x * style[:, :, None, None], weight, bias)


def haar_pixel_weights(weight: torch.Tensor, bias: torch.Tensor | None = None):
    """A 1x1 conv producing interleaved Haar bands -> the same conv producing the four pixels of each 2x2
    output cell (pixel_shuffle order). Bands to pixels is linear, so it folds into the weights: one
    conv and a pixel shuffle replace the conv, a matmul over every pixel and two layout copies."""
    q = weight.shape[0] // 4
    haar = _HAAR.to(weight)
    w = torch.einsum("pk,qkc->qpc", haar, weight.reshape(q, 4, -1)).reshape(weight.shape)
    b = None if bias is None else (bias.reshape(q, 4) @ haar.T).reshape(-1)
    return w, b


def _haar_upsample(x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """haar_synthesis(x * style) as one grouped 1x1 conv (each channel's 4 bands -> its 4 pixels) and a
    pixel shuffle; for one image the style folds into that conv's weights."""
    q = x.shape[1] // 4
    haar = _HAAR.to(x.dtype).to(x.device)
    if x.shape[0] == 1:
        weight = (haar[None] * style.reshape(q, 1, 4)).reshape(4 * q, 4, 1, 1)
    else:
        x = x * style[:, :, None, None]
        weight = haar[None].expand(q, 4, 4).reshape(4 * q, 4, 1, 1)
    return F.pixel_shuffle(F.conv2d(x, weight, groups=q), 2)


# The tail of a preview runs the last block at half resolution. A 3x3 depthwise kernel k applied to a
# map upsampled by pixel repetition, then averaged back over each 2x2 cell, equals the 3x3 kernel
# M k M^T at the coarse resolution (exact for piecewise-constant maps; rows of M: coarse offsets -1, 0, 1;
# columns: fine offsets -1, 0, 1). It keeps each kernel's gain and halves its reach.
_COARSE = torch.tensor([[0.5, 0.0, 0.0],
                        [0.5, 1.0, 0.5],
                        [0.0, 0.0, 0.5]])


def coarse_kernel(weight_dw: torch.Tensor) -> torch.Tensor:
    m = _COARSE.to(weight_dw)
    return torch.einsum("ua,cab,vb->cuv", m, weight_dw[:, 0], m)[:, None]


class NoisyBiasAct(nn.Module):
    """Adds the layer's noise, then LeakyReLU. The bias is already added by the convolution before it."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("noise_const", torch.zeros(1, 1, size, size))  # traced map x learned strength
        self.register_buffer("noise_std", torch.zeros(()))  # the learned strength, for fresh maps

    def forward(self, x: torch.Tensor, noise_mode: str, strength: float) -> torch.Tensor:
        """At the layer's own size, or (preview tails) at a coarser one: the constant map averaged over
        each cell, fresh noise with the standard deviation such an average has."""
        # A photo's detail map (editor.photo.detail), a per-call input (editor.model.call_inputs): a
        # per-image input like the noise, but kept whatever the noise mode or strength.
        detail = detail_for(self)
        if detail is not None:
            if detail.shape[-1] != x.shape[-1]:
                detail = F.adaptive_avg_pool2d(detail, x.shape[-2:])
            x = x + detail  # not in place: the map may need its gradient (fitting it)
        if noise_mode == "const" and strength != 0:
            const = self.noise_const
            if const.shape[-1] != x.shape[-1]:
                const = F.adaptive_avg_pool2d(const, x.shape[-2:])
            x = x.add_(const, alpha=strength)
        elif noise_mode == "random" and strength != 0:
            scale = x.shape[-1] / self.noise_const.shape[-1]
            fresh = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)
            x = x.add_(fresh.mul_(self.noise_std * strength * scale))
        return F.leaky_relu_(x, LRELU_SLOPE)


class StyledConv3x3(nn.Module):
    """The 4² layer: a full 3x3 modulated conv (demodulation folded into `weight`)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, size: int):
        super().__init__()
        self.affine = nn.Linear(w_dim, c_in)
        self.weight = nn.Parameter(torch.zeros(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.act = NoisyBiasAct(size)

    def forward(self, x, w, noise_mode, strength):
        x = F.conv2d(x * self.affine(w)[:, :, None, None], tuned(self, "weight"), tuned(self, "bias"), padding=1)
        return self.act(x, noise_mode, strength)


class StyledDWConv(nn.Module):
    """Modulated depthwise 3x3 then pointwise 1x1 (demodulation folded into `weight_pw`).

    Modulation commutes with the depthwise conv (both act per channel), so it is applied to the
    pointwise weight instead of the activations.
    """

    def __init__(self, c_in: int, c_out: int, w_dim: int, size: int):
        super().__init__()
        self.affine = nn.Linear(w_dim, c_in)
        self.weight_dw = nn.Parameter(torch.zeros(c_in, 1, 3, 3))
        self.weight_pw = nn.Parameter(torch.zeros(c_out, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.act = NoisyBiasAct(size)

    def forward(self, x, w, noise_mode, strength, coarse: bool = False):
        dw = tuned(self, "weight_dw")
        kernel = coarse_kernel(dw) if coarse else dw
        x = F.conv2d(x, kernel, padding=1, groups=x.shape[1])
        x = _modulated_pointwise(x, self.affine(w), tuned(self, "weight_pw"), tuned(self, "bias"))
        return self.act(x, noise_mode, strength)


class IDWTUpsample(nn.Module):
    """Modulate, then read each group of four channels as one pixel's Haar bands and invert."""

    def __init__(self, c_in: int, w_dim: int):
        super().__init__()
        self.affine = nn.Linear(w_dim, c_in)

    def forward(self, x, w, coarse: bool = False):
        """coarse: stay at the input resolution, each pixel the mean of the 2x2 cell it would become
        (that mean is half the low band: the other bands add and subtract in equal parts)."""
        style = self.affine(w)
        if coarse:
            return x[:, 0::4] * (0.5 * style[:, 0::4, None, None])
        return _haar_upsample(x, style)


class ToWavelets(nn.Module):
    """Modulated 1x1 conv to 12 wavelet channels, 4 per colour (no demodulation)."""

    def __init__(self, c_in: int, w_dim: int, channels: int = 12):
        super().__init__()
        self.affine = nn.Linear(w_dim, c_in)
        self.weight = nn.Parameter(torch.zeros(channels, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x, w):
        return _modulated_pointwise(x, self.affine(w), tuned(self, "weight"), tuned(self, "bias"))

    def low_band(self, x, w):
        """The image at half size, exactly the 2x2 mean of `image` (Haar: each cell's mean is half its low
        coefficient), from the three low-band channels alone: no inverse transform, a quarter of the pixels."""
        return 0.5 * _modulated_pointwise(x, self.affine(w), tuned(self, "weight")[0::4], tuned(self, "bias")[0::4])

    def image(self, x, w):
        """haar_synthesis(self(x, w)), with the inverse transform folded into the conv's weights."""
        weight, bias = haar_pixel_weights(tuned(self, "weight"), tuned(self, "bias"))
        return F.pixel_shuffle(_modulated_pointwise(x, self.affine(w), weight, bias), 2)


class SynthesisBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int, size: int):
        super().__init__()
        self.up = IDWTUpsample(c_in, w_dim)
        self.conv1 = StyledDWConv(c_in // 4, c_out, w_dim, size)
        self.conv2 = StyledDWConv(c_out, c_out, w_dim, size)

    def forward(self, x, ws, noise_mode, strength, coarse: bool = False):  # ws: [B, 3, w_dim]
        """coarse: the whole block at its input resolution instead of twice it (a preview tail)."""
        x = self.up(x, ws[:, 0], coarse)
        x = self.conv1(x, ws[:, 1], noise_mode, strength, coarse)
        return self.conv2(x, ws[:, 2], noise_mode, strength, coarse)


class MappingNetwork(nn.Module):
    """Pixel norm, then `layers` x (linear, LeakyReLU, x sqrt 2). Equalized-lr scales are folded in."""

    def __init__(self, z_dim: int, w_dim: int, layers: int):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for fc in self.fcs:
            x = F.leaky_relu(fc(x), LRELU_SLOPE) * math.sqrt(2.0)
        return x


class MobileStyleGAN(nn.Module):
    """Mapping + synthesis with w+ input; fulfils editor.model.protocol.SynthesisNet."""

    def __init__(self, config: MobileConfig = MobileConfig()):
        super().__init__()
        c = config
        self.config = c
        self.z_dim, self.w_dim, self.img_channels = c.z_dim, c.w_dim, c.img_channels
        self.num_ws, self.resolution = c.num_ws, c.resolution
        self.preview_sizes = tuple(s for s in c.preview_sizes if s <= c.resolution // 2)
        # Sizes the network renders as the exact area-downsample of its full image (not an approximation
        # like the previews): every layer runs, only the last inverse wavelet step is skipped.
        self.exact_sizes = (c.resolution // 2,)
        self.layer_resolutions = [4] + [2 ** (i + 3) for i in range(c.num_blocks) for _ in range(3)] + [c.resolution]
        self.mapping_net = MappingNetwork(c.z_dim, c.w_dim, c.mapping_layers)
        self.const = nn.Parameter(torch.zeros(1, c.channels[0], 4, 4))
        self.conv1 = StyledConv3x3(c.channels[0], c.channels[0], c.w_dim, 4)
        self.blocks = nn.ModuleList(
            SynthesisBlock(c_in, c_out, c.w_dim, 2 ** (i + 3))
            for i, (c_in, c_out) in enumerate(zip(c.channels[:-1], c.channels[1:])))
        self.to_wavelets = ToWavelets(c.channels[-1], c.w_dim)
        name_modules(self)  # the keys of per-call weight deltas and detail maps

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        assert z.ndim == 2 and z.shape[1] == self.z_dim, f"z must be [B, {self.z_dim}], got {tuple(z.shape)}"
        return self.mapping_net(z)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                  size: int | None = None, exact: bool = False) -> torch.Tensor:
        """The full image, or a preview (`size` in preview_sizes): every layer runs, every w+ row acts,
        but the last block runs at half resolution, which saves most of its cost. The image is then the
        half-size render, shrunk to `size` by area if smaller (fidelity: see editor.model.fidelity)."""
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}"
        check_noise_mode(noise_mode)
        size = self.resolution if size is None else int(size)
        if exact:
            if size not in self.exact_sizes:
                raise ValueError(f"exact renders are {self.exact_sizes}, not {size}")
            x = self.const.expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, noise_strength)
            for i, block in enumerate(self.blocks):
                checkpoint()
                x = block(x, ws[:, 1 + 3 * i: 4 + 3 * i], noise_mode, noise_strength)
            return self.to_wavelets.low_band(x, ws[:, -1])
        if size != self.resolution and size not in self.preview_sizes:
            raise ValueError(f"size {size} is neither {self.resolution} nor a preview size {self.preview_sizes}")
        last = len(self.blocks) - 1
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.conv1(x, ws[:, 0], noise_mode, noise_strength)
        for i, block in enumerate(self.blocks):
            coarse = size != self.resolution and i == last
            checkpoint()
            x = block(x, ws[:, 1 + 3 * i: 4 + 3 * i], noise_mode, noise_strength, coarse)
        img = self.to_wavelets.image(x, ws[:, -1])
        if img.shape[-1] != size:
            img = F.adaptive_avg_pool2d(img, size)
        return img

    def param_resolution(self, name: str) -> int | None:
        """The feature resolution a parameter or buffer works at (None: the mapping network), for layer
        swapping between two models."""
        head, _, rest = name.partition(".")
        if head == "mapping_net":
            return None
        if head == "blocks":
            return 2 ** (int(rest.split(".")[0]) + 3)
        if head == "to_wavelets":
            return self.resolution
        if head in ("const", "conv1"):
            return 4
        raise KeyError(f"unknown MobileStyleGAN parameter {name!r}")

    def style_affines(self) -> list[list[torch.Tensor]]:
        """For each w+ row, the affine weights [C, w_dim] that read it (for SeFa)."""
        rows = [[self.conv1.affine.weight]]
        for b in self.blocks:
            rows += [[b.up.affine.weight], [b.conv1.affine.weight], [b.conv2.affine.weight]]
        return rows + [[self.to_wavelets.affine.weight]]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Files converted before previews were tails of the network itself still carry fitted linear
        # preview heads; they are no longer used.
        for key in [k for k in state_dict if k.startswith(prefix + "previews.")]:
            del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
