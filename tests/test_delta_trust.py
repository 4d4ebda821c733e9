"""Delta files you can trust: a delta names the latent it was tuned at, and a file is checked from its
header (names, shapes, rank) before any tensor is read or multiplied, then for NaN and magnitude."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from editor.photo.delta import (MAX_RANK, StaleDelta, WeightDelta, check_shapes, delta_beside_latent,
                                latent_delta_path, latent_digest, tunable)
from tests.support import random_delta as _random_delta, tiny_generator


@pytest.fixture
def tiny():
    return tiny_generator()


def _latent(gen, seed):
    return gen.broadcast(gen.mapping(gen.z_from_seed(seed)))[0].numpy()


def _no_products(monkeypatch):
    """Any matrix product from here on fails the test: a refusal must come before one."""
    def boom(*_a, **_k):
        raise AssertionError("a product was taken before the shapes were checked")
    monkeypatch.setattr(torch, "matmul", boom)
    monkeypatch.setattr(torch.Tensor, "__matmul__", boom)


def test_a_delta_names_its_latent_and_a_stale_one_is_ignored_with_a_warning(tiny, tmp_path):
    w, other = _latent(tiny, 1), _latent(tiny, 2)
    latent = tmp_path / "me.npz"
    delta = _random_delta(tiny, 4)
    delta.save(latent_delta_path(latent), latent=w)
    back = WeightDelta.load(latent_delta_path(latent), tiny.net, latent=w)
    assert back == delta and back.latent == latent_digest(w) == latent_digest(w[None])  # [1, num_ws, w_dim] too
    found, warning = delta_beside_latent(latent, w, tiny.net)
    assert found == delta and warning is None
    # `project` cut short between its two writes: the new latent beside the old latent's delta.
    with pytest.raises(StaleDelta, match="belongs to another latent"):
        WeightDelta.load(latent_delta_path(latent), tiny.net, latent=other)
    found, warning = delta_beside_latent(latent, other, tiny.net)
    assert found is None and "another latent" in warning and "me.delta.safetensors" in warning
    assert "shown without it" in warning
    # A file from before deltas named their latent still loads; no file is no warning.
    latent_delta_path(latent).write_bytes(delta.to_bytes())
    assert delta_beside_latent(latent, other, tiny.net) == (delta, None)
    assert delta_beside_latent(tmp_path / "none.npz", w, tiny.net) == (None, None)


def test_oversize_and_high_rank_factors_are_refused_from_the_header_before_any_product(tiny, tmp_path,
                                                                                        monkeypatch):
    name, p = next((n, p) for n, p in tunable(tiny.net) if p.dim() >= 2)
    out, fan_in = p.shape[0], p.numel() // p.shape[0]
    cases = {"oversize": {f"{name}::a": torch.zeros(20000, 8), f"{name}::b": torch.zeros(8, 20000)},
             "rank": {f"{name}::a": torch.zeros(out, MAX_RANK + 1), f"{name}::b": torch.zeros(MAX_RANK + 1, fan_in)},
             "mismatch": {f"{name}::a": torch.zeros(out, 4), f"{name}::b": torch.zeros(3, fan_in)},
             "full": {f"{name}::full": torch.zeros(p.numel() + 1)},
             "lonely": {f"{name}::b": torch.zeros(4, fan_in)},
             "integer": {f"{name}::full": torch.zeros(p.shape, dtype=torch.int32)}}
    for case, tensors in cases.items():
        save_file(tensors, str(tmp_path / f"{case}.safetensors"))
    _no_products(monkeypatch)
    for case in cases:
        with pytest.raises(ValueError, match=f"{case}.safetensors: ") as err:
            WeightDelta.load(tmp_path / f"{case}.safetensors", tiny.net)
        assert name in str(err.value) or "float" in str(err.value), case
    # The shapes alone decide (a header is all it takes): 20000² factors are never materialised.
    with pytest.raises(ValueError, match="does not fit this model .factors"):
        check_shapes({f"{name}::a": (20000, 8), f"{name}::b": (8, 20000)}, tiny.net, "x")


def test_nan_and_huge_values_are_refused_with_a_message(tiny, tmp_path):
    raw = _random_delta(tiny, 5).tensors()
    bias = next(k for k in raw if k.endswith("bias::full"))
    low = next(k for k in raw if k.endswith("::a"))
    for case, bad in {"nan": {**raw, bias: raw[bias] * np.nan},
                      "bias": {**raw, bias: torch.full_like(raw[bias], 1e30)},
                      "weight": {**raw, low: raw[low] * 0 + 1e10}}.items():
        save_file(bad, str(tmp_path / f"{case}.safetensors"))
        with pytest.raises(ValueError, match=f"{case}.safetensors: .*(NaN|more than)"):
            WeightDelta.load(tmp_path / f"{case}.safetensors", tiny.net)
    save_file(raw, str(tmp_path / "fine.safetensors"))
    assert WeightDelta.load(tmp_path / "fine.safetensors", tiny.net) == _random_delta(tiny, 5)


def test_a_damaged_header_is_named_not_raised(tiny, tmp_path):
    good = _random_delta(tiny, 6).to_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    for name in ("cut", "junk"):
        with pytest.raises(ValueError, match=f"{name}.safetensors: not a readable weight delta"):
            WeightDelta.load(tmp_path / f"{name}.safetensors", tiny.net)
