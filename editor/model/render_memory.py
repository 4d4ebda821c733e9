"""How much memory one full render will take, and the load-time refusal when the machine cannot give it.

A model file can be legitimately shaped and tiny while asking for a huge render: the file holds weights,
which are few, but activations scale with resolution² times channels. Measured before this guard: a
0.12 MB StyleGAN3 with 2 channels at 4096² loaded in 1 s and then took 2 GB at its first render; at 8192²
it would be ~8 GB and could take the machine down. So `load_generator` calls `check_render_memory` before
the first render (the precision trial in `Generator`) and refuses with a CheckpointError naming the file.

The estimates are per architecture, from the network's own configuration (a net built on the meta device
works too: only module attributes are read), fp32, batch 1. For each stage (a resolution) they add up the
tensors *our* forward pass (stylegan2.py, stylegan3*.py, mobilestylegan.py) holds at once at its worst
step, plus the stage after the network (contiguous copy, uint8 conversion for display). Our code, not the
papers', decides what is alive: e.g. our StyleGAN3 resamples a group of channels at a time, so only one
group's upsampled image counts. Then:
  * channels are counted padded to 16 (`_padded`): oneDNN reorders tiny-channel tensors into blocked
    layouts, and tiny channel counts are exactly what a crafted file uses;
  * StyleGAN3 takes its largest stage; StyleGAN2 and MobileStyleGAN the sum of their stages, because their
    blocks double in size and the heap (kept by device.keep_freed_memory) cannot reuse smaller freed blocks;
  * a factor per architecture, fitted so that the estimate is above the peak RSS growth measured for one
    render in a fresh process (23 configs, 128²-2048², 2-1024 channels; allocator fragmentation and torch's
    scratch buffers are real memory too). Ratios estimate/measured are noted at each factor.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import CheckpointError

BYTES = 4  # fp32: the precision trial's reference render, and the fallback when reduced precision fails
# No face model is published above 1024²; 4096² leaves room for upscaled custom ones. Above 8192² nothing is
# rendered, whatever the memory: the image alone is 0.8 GB in fp32 per frame at 8192², the view holds
# several, and a CPU render would take many minutes. Up to it, the memory check alone decides.
MAX_RESOLUTION = 8192
# Share of the free memory a render may plan to use: the rest of the app (the current model, Qt's images,
# the render cache) and other programs keep working while a new model loads.
USABLE_FRACTION = 0.9

# Fitted factors. Measured on a 2-core AVX512-BF16 machine (torch's CPU kernels, keep_freed_memory on),
# estimate / measured peak RSS growth of one render through Generator:
SG3_FACTOR = 1.25   # 1.11-1.69 at 16-1024 channels, 256-1024² (NVIDIA's own shapes: -T 256² 1.24, -R 256²
#                     1.43, -R 1024² 1.69 = 4.5 GB / 2.66 GB); 2.0-3.8 for 2-8 channels at 1024-2048²
SG2_FACTOR = 1.25   # 1.30-1.69 at 64-512 channels, 256-1024² (FFHQ's shapes: 2.16 GB / 1.66 GB); 2.0-2.9 at
#                     8-32 channels, 1024² (the heap's layout varies: 337-478 MB measured); 4.5-4.7 at 2048²
MOBILE_FACTOR = 1.25  # 1.5-2.7 (the default model at 1024²: 631 MB estimated, 301 MB measured)
# The first render's fixed cost whatever the model: oneDNN's kernels and per-thread buffers (measured 14 MB
# for a 128² MobileStyleGAN whose activations are 1 MB).
FIXED_BYTES = 32 << 20


def _image_stage(channels: int, res: int) -> int:
    """Elements alive after the network: the image, its contiguous copy and to_uint8's two float temps."""
    return 4 * max(channels, 3) * res * res


def _padded(channels: int) -> int:
    """oneDNN's blocked layouts on AVX-512 pad channels to 16: a 2-channel activation in one of its
    reorders takes what a 16-channel one does (measured: a 2-channel StyleGAN3 at 1024² peaks at 753 MB,
    more than the same at 2048², where our channel groups of one are plain images)."""
    return -(-channels // 16) * 16


def _add(stages: dict[int, int], key: int, live: int) -> None:
    stages[key] = max(stages.get(key, 0), live)


# ------------------------------------------------------------------------------------------------ StyleGAN3
def _stylegan3_stages(synthesis) -> dict[int, int]:
    from .stylegan3_ops import CHUNK_ELEMENTS
    inp = synthesis.input
    # SynthesisInput: the [H, W, C] phase grid, its sine and the mixed features, all at the first size.
    stages = {inp.size: 3 * inp.channels * inp.size ** 2}
    for name in synthesis.layer_names:
        layer = getattr(synthesis, name)
        conv = layer.in_size + layer.conv_kernel - 1  # the conv output: padded to grow by k - 1
        up, (x0, x1, y0, y1) = layer.up_factor, layer.padding
        uh, uw = conv * up + y0 + y1, conv * up + x0 + x1  # the upsampled, padded image filtered_lrelu makes
        # filtered_lrelu runs `group` channels at a time once the whole upsampled image passes CHUNK_ELEMENTS
        # (a group of one channel is a plain image: nothing to pad).
        co = layer.out_channels
        group = min(co, max(1, co * CHUNK_ELEMENTS // max(co * uh * uw, 1)))
        ci, co, group = _padded(layer.in_channels), _padded(co), (_padded(group) if group > 1 else 1)
        live = (ci * layer.in_size ** 2  # the layer's input, held by the caller
                + 2 * co * conv ** 2     # conv output, and its biased copy inside filtered_lrelu
                + 3 * group * uh * uw    # the group's padded W pass, H pass before and after its crop
                + 2 * co * layer.out_size ** 2)  # the groups' outputs, and their concatenation
        _add(stages, max(layer.in_size, layer.out_size), live)
    return stages


# ------------------------------------------------------------------------------------------------ StyleGAN2
def _stylegan2_stages(synthesis) -> dict[int, int]:
    stages: dict[int, int] = {}
    img_channels = synthesis.img_channels
    threads = torch.get_num_threads()
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        real_co = block.conv1.out_channels
        co = _padded(real_co)
        ci = _padded(block.in_channels) if block.in_channels else co
        x = co * (res + 3) ** 2  # the up conv's blur pads its (2r + 1)² output to (2r + 3)²: the largest
        # conv1: its input (held by the block) + bias_act's caller copy, x + b, the lrelu temp and the gain
        # product; the resnet shortcut stays alive through both convs; conv0's input is a quarter size.
        live = 5 * x + (x if block.architecture == "resnet" else 0) + ci * (res // 2) ** 2
        # The 4x4 blur after the up conv runs through torch's im2col path: a 16-tap column buffer of the
        # whole image per channel, one per thread at a time (measured: +470 MB for 2 channels at 2048²).
        live += min(real_co, threads) * 16 * (res + 3) ** 2 if block.in_channels else 0
        live += 3 * img_channels * res ** 2  # the skip image, its upsampled copy and this block's ToRGB
        _add(stages, res, live)
    return stages


# ------------------------------------------------------------------------------------------ MobileStyleGAN
def _mobile_stages(net) -> dict[int, int]:
    c = net.config
    stages = {4: 3 * c.channels[0] * 16}
    for i, (ci, co) in enumerate(zip(c.channels[:-1], c.channels[1:])):
        ci, co = _padded(ci), _padded(co)
        size = 2 ** (i + 3)
        # The inverse-wavelet upsample (input, grouped conv, pixel shuffle: same elements each), then each
        # separable conv's input, depthwise output and pointwise output at the block's size.
        _add(stages, size, max(3 * ci * (size // 2) ** 2, 2 * (ci // 4) * size ** 2 + co * size ** 2,
                               3 * co * size ** 2))
    half = c.resolution // 2
    # to_wavelets.image: its input, the pointwise conv to the 4 pixels of each cell, the pixel shuffle.
    _add(stages, c.resolution, c.channels[-1] * half ** 2 + 2 * 4 * c.img_channels * half ** 2)
    return stages


def render_bytes(net) -> int:
    """Estimated peak of one full render of `net` at batch 1 in fp32 (activations only: the weights are
    already resident), in bytes. Works on a net built on the meta device."""
    from .mobilestylegan import MobileStyleGAN
    from .stylegan2 import SynthesisNetwork as SG2Synthesis
    from .stylegan3 import SynthesisNetwork as SG3Synthesis
    res, channels = int(net.resolution), int(net.img_channels)
    # StyleGAN2's and MobileStyleGAN's heap grows by each doubling block's live set: their peak is the sum of
    # the stages (measured: FFHQ-shaped StyleGAN2 at 1024², 1.66 GB against a 0.92 GB largest stage; 1.70
    # GB summed). StyleGAN3's last layers share one size, and the freed blocks of one serve the next.
    if isinstance(net, MobileStyleGAN):
        stages, factor, summed = _mobile_stages(net), MOBILE_FACTOR, True
    elif isinstance(net.synthesis, SG3Synthesis):
        stages, factor, summed = _stylegan3_stages(net.synthesis), SG3_FACTOR, False
    elif isinstance(net.synthesis, SG2Synthesis):
        stages, factor, summed = _stylegan2_stages(net.synthesis), SG2_FACTOR, True
    else:
        raise TypeError(f"no render-memory estimate for {type(net).__name__}")
    _add(stages, res, _image_stage(channels, res))
    elements = sum(stages.values()) if summed else max(stages.values())
    return int(factor * BYTES * elements) + FIXED_BYTES


def weight_bytes(net) -> int:
    """fp32 bytes of the weights: needed again on a GPU, and half again for a reduced-precision copy."""
    return BYTES * sum(t.numel() for t in (*net.parameters(), *net.buffers()))


# A worker process's own cost before any render: Python, torch and oneDNN's runtime (measured 227 MB RSS
# after the imports on Linux x86-64, torch 2.13 CPU; 250 leaves room for the edit library and images).
PROCESS_BYTES = 250 << 20


def workers_that_fit(net, device: torch.device, requested: int) -> tuple[int, str | None]:
    """How many of `requested` worker processes, each loading `net` and rendering at full size, fit in
    the usable free memory: (workers, None), or (fewer, why) so the caller can say so. Each worker checks
    its own render at load, but they load at once and each sees the same free memory, so together they
    could take far more than any one was promised (batch --workers 8 on a 4 GB laptop)."""
    per = PROCESS_BYTES + render_bytes(net) + 2 * weight_bytes(net)
    free, label = available_bytes(device)
    if free is None or requested <= 1:
        return max(1, requested), None
    fit = max(1, int(USABLE_FRACTION * free // per))
    if fit >= requested:
        return requested, None
    return fit, (f"{requested} workers would need about {_gb(requested * per)} of memory "
                 f"({_gb(per)} each); {_gb(free)} {label}: using {fit}")


# ------------------------------------------------------------------------------------------- free memory
def available_bytes(device: torch.device) -> tuple[int | None, str]:
    """(bytes a render can have on `device`, "free" or "in all"). On CUDA the GPU's free memory plus what
    torch's allocator holds unused; elsewhere (CPU, and MPS's unified memory) the RAM: MemAvailable on Linux
    (free + reclaimable cache), psutil's figure where it is installed, else total physical memory, an upper
    bound that still catches absurd requests. (None, "") when nothing says."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        unused = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + unused), "free"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "free"
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available), "free"
    except Exception:  # noqa: BLE001 - not installed (it is not a dependency), or unsupported here
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")), "in all"
    except (AttributeError, ValueError, OSError):
        return None, ""


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------------ work
# Multiply-adds of one StyleGAN3 render, channels padded as for memory (a 4-channel conv runs no faster than a
# 16-channel one): NVIDIA's published configs take 0.10-0.35 T (-T 1024²: 0.34 T; -R 1024²: 0.24 T; -R at
# 2048²: 0.27 T). A file's settings can stay in every option's range and still ask for 64 layers with 15x15
# kernels, 32-tap filters and 256-pixel margins: 1.7 T, 129 s a render measured. Three times the largest
# real model is refused.
MAX_SG3_MACS = 10 ** 12
LARGEST_SG3_MACS = 0.34e12  # NVIDIA's StyleGAN3-T at 1024², by sg3_render_macs


def sg3_render_macs(synthesis) -> int:
    """Multiply-adds of one render of a StyleGAN3 synthesis network (meta-built works): each layer's
    modulated conv, its separable (or radial) up- and down-sampling filters, channels padded to 16."""
    total = 0
    for name in synthesis.layer_names:
        layer = getattr(synthesis, name)
        k = layer.conv_kernel
        conv = layer.in_size + k - 1
        x0, x1, y0, y1 = layer.padding
        uh, uw = conv * layer.up_factor + y0 + y1, conv * layer.up_factor + x0 + x1
        co, ci, out = _padded(layer.out_channels), _padded(layer.in_channels), layer.out_size
        total += co * ci * k * k * conv * conv
        fu, fd = layer.up_filter, layer.down_filter
        total += co * (conv * conv + conv * uw) * (fu.shape[-1] if fu is not None else 1)
        if fd is not None and fd.ndim == 2:
            total += co * out * out * fd.shape[0] * fd.shape[1]
        elif fd is not None:
            total += co * (uh * out + out * out) * fd.shape[-1]
    return total


def check_render_work(net, path: str | Path | None) -> None:
    """CheckpointError for a StyleGAN3 whose render would take far more work than any real one."""
    from .stylegan3 import SynthesisNetwork as SG3Synthesis
    if not isinstance(getattr(net, "synthesis", None), SG3Synthesis):
        return
    macs = sg3_render_macs(net.synthesis)
    if macs > MAX_SG3_MACS:
        raise CheckpointError(path, f"a render would take about {macs / 1e12:.1f} T multiply-adds (its layers, "
                                    f"kernels, filters and margins); NVIDIA's largest StyleGAN3 takes "
                                    f"{LARGEST_SG3_MACS / 1e12:.2f} T, and this editor refuses above "
                                    f"{MAX_SG3_MACS / 1e12:.0f} T (minutes a frame)")


def check_render_memory(net, path: str | Path | None, device: torch.device) -> int:
    """The bytes one render of `net` needs (activations and a second copy of the weights: on a GPU, or the
    reduced-precision copy) if `device` can give them; else a CheckpointError in the user's words: the
    resolution, the memory it would need and what is free."""
    res = int(net.resolution)
    if res > MAX_RESOLUTION:
        raise CheckpointError(path, f"makes {res}×{res} images; this editor renders at most "
                                    f"{MAX_RESOLUTION}×{MAX_RESOLUTION} (face models are made at 256-1024)")
    check_render_work(net, path)
    need = render_bytes(net) + weight_bytes(net)
    free, label = available_bytes(device)
    if free is not None and need > USABLE_FRACTION * free:
        where = "the GPU" if device.type == "cuda" else "this machine"
        raise CheckpointError(path, f"a {res}×{res} render would need about {_gb(need)} of memory; {where} has "
                                    f"{_gb(free)} {label}")
    return need
