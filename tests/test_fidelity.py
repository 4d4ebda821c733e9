"""Preview fidelity: measured against the full render, and only trusted sizes are ever used."""

import torch

from editor.model.fidelity import PREVIEW_MIN_DB, fidelity_edits, measure_preview_fidelity, psnr_db, trusted_sizes
from editor.model.generator import Generator, layer_groups_for
from tests.support import tiny_mobile_net as tiny_net


def test_trusted_sizes_need_a_measured_worst_case_above_the_floor():
    assert trusted_sizes(None, (256, 512)) == ()
    assert trusted_sizes({}, (256,)) == ()
    fid = {"256": {"min": PREVIEW_MIN_DB + 0.1, "mean": 35}, "512": {"min": PREVIEW_MIN_DB - 0.1, "mean": 33}}
    assert trusted_sizes(fid, (256, 512)) == (256,)
    assert trusted_sizes({256: {"min": 40, "mean": 41}, 128: {"mean": 50}}, (128, 256)) == (256,)
    assert trusted_sizes({"256": {"min": "40"}}, (256,)) == ()  # a malformed entry is not trust


@torch.inference_mode()
def test_measurement_compares_each_size_with_the_shrunk_full_render():
    net = tiny_net()
    w_avg = net.mapping(torch.randn(64, 16)).mean(0)
    edits = fidelity_edits(net.mapping, w_avg, net.num_ws, layer_groups_for(net.layer_resolutions), faces=2)
    assert len(edits) == 2 * 8 and all(e.shape == (1, net.num_ws, 16) for e in edits)
    assert not torch.equal(edits[-1][0, 0], edits[-1][0, 1])  # the projected-photo case has rows that differ
    exact = measure_preview_fidelity(lambda ws, size: torch.nn.functional.interpolate(
        net.synthesis(ws), size=(size, size), mode="area") if size else net.synthesis(ws), edits, (32, 64), 128)
    assert all(v["min"] > 100 for v in exact.values())  # a preview that is the shrunk render is exact
    real = measure_preview_fidelity(lambda ws, size: net.synthesis(ws, size=size), edits, (32, 64), 128)
    assert set(real) == {32, 64} and all(0 < v["min"] <= v["mean"] < 100 for v in real.values())
    worst = min(psnr_db(net.synthesis(e, size=64), torch.nn.functional.interpolate(
        net.synthesis(e), size=(64, 64), mode="area")) for e in edits)
    assert abs(worst - real[64]["min"]) < 0.01


def test_generator_trusts_only_previews_measured_faithful():
    net = tiny_net()
    w_avg = net.mapping(torch.randn(8, 16)).mean(0)
    plain = Generator(net, w_avg=w_avg, name="t", fingerprint="t:1", device="cpu")
    assert plain.preview_sizes == (32, 64) and plain.trusted_preview_sizes == ()
    measured = Generator(tiny_net(), w_avg=w_avg, name="t", fingerprint="t:1", device="cpu",
                         info={"preview_fidelity_db": {"32": {"min": 31.0, "mean": 34.0},
                                                       "64": {"min": 24.0, "mean": 30.0}}})
    assert measured.trusted_preview_sizes == (32,)
