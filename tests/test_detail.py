"""A photo's detail maps (editor.photo.detail): fitted after the tuned weights, carried in the delta's file,
added only to that photo's renders and faded as an edit moves the face away from it."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from editor.edit import EditState, Source
from editor.model import psnr, to_uint8
from editor.model.call_inputs import current as current_inputs
from editor.photo.delta import WeightDelta, applied, detail_gate, map_at, source_deltas
from editor.photo import detail
from editor.photo.detail import RADIUS, detail_layers, fit_detail, radius_for
from editor.photo.importer import import_photo
from editor.render import RenderRequest, render
from tests.support import random_delta, tiny_generator


@pytest.fixture
def tiny():
    return tiny_generator()


def _random_maps(gen, delta, scale=0.3, radius=2.0):
    g = torch.Generator().manual_seed(3)
    maps = {k: scale * torch.randn(act.noise_const.shape, generator=g) for k, act in detail_layers(gen.net).items()}
    return delta.with_maps(maps, radius)


def _photo(gen):
    """A face with detail the network draws only with maps at its finest layers (as a photo's hair or
    background has detail no latent reaches), and the latent it was drawn from (the pivot)."""
    w = gen.broadcast(gen.mapping(gen.z_from_seed(11)))
    with applied(gen, [(_random_maps(gen, WeightDelta.zeros_like(gen.net, rank=2, full_below=300)),
                        np.ones(gen.num_ws))]):
        photo = to_uint8(gen.synthesis(w))[0]
    return photo, w[0].numpy()


def test_maps_fit_what_the_weights_did_not_and_never_touch_other_faces(tiny):
    photo, pivot = _photo(tiny)
    tuned = WeightDelta.zeros_like(tiny.net, rank=2, full_below=300)
    seen = []
    result = fit_detail(tiny, photo, pivot, tuned, steps=30, progress=lambda *a: seen.append(a[0]))
    assert seen == list(range(1, 31)) and result.steps == 30 and not result.cancelled
    assert set(result.delta.maps) == set(detail_layers(tiny.net)) and result.delta.radius > 0
    assert result.psnr_db > result.before_db + 3
    # The photo's render (maps at full weight) is what the fit measured; the network itself is unchanged.
    target = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    with applied(tiny, [(result.delta, np.ones(tiny.num_ws))]):
        shown = tiny.synthesis(torch.from_numpy(pivot)[None])
    assert abs(psnr(shown, target) - result.psnr_db) < 1.0
    others = tiny.mapping(torch.cat([tiny.z_from_seed(s) for s in range(40, 44)]))
    before = tiny.synthesis(others)
    with applied(tiny, [(result.delta, np.ones(tiny.num_ws), np.zeros(tiny.num_ws))]):  # as locality measures
        assert torch.equal(tiny.synthesis(others), before)
    assert current_inputs() is None and not any(hasattr(act, "detail") for act in detail_layers(tiny.net).values())
    # Cancel keeps the best maps so far.
    cut = fit_detail(tiny, photo, pivot, tuned, steps=30, progress=lambda *a: None,
                     should_stop=lambda: len(seen) >= 35 or bool(seen.append(0)))
    assert cut.cancelled and 0 < cut.steps < 30 and cut.delta.maps and cut.psnr_db >= cut.before_db


def test_maps_round_trip_in_the_delta_file_and_bad_ones_are_named(tiny, tmp_path):
    plain = random_delta(tiny, 4)
    with_maps = _random_maps(tiny, plain)
    assert with_maps != plain and WeightDelta(plain.factors, plain.shapes).digest == plain.digest
    assert with_maps.nbytes > plain.nbytes
    with_maps.save(tmp_path / "d.safetensors")
    back = WeightDelta.load(tmp_path / "d.safetensors", tiny.net)
    assert back == with_maps and back.radius == pytest.approx(2.0)
    assert all(torch.equal(back.maps[k], m) for k, m in with_maps.maps.items())
    from safetensors.torch import save_file
    raw = with_maps.tensors()
    layer = next(iter(with_maps.maps))
    size = raw[f"{layer}::detail"].shape[-1]
    for name, bad, message in [("shape", {**raw, f"{layer}::detail": torch.zeros(1, 1, 3, 3)}, "detail map"),
                               ("oversize", {**raw, f"{layer}::detail": torch.zeros(1, 1, 2 * size, 2 * size)},
                                "detail map"),
                               ("oblong", {**raw, f"{layer}::detail": torch.zeros(1, 1, size // 2, size // 4)},
                                "detail map"),
                               ("flat", {**raw, f"{layer}::detail": torch.zeros(1, size, size)}, "detail map"),
                               ("nan", {**raw, f"{layer}::detail": raw[f"{layer}::detail"] * np.nan}, "detail map"),
                               ("layer", {**raw, "blocks.9.conv1::detail": torch.zeros(1, 1, 4, 4)}, "detail map"),
                               ("radius", {k: v for k, v in raw.items() if k != "detail::radius"}, "radius"),
                               ("negative", {**raw, "detail::radius": torch.tensor([-1.0])}, "radius")]:
        save_file(bad, str(tmp_path / f"{name}.safetensors"))
        with pytest.raises(ValueError, match=message) as err:
            WeightDelta.load(tmp_path / f"{name}.safetensors", tiny.net)
        assert f"{name}.safetensors" in str(err.value)


def test_the_gate_keeps_the_maps_at_the_photo_and_fades_them_with_the_edit(tiny):
    w = np.zeros((5, 4), np.float32)
    assert np.array_equal(detail_gate(w, w, 1.0), np.ones(5))
    moved = w.copy()
    moved[2] = [1, 0, 0, 0]  # row 2 moved by 1: it and every later row fade, the rows before do not
    assert np.allclose(detail_gate(w, moved, 1.0), [1, 1, np.exp(-1), np.exp(-1), np.exp(-1)])
    assert np.array_equal(detail_gate(w, moved, 0.0), np.zeros(5))  # no radius: no maps
    photo, pivot = _photo(tiny)
    radius = radius_for(tiny)  # RADIUS of the distance between two faces: gates at 1/RADIUS radii ~ 0
    delta = _random_maps(tiny, WeightDelta.zeros_like(tiny.net, rank=2, full_below=300), scale=2.0, radius=radius)
    src = Source.from_latent(pivot, "photo: me", delta=delta)
    state = EditState.new(tiny.fingerprint, tiny.num_ws).with_source("a", src)

    def shown(s):
        result = render(tiny, RenderRequest(0, s), {})
        assert result.error is None
        return result.images[0].astype(int)
    with applied(tiny, [(delta, np.ones(tiny.num_ws))]):
        whole = to_uint8(tiny.synthesis(torch.from_numpy(pivot)[None]))[0].astype(int)
    bare = to_uint8(tiny.synthesis(torch.from_numpy(pivot)[None]))[0].astype(int)
    assert np.abs(whole - bare).mean() > 2  # the maps show
    assert np.array_equal(shown(state), whole)  # at the photo's own latent: all of them
    # Mixed with a seed's coarse rows (as far as another face): none of them.
    coarse = EditState(tiny.fingerprint, src, Source.from_seed(5), (1.0,) * 3 + (0.0,) * (tiny.num_ws - 3))
    (_, _, rows), = source_deltas(coarse, np.asarray(render(tiny, RenderRequest(0, coarse), {}).wplus))
    assert rows.max() < np.exp(-(0.5 / RADIUS) ** 2)  # seed 5 is half as far as the average other face
    # The noise does not take them away: without noise the photo's detail still shows.
    quiet = shown(state.with_noise("random", 0.0))
    assert np.abs(quiet - whole).mean() < np.abs(quiet - bare).mean()


def test_an_import_ends_with_maps_and_reports_each_stage(tiny):
    photo, _ = _photo(tiny)
    stages = []
    result = import_photo(tiny, photo, (3, 3, 4), progress=lambda stage, *a: stages.append(stage), check=False)
    assert result.steps == (3, 3, 4) and result.delta.maps and result.tuned_psnr_db is not None
    assert stages == ["pivot"] * 3 + ["tuning"] * 3 + ["detail"] * 4
    assert result.psnr_db >= result.tuned_psnr_db
    assert [s.name for s in result.stages if s.kept] == ["pivot", "tuning", "detail"]
    none = import_photo(tiny, photo, (3, 3, 0), check=False)
    assert none.steps == (3, 3, 0) and not none.delta.maps
    assert "no steps" in none.stages[2].why


def test_maps_finer_than_the_loss_are_fitted_coarser_so_they_learn_no_speckle(tiny, monkeypatch):
    """A map finer than the loss (256² for the default model) is fitted at FREE_TO and upsampled: free, it
    learns pixel-to-pixel noise the loss cannot see (seen at 1:1 as colour speckle on a real photo)."""
    photo, pivot = _photo(tiny)
    tuned = WeightDelta.zeros_like(tiny.net, rank=2, full_below=300)

    def speckle(free_to):  # the share of each 64² map's variance its 3x3 local mean does not explain
        monkeypatch.setattr(detail, "FREE_TO", free_to)
        fitted = fit_detail(tiny, photo, pivot, tuned, steps=20).delta
        assert all(m.shape[-1] == min(64, free_to) for m in fitted.maps.values())  # stored at the size fitted
        maps = {k: map_at(m, (64, 64)) for k, m in fitted.maps.items()}  # as renders see them
        renders = []
        for d in (fitted, tuned.with_maps(maps, fitted.radius)):
            with applied(tiny, [(d, np.ones(tiny.num_ws))]):
                renders.append(tiny.synthesis(torch.from_numpy(pivot)[None]))
        assert torch.equal(*renders)  # a stored coarse map renders exactly as the fit saw it
        return max(float((m - F.avg_pool2d(m, 3, 1, 1, count_include_pad=False)).var() / m.var()) for m in maps.values())
    assert speckle(16) < 0.5 * speckle(64)


def test_the_full_size_term_sees_what_the_finest_maps_paint_past_the_loss(tiny, monkeypatch):
    """The loss runs at a reduced size (512² for the default model), where an area downsample averages away
    the high band the last block's maps paint into: the MSE at full size (FULL_MSE) is what sees it (the
    dotted grid and hair mottle seen at 2x on a real photo)."""
    photo, pivot = _photo(tiny)
    tuned = WeightDelta.zeros_like(tiny.net, rank=2, full_below=300)
    monkeypatch.setattr(detail, "LOSS", tiny.resolution // 2)
    target = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1

    def high_band_error(weight):  # what is left of the render's error after its 2x2 means are taken out
        monkeypatch.setattr(detail, "FULL_MSE", weight)
        maps = fit_detail(tiny, photo, pivot, tuned, steps=60).delta  # the blind error grows with the steps
        with applied(tiny, [(maps, np.ones(tiny.num_ws))]):
            error = tiny.synthesis(torch.from_numpy(pivot)[None]) - target
        return float((error - F.interpolate(F.avg_pool2d(error, 2), scale_factor=2)).square().mean())
    assert high_band_error(1.0) < 0.7 * high_band_error(0.0)
