"""A photo's weight delta and detail maps as per-call inputs of one render (editor.model.call_inputs).

Every synthesis layer reads exactly one w+ row, so a delta acts per row: the layer of row i gets
(1 - mix_i) x delta_A + mix_i x delta_B (a seed source contributes none). Detail maps follow the same weights,
times a gate that fades them as an edit takes the face away from the photo's latent (`detail_gate`). Nothing
is written into the generator: two threads may render two photos with one generator at once.

A delta is any object with `factors` ({param: tensors}), `dense(name)`, `maps` ({layer: map}),
`map_for(layer, size)`, `radius` and `digest` (editor.photo.delta.WeightDelta); a source whose delta is only
a digest (its file not loaded) contributes nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..model.call_inputs import call_inputs
from ..model.mobilestylegan import param_row

_CACHE: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()  # dense per-row deltas: a drag reuses them
_CACHE_SIZE = 2
_CACHE_LOCK = threading.Lock()


def row_weights(mix: Sequence[float], which: str) -> np.ndarray:
    """Per w+ row, how much of source `which`'s delta a layer gets: 1 - mix for A, mix for B."""
    m = np.asarray(mix, np.float32)
    return 1.0 - m if which == "a" else m


def detail_gate(source_w: np.ndarray, wplus: np.ndarray, radius: float) -> np.ndarray:
    """Per w+ row, how much of a photo's detail maps a render keeps [num_ws]: a layer's map is added to
    features every earlier row shaped, so it fades with d, the largest distance of this or any earlier row
    from the photo's latent, as exp(-(d / radius)^2). The maps are pinned to the photo's geometry: turned or
    reshaped far enough they would show a second, ghost outline."""
    if radius <= 0:
        return np.zeros(len(wplus), np.float32)
    d = np.maximum.accumulate(np.linalg.norm(np.asarray(wplus, np.float32) - np.asarray(source_w, np.float32), axis=-1))
    return np.exp(-(d / radius) ** 2).astype(np.float32)


def _loaded(delta: Any) -> bool:
    return delta is not None and not isinstance(delta, str) and hasattr(delta, "factors")


def source_deltas(state: Any, wplus: np.ndarray | None = None) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    """The loaded deltas of an edit's two sources with their per-row weights, for the weights and for the
    detail maps (the same, times detail_gate against `wplus`, the w+ rendered; none without it)."""
    out = []
    for which, src in (("a", state.source_a), ("b", state.source_b)):
        if not _loaded(src.delta):
            continue
        rows = row_weights(state.mix, which)
        gate = 0.0 if wplus is None or not src.delta.maps else \
            detail_gate(np.broadcast_to(src.w, np.shape(wplus)), wplus, src.delta.radius)
        out.append((src.delta, rows, rows * gate))
    return out


def _normalised(deltas: Iterable[tuple]) -> list[tuple[Any, np.ndarray, np.ndarray]]:
    items = [(d[0], np.asarray(d[1], np.float32), np.asarray(d[-1], np.float32)) for d in deltas]
    return [(d, w, m) for d, w, m in items if _loaded(d) and (np.any(w != 0) or (d.maps and np.any(m != 0)))]


def _dense_deltas(net: torch.nn.Module, items, device, dtype) -> dict[str, torch.Tensor]:
    key = (id(net), str(device), str(dtype)) + tuple((d.digest, w.tobytes()) for d, w, _ in items)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    out = {}
    for name in sorted({n for d, _, _ in items for n in d.factors}):
        row = param_row(name, net.num_ws)
        change = sum(float(w[row]) * d.dense(name) for d, w, _ in items if name in d.factors and w[row] != 0)
        if isinstance(change, torch.Tensor):
            out[name] = change.to(device, dtype)
    with _CACHE_LOCK:
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def _detail_maps(net: torch.nn.Module, items, device, dtype) -> dict[str, torch.Tensor]:
    acts = {name[:-len(".act")]: m for name, m in net.named_modules() if name.endswith(".act")}
    out = {}
    for layer in sorted({k for d, _, _ in items for k in d.maps}):
        row = param_row(layer, net.num_ws)
        size = tuple(acts[layer].noise_const.shape[-2:])
        detail = sum(float(m[row]) * d.map_for(layer, size) for d, _, m in items if layer in d.maps and m[row] != 0)
        if isinstance(detail, torch.Tensor):
            out[layer] = detail.to(device, dtype)
    return out


def photo_inputs(gen: Any, deltas: Iterable[tuple]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(weight deltas, detail maps) of the items (see `applied`) as per-call inputs for `gen`'s network."""
    items = _normalised(deltas)
    if not items:
        return {}, {}
    dtype = getattr(gen, "dtype", torch.float32)
    return _dense_deltas(gen.net, items, gen.device, dtype), _detail_maps(gen.net, items, gen.device, dtype)


@contextmanager
def applied(gen: Any, deltas: Iterable[tuple]) -> Iterator[None]:
    """Renders on this thread inside the block get each delta, scaled per row by its weights [num_ws]. An item
    is (delta, weights) or (delta, weights, detail weights): its detail maps scaled per row by the latter (the
    former when not given; zeros render the tuned network alone, as locality measures it)."""
    weights, detail = photo_inputs(gen, deltas)
    if not weights and not detail:
        yield
        return
    with call_inputs(deltas=weights, detail=detail):
        yield


def baked_delta(state: Any, wplus: np.ndarray) -> Any | None:
    """One delta that renders `wplus` on its own (as a latent source, mix 0) exactly as `state` renders it:
    each source's weights scaled per row and summed (low-rank factors side by side, so the rank adds up),
    detail maps at the weight this render gave them, so *Save latent* reopens as the face it was saved from.
    None when no source has a loaded delta in play."""
    items = _normalised(source_deltas(state, wplus))
    if not items:
        return None
    num_ws = len(state.mix)
    factors, shapes = {}, {}
    for name in sorted({n for d, _, _ in items for n in d.factors}):
        row = param_row(name, num_ws)
        terms = [(d, float(w[row])) for d, w, _ in items if name in d.factors and w[row] != 0]
        if not terms:
            continue
        shapes[name] = terms[0][0].shapes[name]
        if all(len(d.factors[name]) == 2 for d, _ in terms):
            factors[name] = (torch.cat([d.factors[name][0] * k for d, k in terms], 1),
                             torch.cat([d.factors[name][1] for d, _ in terms], 0))
        else:
            factors[name] = (sum(k * d.dense(name) for d, k in terms),)
    maps = {}
    for layer in sorted({k for d, _, _ in items for k in d.maps}):
        row = param_row(layer, num_ws)
        terms = [(d.maps[layer], float(m[row])) for d, _, m in items if layer in d.maps and m[row] != 0]
        if terms:
            size = max(t.shape[-1] for t, _ in terms)
            maps[layer] = sum(k * (t if t.shape[-1] == size else torch.nn.functional.interpolate(
                t, size=(size, size), mode="bilinear", align_corners=False)) for t, k in terms)
    radius = max(d.radius for d, _, _ in items) if maps else 0.0
    return type(items[0][0])(factors, shapes, maps, radius)
