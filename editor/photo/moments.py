"""A locality regulariser that costs no render: the weight delta's linearised effect on other faces.

Pivotal tuning's locality term renders random faces with the tuned and the untouched weights and compares
them, which costs two renders a sample. But each tuned layer is linear in its weights: a pointwise layer's
output changes by dW (s * y) for input y and style s, so over many faces its mean squared change is
tr(dW M dW^T), with M = E[(s * y)(s * y)^T] the second moment of the layer's modulated inputs. M is
collected once, from a few untouched renders of the regulariser's faces; after that the term is a few
small matrix products a step. Per layer the change is counted relative to the layer's own output energy
(E|out|^2), and the layers are summed.

What it leaves out: how a layer's change grows or shrinks through the layers after it, cross terms between
the delta's parts (the depthwise kernel's, the pointwise weight's, the bias's change are each counted alone,
the depthwise one with only the diagonal of its pointwise mixing), and, the largest, how the layers' changes
add up: coherently, twice the drift of the layers one at a time (measured in editor.photo.tune's docstring).
So it helps the render term (PTI's) and cannot replace it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn.functional as F

POSITIONS = 1024  # pixels sampled per layer and face (8 faces: 8192 samples for at most 512 channels)


def _sample(t: torch.Tensor, step: int) -> torch.Tensor:
    """[1, C, (k,) H, W] -> [P, C, (k)] at every `step`-th pixel each way."""
    t = t[..., ::step, ::step]
    return t.flatten(-2).movedim(-1, 1)[0]


def _stride(h: int) -> int:
    return max(1, int((h * h / POSITIONS) ** 0.5))


class _Acc:
    def __init__(self):
        self.m = self.q = self.u = None
        self.out = 0.0
        self.count = 0

    def add(self, name, value):
        old = getattr(self, name)
        setattr(self, name, value if old is None else old + value)


def _dw_layer(acc: _Acc, mod, x, w, coarse):
    """coarse (the preview's half-resolution last block): the pointwise input is made with the coarse kernel
    the render uses; the depthwise term `q` still charges a kernel change as if it acted on the patches
    directly (the coarse kernel is a fixed linear map of it: an approximation for that one block)."""
    from ..model.mobilestylegan import coarse_kernel
    s = mod.affine(w)[0]                                              # [C_in]
    kernel = coarse_kernel(mod.weight_dw) if coarse else mod.weight_dw
    # 3x3 patches of the depthwise input at every `step`-th pixel: [P, C_in, 9]; the depthwise output there.
    step = _stride(x.shape[-1])
    pad = F.pad(x, (1, 1, 1, 1))
    h, wd = x.shape[-2:]
    p = _sample(torch.stack([pad[..., dy:dy + h:step, dx:dx + wd:step] for dy in range(3) for dx in range(3)], 2), 1)
    u = torch.einsum("pci,ci->pc", p, kernel.reshape(-1, 9)) * s      # [P, C_in]
    wpw = mod.weight_pw[:, :, 0, 0]
    out = u @ wpw.T + mod.bias
    gain = s.square() * wpw.square().sum(0)                           # what channel c's change reaches the outputs with
    acc.add("m", u.T @ u)
    acc.add("q", torch.einsum("pci,pcj->cij", p, p) * gain[:, None, None])
    acc.out += float(out.square().sum())
    acc.count += u.shape[0]


def _first_layer(acc: _Acc, mod, x, w):
    s = mod.affine(w)[0]
    u = F.unfold(x * s[None, :, None, None], 3, padding=1)[0].T        # [16, C_in * 9]
    out = u @ mod.weight.reshape(mod.weight.shape[0], -1).T + mod.bias
    acc.add("u", u)
    acc.out += float(out.square().sum())
    acc.count += u.shape[0]


def _last_layer(acc: _Acc, mod, x, w):
    s = mod.affine(w)[0]
    u = _sample(x, _stride(x.shape[-1])) * s
    out = u @ mod.weight[:, :, 0, 0].T + mod.bias
    acc.add("m", u.T @ u)
    acc.out += float(out.square().sum())
    acc.count += u.shape[0]


@contextmanager
def _hooks(net, accs: dict[str, _Acc]):
    handles = []
    from ..model.mobilestylegan import StyledConv3x3, StyledDWConv
    for name, mod in net.named_modules():
        if isinstance(mod, StyledDWConv):
            accs[name] = _Acc()
            handles.append(mod.register_forward_pre_hook(
                lambda m, a, acc=accs[name]: _dw_layer(acc, m, a[0], a[1], a[4] if len(a) > 4 else False)))
        elif isinstance(mod, StyledConv3x3):
            accs[name] = _Acc()
            handles.append(mod.register_forward_pre_hook(lambda m, a, acc=accs[name]: _first_layer(acc, m, a[0], a[1])))
    last, image = net.to_wavelets, net.to_wavelets.image
    accs["to_wavelets"] = _Acc()

    def wrapped(x, w):
        _last_layer(accs["to_wavelets"], last, x, w)
        return image(x, w)
    last.image = wrapped
    try:
        yield
    finally:
        del last.image
        for h in handles:
            h.remove()


class Moments:
    """Second moments of every tuned layer's inputs over some faces; `penalty(factors)` is the regulariser."""

    def __init__(self, net, latents: torch.Tensor, size: int | None = 512,
                 should_stop: Callable[[], bool] | None = None):
        """should_stop: checked before each face's render (the app's Cancel); the moments of the faces
        rendered so far are kept, none at all gives no penalty."""
        accs: dict[str, _Acc] = {}
        with torch.no_grad(), _hooks(net, accs):
            for ws in latents:
                if should_stop is not None and should_stop():
                    break
                net.synthesis(ws[None], noise_mode="const", size=size if size in net.preview_sizes else None)
        self.terms = {}
        for name, a in accs.items():
            if not a.count:
                continue
            energy = a.out / a.count
            self.terms[name] = {k: getattr(a, k) / a.count / energy for k in ("m", "q") if getattr(a, k) is not None}
            if a.u is not None:
                self.terms[name]["u"] = a.u / (a.count * energy) ** 0.5
            self.terms[name]["bias"] = 1.0 / energy

    def penalty(self, factors: dict[str, list[torch.Tensor] | tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """Sum over layers of E|d out|^2 / E|out|^2 for a WeightDelta's factors ((full,) or (A, B))."""
        total = 0.0
        for name, f in factors.items():
            layer, _, part = name.rpartition(".")
            t = self.terms.get(layer)
            if t is None:
                continue
            if part == "bias":
                total = total + f[0].square().sum() * t["bias"]
            elif part == "weight_dw":
                k = f[0].reshape(f[0].shape[0], 9)
                total = total + torch.einsum("ci,cij,cj->", k, t["q"], k)
            elif "u" in t:                                            # the 4² 3x3 conv
                d = (t["u"] @ f[1].T) @ f[0].T if len(f) == 2 else t["u"] @ f[0].reshape(f[0].shape[0], -1).T
                total = total + d.square().sum()
            else:                                                     # pointwise weights
                m = t["m"]
                if len(f) == 2:
                    a, b = f
                    total = total + ((a.T @ a) * (b @ m @ b.T)).sum()
                else:
                    d = f[0].reshape(f[0].shape[0], -1)
                    total = total + ((d @ m) * d).sum()
        return total
