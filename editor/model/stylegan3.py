"""StyleGAN3 (alias-free) generator in plain PyTorch, with NVIDIA's parameter names so official weights copy by name.

Mirrors the classes of NVIDIA's `training/networks_stylegan3.py` (-T and -R configs): SynthesisInput (Fourier
features of a fixed set of frequencies, rotated/translated per w and by the user `transform`), SynthesisLayer
(modulated conv + filtered leaky ReLU, resampling between layers' sampling rates) and the final ToRGB layer;
the mapping network is StyleGAN2's. A StyleGAN3 built from G_ema's init kwargs (nvidia_options.stylegan3_kwargs)
takes G_ema's state dict key for key, including the low-pass filters, which are data in the file.

Editor-facing differences from NVIDIA (same spirit as stylegan2.py): `synthesis(ws, noise_mode,
noise_strength, size)` (StyleGAN3 has no noise inputs: the noise arguments are accepted and have no effect;
no previews: every layer is needed for the image), no fp16 machinery, and `set_input_transform` to move and
rotate the picture the way NVIDIA's gen_images.py does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .call_inputs import current
from .interrupt import checkpoint
from .protocol import check_noise_mode
from .stylegan2 import FullyConnectedLayer, MappingNetwork, init_generator
from .stylegan3_ops import design_lowpass, filtered_lrelu, modulated_conv2d


def _pow2_floor(x: float) -> int:
    return 1 << max(int(math.floor(math.log2(max(x, 1.0)) + 1e-9)), 0)


class SynthesisInput(nn.Module):
    """Fourier features: `channels` sinusoids of random fixed frequencies within `bandwidth`, sampled on a
    size² grid at `sampling_rate` samples per unit (the image spans one unit), then mixed by a learned matrix.

    w sets a rotation and translation of the sampling grid (how StyleGAN3 poses the face); the `transform`
    buffer composes a user-chosen one on top (inverse, wrt. the resulting image, as NVIDIA stores it).
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.channels, self.size = channels, size
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # Frequencies uniform-ish in a disc of radius `bandwidth` (NVIDIA's init; a loaded file overwrites them).
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():  # starts as the identity pose: (cos, sin, tx, ty) = (1, 0, 0, 0)
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        b, dt = w.shape[0], w.dtype
        t = self.affine(w)  # (cos, sin, tx, ty) of the pose, up to scale
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device, dtype=dt)
        rot = eye.repeat(b, 1, 1)  # inverse rotation and translation wrt. the image
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        move = eye.repeat(b, 1, 1)
        move[:, 0, 2], move[:, 1, 2] = -t[:, 2], -t[:, 3]
        inputs = current()  # a per-call move/turn (editor.model.call_inputs) wins over the stored one
        user = inputs.transform if inputs is not None and inputs.transform is not None else self.transform
        m = rot @ move @ user.to(w.device, dt)[None]
        # Moving the grid = shifting each sinusoid's phase; rotating it = rotating the frequencies.
        phases = self.phases.to(dt)[None] + (self.freqs.to(dt)[None] @ m[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.to(dt)[None] @ m[:, :2, :2]  # [B, C, 2]
        # A user transform could in principle push frequencies past the band; fade those out.
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # Sample centres in image units (NVIDIA's affine_grid with align_corners=False, written out).
        coord = (torch.arange(self.size, device=w.device, dtype=dt) + 0.5 - self.size / 2) / self.sampling_rate
        x = (coord[None, None, :, None] * freqs[:, None, None, :, 0]      # [B, 1, W, C]: x * f_x
             + coord[None, :, None, None] * freqs[:, None, None, :, 1]    # [B, H, 1, C]: y * f_y
             + phases[:, None, None, :])
        x = torch.sin(x * (2 * math.pi)) * amp[:, None, None, :]
        x = x @ (self.weight.to(dt) / math.sqrt(self.channels)).t()
        # [B, C, H, W] viewed from channels-last memory, which is how the convolutions run fastest on CPU.
        return x.permute(0, 3, 1, 2)


class SynthesisLayer(nn.Module):
    """Modulated conv, then filtered leaky ReLU from the input to the output sampling rate (or the final
    ToRGB: 1x1 conv, no demodulation, no activation)."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, in_channels: int, out_channels: int,
                 in_size: int, out_size: int, in_sampling_rate: int, out_sampling_rate: int, in_cutoff: float,
                 out_cutoff: float, in_half_width: float, out_half_width: float, conv_kernel: int = 3,
                 filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256, magnitude_ema_beta: float = 0.999):
        super().__init__()
        del magnitude_ema_beta  # training only (how fast magnitude_ema tracks); the stored value is what counts
        self.is_torgb, self.in_channels, self.out_channels = is_torgb, in_channels, out_channels
        self.in_size, self.out_size = in_size, out_size
        self.out_sampling_rate, self.out_cutoff = out_sampling_rate, float(out_cutoff)
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        # The nonlinearity runs at a raised rate (lrelu_upsampling x the higher of in/out) to limit aliasing.
        tmp_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.up_factor = int(round(tmp_rate / in_sampling_rate))
        self.down_factor = int(round(tmp_rate / out_sampling_rate))
        if in_sampling_rate * self.up_factor != tmp_rate or out_sampling_rate * self.down_factor != tmp_rate:
            raise ValueError("sampling rates are not integer multiples of each other")
        up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        radial = use_radial_filters and not is_critically_sampled

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))  # input RMS² tracked in training: 1/sqrt = input gain
        self.register_buffer("up_filter", design_lowpass(up_taps, in_cutoff, in_half_width * 2, tmp_rate))
        self.register_buffer("down_filter", design_lowpass(down_taps, out_cutoff, out_half_width * 2, tmp_rate,
                                                           radial=radial))
        # Padding of the upsampled image so that, after both filters, exactly out_size samples remain, placed
        # symmetrically about the centre (the paper's Appendix C.3 sample-position convention).
        total = ((out_size - 1) * self.down_factor + 1 - (in_size + self.conv_kernel - 1) * self.up_factor
                 + up_taps + down_taps - 2)
        lo = (total + self.up_factor) // 2
        self.padding = [lo, total - lo, lo, total - lo]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (self.in_channels, self.in_size, self.in_size), (list(x.shape), self.in_size)
        styles = self.affine(w)
        if self.is_torgb:  # no demodulation: equalized learning rate lives in the styles
            styles = styles * (1 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        x = modulated_conv2d(x, self.weight, styles, padding=self.conv_kernel - 1, demodulate=not self.is_torgb,
                             input_gain=self.magnitude_ema.rsqrt())
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up_factor, self.down_factor,
                              self.padding, gain=1.0 if self.is_torgb else math.sqrt(2),
                              slope=1.0 if self.is_torgb else 0.2, clamp=self.conv_clamp)


def layer_schedule(img_resolution: int, channel_base: int, channel_max: int, num_layers: int, num_critical: int,
                   first_cutoff: float, first_stopband: float, last_stopband_rel: float, margin_size: int,
                   img_channels: int) -> dict[str, np.ndarray]:
    """The paper's per-layer design (Sec. 4 / Appendix F): cutoffs and stopbands grow geometrically from
    the first layer to the last (num_critical) layers; sampling rates are the powers of two that hold the
    stopband; sizes add a margin; channels shrink as the cutoff grows. Index i = layer Li (0 = input)."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    return dict(cutoffs=cutoffs, rates=rates, half_widths=half_widths, sizes=sizes, channels=channels)


class SynthesisNetwork(nn.Module):
    """ws [B, num_layers + 2, w_dim] -> image: the input, num_layers layers `L{i}_{size}_{channels}`, ToRGB."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs):
        super().__init__()
        del num_fp16_res  # the caller chooses the dtype for the whole network
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws, self.output_scale = num_layers + 2, output_scale
        s = layer_schedule(img_resolution, channel_base, channel_max, num_layers, num_critical, first_cutoff,
                           first_stopband, last_stopband_rel, margin_size, img_channels)
        c, rates, sizes, ch, hw = s["cutoffs"], s["rates"], s["sizes"], s["channels"], s["half_widths"]
        self.input = SynthesisInput(w_dim, int(ch[0]), int(sizes[0]), rates[0], c[0])
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(w_dim, is_torgb=idx == num_layers,
                                   is_critically_sampled=idx >= num_layers - num_critical, in_channels=int(ch[prev]),
                                   out_channels=int(ch[idx]), in_size=int(sizes[prev]),
                                   out_size=int(sizes[idx]), in_sampling_rate=int(rates[prev]),
                                   out_sampling_rate=int(rates[idx]), in_cutoff=c[prev], out_cutoff=c[idx],
                                   in_half_width=hw[prev], out_half_width=hw[idx], **layer_kwargs)
            name = f"L{idx}_{layer.out_size}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)
        # w row 0 drives the input, row i + 1 layer Li. The resolution a row "acts at", for the coarse /
        # middle / fine groups, is the detail its layer produces: a signal band-limited to cutoff f carries
        # what a StyleGAN2 layer of resolution 2f does (floored to a power of two). The sampling rate itself
        # is oversampled (16² already at the first layers), which would leave no coarse layers at all.
        self.sampling_rates = [int(rates[0])] + [int(r) for r in rates]
        self.layer_resolutions = [_pow2_floor(2 * c[0])] + [_pow2_floor(2 * f) for f in c]

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", noise_strength: float = 1.0,
                size: int | None = None) -> torch.Tensor:
        check_noise_mode(noise_mode)  # StyleGAN3 has no noise inputs: accepted for the common API, unused
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), \
            f"ws must be [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}"
        if size not in (None, self.img_resolution):
            raise ValueError(f"a StyleGAN3 renders only at {self.img_resolution}, not {size}")
        rows = ws.unbind(dim=1)
        x = self.input(rows[0])
        for name, w in zip(self.layer_names, rows[1:]):
            checkpoint()
            x = getattr(self, name)(x, w)
        x = x * self.output_scale
        return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x  # greyscale models shown as grey RGB


def make_transform(tx: float, ty: float, angle_deg: float) -> np.ndarray:
    """The forward image transform of NVIDIA's gen_images.py: rotate by angle, then move by (tx, ty) in image
    widths (+x right, +y down)."""
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), math.sin(a), tx], [-math.sin(a), math.cos(a), ty], [0.0, 0.0, 1.0]])


class StyleGAN3(nn.Module):
    """The whole generator: `mapping` (StyleGAN2's) and `synthesis`, named as in NVIDIA's state dict."""

    def __init__(self, z_dim: int = 512, w_dim: int = 512, img_resolution: int = 1024, img_channels: int = 3,
                 mapping_kwargs: dict | None = None, c_dim: int = 0, **synthesis_kwargs):
        super().__init__()
        mapping_kwargs = dict(mapping_kwargs or {})
        init_generator(self, SynthesisNetwork, z_dim, w_dim, img_resolution, img_channels, mapping_kwargs, c_dim,
                       synthesis_kwargs)  # no previews: every layer is needed for the image
        # StyleGAN3's mapping always keeps w_avg (whatever w_avg_beta): the buffer is in every file.
        self.mapping = MappingNetwork(z_dim, w_dim, num_ws=self.num_ws, num_layers=mapping_kwargs.get("num_layers", 2),
                                      lr_multiplier=mapping_kwargs.get("lr_multiplier", 0.01), w_avg_beta=0.998)

    # ------------------------------------------------------------------------------- input transform
    supports_input_transform = True

    @torch.no_grad()
    def set_input_transform(self, tx: float = 0.0, ty: float = 0.0, angle_deg: float = 0.0) -> None:
        """Move the picture by (tx, ty) image widths and rotate it by angle_deg (counter-clockwise as shown),
        by re-sampling the Fourier input: StyleGAN3 renders the moved face, not a resampled image of it.
        (0, 0, 0) is the identity. The buffer holds the inverse, as in NVIDIA's pickles."""
        inverse = np.linalg.inv(make_transform(float(tx), float(ty), float(angle_deg)))
        buf = self.synthesis.input.transform
        buf.copy_(torch.from_numpy(inverse).to(buf.dtype))

    def input_transform(self) -> tuple[float, float, float]:
        """(tx, ty, angle_deg) as last set."""
        m = np.linalg.inv(self.synthesis.input.transform.double().cpu().numpy())
        return float(m[0, 2]), float(m[1, 2]), math.degrees(math.atan2(m[0, 1], m[0, 0]))

    # ------------------------------------------------------------------------------- editor protocol
    def param_resolution(self, name: str) -> int | None:
        """The resolution a parameter or buffer works at (None: the mapping network), for layer swapping."""
        parts = name.split(".")
        if parts[0] == "mapping":
            return None
        if parts[0] == "synthesis" and len(parts) > 1:
            if parts[1] == "input":
                return self.layer_resolutions[0]
            if parts[1] in self.synthesis.layer_names:
                return self.layer_resolutions[self.synthesis.layer_names.index(parts[1]) + 1]
        raise KeyError(f"unknown StyleGAN3 parameter {name!r}")

    @torch.no_grad()
    def style_affines(self) -> list[list[torch.Tensor]]:
        """For each w+ row, the affine weights [C, w_dim] that read it, with their run-time gain (for SeFa)."""
        syn = self.synthesis
        layers = [syn.input] + [getattr(syn, n) for n in syn.layer_names]
        return [[m.affine.weight * m.affine.weight_gain] for m in layers]

    def forward(self, z: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """z -> image with every layer given the same w (no truncation); for quick checks."""
        w = self.mapping(z)
        return self.synthesis(w.unsqueeze(1).expand(-1, self.num_ws, -1), noise_mode=noise_mode)
