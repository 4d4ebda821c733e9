"""Reduced precision is chosen only where it is faithful AND faster on this machine, measured once."""

import json

import pytest
import torch

from editor.model import generator as generator_module
from editor.model.device import cpu_flags, keep_freed_memory
from editor.model.generator import Generator
from tests.support import tiny_mobile_net as tiny_net


@pytest.fixture
def trial(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("EDITOR_PRECISION", raising=False)
    monkeypatch.setattr(generator_module, "default_dtype", lambda device: torch.bfloat16)
    calls = []

    def fake(outcome):
        def _trial(self, dtype, timed):
            calls.append(dtype)
            return self._make_reduced(dtype), outcome[0], {"float32": 100.0, "reduced": outcome[1]}
        monkeypatch.setattr(Generator, "_trial", _trial)
    return fake, calls, tmp_path


def make(fp="t:1"):
    net = tiny_net()
    return Generator(net, w_avg=torch.zeros(16), name="t", fingerprint=fp, device="cpu")


@pytest.mark.parametrize("db, ms, chosen", [(50.0, 60.0, torch.bfloat16),   # faithful and faster
                                            (50.0, 140.0, torch.float32),   # faithful, slower (no AMX)
                                            (20.0, 60.0, torch.float32)])   # faster, not faithful
def test_choice_needs_both_fidelity_and_speed(trial, db, ms, chosen):
    fake, calls, _ = trial
    fake((db, ms))
    assert make().dtype == chosen
    assert calls == [torch.bfloat16]


def test_choice_is_measured_once_per_machine_and_model(trial):
    fake, calls, cache = trial
    fake((50.0, 140.0))
    assert make().dtype == torch.float32 and make().dtype == torch.float32
    assert len(calls) == 1  # the second Generator read the cached choice
    stored = json.loads((cache / "face-editor" / "precision.json").read_text())
    (key, choice), = stored.items()
    assert choice["dtype"] == "float32" and choice["ms"] == {"float32": 100.0, "reduced": 140.0}
    assert "t:1" in key
    make(fp="t:2")
    assert len(calls) == 2  # another model is measured on its own


def test_a_named_precision_is_used_without_the_speed_test(trial, monkeypatch):
    fake, calls, _ = trial
    fake((50.0, 140.0))
    monkeypatch.setenv("EDITOR_PRECISION", "bf16")
    g = make()
    assert g.dtype == torch.bfloat16 and g.precision_check_db == 50.0


def test_cpu_flags_follow_the_onednn_cap(monkeypatch):
    cpu_flags.cache_clear()
    try:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41")
        capped = cpu_flags()
        assert not capped["avx2"] and not capped["amx"] and capped["onednn_max_cpu_isa"] == "SSE41"
    finally:
        cpu_flags.cache_clear()


def test_freed_memory_is_kept_on_glibc():
    import platform
    import sys
    if not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"):
        pytest.skip("mallopt tuning is for glibc")
    assert keep_freed_memory() is True


@pytest.mark.parametrize("noise", ["const", "random"])
def test_a_frame_that_overflows_reduced_precision_is_redone_in_fp32(monkeypatch, noise):
    """fp16 tops out at 65504: an extreme edit that overflows it inside the network must come back as the
    fp32 render (same noise), not as NaN (an error on screen) or as clamped infinities."""
    monkeypatch.setenv("EDITOR_PRECISION", "fp16")
    g = Generator(tiny_net(), w_avg=torch.zeros(16), name="t", fingerprint="t:16", device="cpu")
    assert g.dtype == torch.float16
    ws = g.broadcast(torch.randn(1, 16, generator=torch.Generator().manual_seed(3)))
    torch.manual_seed(5)
    reference = g._run(g.net, ws, noise, 1.0, None, torch.float32)
    assert torch.isfinite(g._run(g._synth, ws * 10, noise, 1.0, None, torch.float16, clamp=False)).all() == False  # noqa: E712
    torch.manual_seed(5)
    huge = g.synthesis(ws * 10, noise=noise)
    torch.manual_seed(5)
    expected = g._run(g.net, ws * 10, noise, 1.0, None, torch.float32)  # saturated, but finite
    assert torch.isfinite(huge).all() and torch.equal(huge, expected)
    torch.manual_seed(5)
    ordinary = g.synthesis(ws, noise=noise)  # in range: stays fp16, close to fp32
    assert ordinary.dtype == torch.float32 and (ordinary - reference).abs().max() < 0.05
