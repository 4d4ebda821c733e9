"""Edit -> image: the one function that turns an EditState into pixels.

The app's view, `render`, `batch`, `animate`, exports, direction evaluation and the benches all call
`render_edit`. Its steps, in order: compose the w+ (sources, mix, parents, directions), synthesise it with the
sources' photo deltas and detail maps and StyleGAN3's move/turn as per-call inputs (nothing is written into the
generator), then the edit's image-space layers (painted freckles, then the painted-portrait style), then the
size asked for. 'random' noise is drawn from generators of the call's own (a torch function mode, per thread),
seeded by the edit; an animation's noise loop mixes in a second set at `noise_phase`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode

from ..compose import Direction, wplus_for
from ..freckle_layer import paint_freckles
from ..model import to_uint8
from ..model.call_inputs import CallInputs, only
from ..paint import paint
from .photo_inputs import photo_inputs, source_deltas

SECOND_NOISE = 0x9E3779B9  # offset of the second noise seed of a loop (any fixed odd number would do)


class RenderError(ValueError):
    """The edit could not be rendered (NaN/inf pixels, a flat image, a model mismatch): never a file."""


class _OwnNoise(TorchFunctionMode):
    """torch.randn calls (the models' fresh noise maps) draw from this call's own generators: two threads
    rendering at once never draw each other's noise. At phase None the maps are N1, the edit's own; at phase
    φ they are cos(2πφ)·N1 + sin(2πφ)·N2 (unit variance at every phase, back to N1 after one turn)."""

    def __init__(self, seed: int, phase: float | None):
        super().__init__()
        self.seed, self.phase = seed, phase
        self.gens: dict[str, tuple[torch.Generator, torch.Generator | None]] = {}

    def _gens(self, device) -> tuple[torch.Generator, torch.Generator | None]:
        device = torch.device(device if device is not None else "cpu")
        key = str(device)
        if key not in self.gens:
            first = torch.Generator(device=device).manual_seed(self.seed)
            second = None
            if self.phase is not None:
                second = torch.Generator(device=device).manual_seed((self.seed + SECOND_NOISE) % 2 ** 32)
            self.gens[key] = (first, second)
        return self.gens[key]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func is not torch.randn or kwargs.get("generator") is not None:
            return func(*args, **kwargs)
        first, second = self._gens(kwargs.get("device"))
        n1 = func(*args, generator=first, **kwargs)
        if second is None:
            return n1
        n2 = func(*args, generator=second, **kwargs)
        angle = 2 * math.pi * self.phase
        return n1 * math.cos(angle) + n2 * math.sin(angle)  # phase 0: exactly n1


def image_layers(state: Any, directions: Mapping[str, Direction]) -> list[tuple[str, float]]:
    """The edit's image-space steps after synthesis, in order: ("freckles", strength 0..1) for a direction
    whose + side is painted, then ("paint", strength) for a painted-portrait style."""
    steps = []
    for name, amount in state.directions:
        d = directions.get(name)
        if d is not None and d.layer == "freckles" and amount > 0:
            steps.append(("freckles", amount / d.range))
    if state.paint != "none" and state.paint_strength > 0:
        steps.append(("paint", state.paint_strength))
    return steps


def apply_layers(image: np.ndarray, state: Any, steps: list[tuple[str, float]]) -> np.ndarray:
    for kind, strength in steps:
        image = paint_freckles(image, strength, state.noise_seed) if kind == "freckles" \
            else paint(image, state.paint, strength)
    return image


def shrink(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [size, size, 3]: a box average for a whole-number ratio (what the network's exact
    smaller sizes are), Lanczos otherwise (a face shrunk stays sharp, no aliasing)."""
    h = image.shape[0]
    if h == size and image.shape[1] == size:
        return image
    pil = Image.fromarray(image)
    if h % size == 0 and image.shape[1] == h:
        return np.asarray(pil.reduce(h // size))
    return np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS))


def check_image(img: torch.Tensor | np.ndarray) -> None:
    """A render with NaN/inf values, or one flat colour, is an error: never shown or written as a face."""
    if isinstance(img, torch.Tensor):
        bad = (~torch.isfinite(img)).sum().item()
        if bad:
            raise RenderError(f"the model produced {bad} NaN or infinite pixel values for this edit "
                              f"({100 * bad / img.numel():.1f}% of the image); try a smaller edit or truncation")
        return
    if img.size and int(img.max()) == int(img.min()):
        raise RenderError(f"the render came out one flat colour ({int(img.flat[0])}): the model or its tuned "
                          "weights are broken for this edit")


def synthesize(gen: Any, state: Any, wplus: np.ndarray, size: int | None, noise_phase: float | None = None) -> torch.Tensor:
    """The network's image [1, 3, size, size] in [-1, 1] for a composed w+, with the edit's per-call inputs."""
    noise = _OwnNoise(state.noise_seed, noise_phase) if state.noise_mode == "random" else contextlib.nullcontext()
    transform = gen.input_transform_matrix(*state.input_transform) if hasattr(gen, "input_transform_matrix") else None
    weights, detail = photo_inputs(gen, source_deltas(state, wplus))
    # Exactly this edit's inputs, whatever encloses the call (a paused import's tuned weights, say).
    with only(CallInputs(weights, detail, transform)), noise:
        img = gen.synthesis(torch.from_numpy(np.ascontiguousarray(wplus))[None], noise=state.noise_mode,
                            noise_strength=state.noise_strength, size=size)
    check_image(img)
    return img


def render_with_wplus(gen: Any, state: Any, directions: Mapping[str, Direction], size: int | None = None, *,
                      noise_phase: float | None = None, preview: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """render_edit, and the w+ it rendered. `preview`: the app's drag frames, synthesised at `size` directly
    (a model's fast approximate size where it has one) with the layers painted at that size."""
    full = gen.resolution
    size = full if size is None else int(size)
    if not 1 <= size <= full:
        raise RenderError(f"size must be between 1 and {full}, not {size}")
    try:
        wplus = wplus_for(state, gen, directions)
    except KeyError as exc:
        raise RenderError(f"the edit uses direction {exc.args[0]!r}, which this model's library does not have") from None
    steps = image_layers(state, directions)
    # Anything but a preview is the full render (layers painted on it) shrunk: render_edit(size) is always
    # shrink(render_edit(None), size). A model's exact smaller size averages before the final clamp, which
    # differs where pixels saturate.
    net_size = size if preview else full
    image = to_uint8(synthesize(gen, state, wplus, None if net_size == full else net_size, noise_phase))[0]
    image = shrink(apply_layers(image, state, steps), size)
    check_image(image)
    return image, wplus


def render_edit(gen: Any, state: Any, directions: Mapping[str, Direction], size: int | None = None, *,
                noise_phase: float | None = None) -> np.ndarray:
    """uint8 [size, size, 3] of `state`: sources' photo deltas and detail maps, directions, image layers and
    painting included. `size`: None = the model's resolution; any other size is the full render shrunk
    (`shrink`), never an approximate preview. `noise_phase`: animations' looping 'random'
    noise (None: the edit's own noise). Raises RenderError (a ValueError) when it cannot."""
    return render_with_wplus(gen, state, directions, size, noise_phase=noise_phase)[0]
