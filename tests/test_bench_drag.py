"""bench-drag: the render loop of a drag without Qt (what runs on a GPU server) reports every field."""

import torch

from tools.bench_drag import measure_drags
from editor.model.generator import Generator
from tests.support import tiny_mobile_net as tiny_net


def test_a_drag_of_each_group_reaches_the_screen_and_the_release_renders_the_final_state():
    g = Generator(tiny_net(), w_avg=torch.zeros(16), name="t", fingerprint="t:drag", device="cpu")
    r = measure_drags(g, steps=6, interval_ms=15)
    assert set(r["drags"]) == set(g.layer_groups)
    for d in r["drags"].values():
        assert d["frames"] >= 1 and d["errors"] == [] and d["release_to_full_ms"] > 0
        assert d["sizes"] == [g.resolution]  # every frame is the full render of its edit
    assert r["preview_psnr_db_min"] == 99.0 and r["previews_per_s"] > 0


def test_drag_frames_at_the_exact_half_size():
    g = Generator(tiny_net(), w_avg=torch.zeros(16), name="t", fingerprint="t:drag2", device="cpu")
    r = measure_drags(g, steps=4, interval_ms=15, frame_size=g.exact_sizes[0])
    assert all(d["sizes"] == [g.resolution // 2] for d in r["drags"].values())
    assert r["preview_psnr_db_min"] == 99.0
