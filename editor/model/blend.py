"""Model blending by layer swapping: one latent, rendered with coarse layers from one model and fine
layers from another of the same architecture (e.g. NVIDIA's FFHQ with its MetFaces fine-tune).

Coarse layers decide pose and face shape, fine layers texture and colour (Karras et al. 2019), so taking
the fine layers from a painted-portrait model paints the person in that model's manner while the person
stays recognisable. This works because fine-tunes of one model keep compatible features layer by layer;
two unrelated models of the same shape blend into noise, which the user sees at once.

The mapping network and the mean latent always stay the base model's: the latent being edited is the
base model's, and the blended generator keeps the base's fingerprint so edits and directions still apply.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch

from .generator import Generator


class BlendError(ValueError):
    """The two models cannot be blended (the message says why, naming the second model)."""


@dataclass(frozen=True)
class BlendSettings:
    swap_resolution: int                        # layers at this resolution and above come from `fine_from`
    fine_from: Literal["style", "base"] = "style"
    amount: float = 1.0                         # 0 = the base model alone, 1 = a clean swap; between: lerp

    def takes_style(self, resolution: int) -> bool:
        fine = resolution >= self.swap_resolution
        return fine if self.fine_from == "style" else not fine


def check_compatible(base: Generator, style: Generator) -> None:
    """Same architecture, same shapes, parameter by parameter; BlendError naming the style model otherwise."""
    who = style.source.name if style.source else style.name
    if type(base.net) is not type(style.net):
        raise BlendError(f"{who}: a {type(style.net).__name__} cannot blend with a {type(base.net).__name__}")
    a, b = base.net.state_dict(), style.net.state_dict()
    if a.keys() != b.keys():
        raise BlendError(f"{who}: a different architecture (layers differ from {base.name}'s)")
    for k, v in a.items():
        if v.shape != b[k].shape:
            raise BlendError(f"{who}: {k} is {tuple(b[k].shape)}, {base.name} has {tuple(v.shape)} "
                             f"(a different resolution or width)")


def swap_resolutions(base: Generator) -> list[int]:
    """The resolutions a swap can start at (the first is the whole synthesis network)."""
    net = base.net
    return sorted({r for k in net.state_dict() if (r := net.param_resolution(k)) is not None})


@torch.no_grad()
def blend(base: Generator, style: Generator, settings: BlendSettings) -> Generator:
    """A new Generator rendering base's latents with the layers `settings` picks taken from `style`."""
    check_compatible(base, style)
    if not 0.0 <= settings.amount <= 1.0:
        raise ValueError(f"blend amount must be in [0, 1], not {settings.amount}")
    net = copy.deepcopy(base.net)
    theirs = style.net.state_dict()
    mixed = {}
    for name, mine in net.state_dict().items():
        res = net.param_resolution(name)
        if res is None or not settings.takes_style(res):
            continue
        other = theirs[name].to(mine.device)
        if not mine.is_floating_point():
            mixed[name] = other if settings.amount >= 0.5 else mine
        else:
            mixed[name] = torch.lerp(mine, other.to(mine.dtype), settings.amount)
    net.load_state_dict(mixed, strict=False)
    side = "fine" if settings.fine_from == "style" else "coarse"
    name = f"{base.name} + {style.name} ({side} from {settings.swap_resolution}², {settings.amount:.0%})"
    # The base's precision is asked for explicitly: the same arithmetic with other numbers.
    return Generator(net, w_avg=base.w_avg, name=name, fingerprint=base.fingerprint, source=base.source,
                     device=base.device, dtype=base.dtype,
                     info={**base.info, "blended_with": style.name, "blend": settings.__dict__.copy()})
