"""Per-call inputs of a synthesis network: what one render adds to the shared weights, never written into them.

A photo's tuned weights and detail maps, and StyleGAN3's user move/turn, belong to one render, not to the
model. They travel in a context variable (each thread has its own) that the modules read at forward time, so two
threads may render two photos with one generator at once, and nothing has to be put back after a render.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import torch


@dataclass(frozen=True)
class CallInputs:
    deltas: Mapping[str, torch.Tensor] = field(default_factory=dict)  # parameter name -> added to it
    detail: Mapping[str, torch.Tensor] = field(default_factory=dict)  # layer name -> map added before its noise
    transform: torch.Tensor | None = None  # StyleGAN3: the input's inverse 3x3 transform (None: the module's)


_CURRENT: ContextVar[CallInputs | None] = ContextVar("synthesis_call_inputs", default=None)


@contextmanager
def call_inputs(deltas: Mapping[str, torch.Tensor] | None = None, detail: Mapping[str, torch.Tensor] | None = None,
                transform: torch.Tensor | None = None) -> Iterator[CallInputs]:
    """Renders on this thread inside the block see these inputs; other threads are not affected. What is not
    given is inherited from an enclosing block."""
    outer = _CURRENT.get() or CallInputs()
    inputs = CallInputs(outer.deltas if deltas is None else dict(deltas),
                        outer.detail if detail is None else dict(detail),
                        outer.transform if transform is None else transform)
    token = _CURRENT.set(inputs)
    try:
        yield inputs
    finally:
        _CURRENT.reset(token)


@contextmanager
def only(inputs: CallInputs) -> Iterator[CallInputs]:
    """Exactly these inputs inside the block, inheriting nothing: a render that runs nested in other work on
    the same thread (the scheduler pauses a photo import at a network block to render the view) must not
    take that work's tuned weights as its own."""
    token = _CURRENT.set(inputs)
    try:
        yield inputs
    finally:
        _CURRENT.reset(token)


def current() -> CallInputs | None:
    return _CURRENT.get()


def tuned(module: torch.nn.Module, attr: str) -> torch.Tensor:
    """`module.attr`, plus this call's delta for it (by the module's `input_key`, set when the net was built)."""
    t = getattr(module, attr)
    inputs = _CURRENT.get()
    if inputs is None or not inputs.deltas:
        return t
    d = inputs.deltas.get(f"{module.input_key}.{attr}")
    return t if d is None else t + d.to(t.device, t.dtype)


def detail_for(module: torch.nn.Module) -> torch.Tensor | None:
    """This call's detail map for the layer owning `module` (its input_key less the trailing '.act')."""
    inputs = _CURRENT.get()
    if inputs is None or not inputs.detail:
        return None
    return inputs.detail.get(module.input_key.rpartition(".")[0])


def name_modules(net: torch.nn.Module) -> None:
    """Give every submodule its qualified name, the key its call inputs are looked up by."""
    for name, m in net.named_modules():
        m.input_key = name
