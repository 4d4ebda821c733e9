"""`python -m editor batch`: the manifest, and the same files from a local process pool and from Ray."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from editor import io
from editor.batch import edit_state, read_manifest, tasks
from editor.edit import EditState


def test_manifest_is_checked_and_expands_to_one_task_a_face(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"seeds": "3-5", "size": 64, "edits": {"plain": {}, "old": {"directions": {"age": 2}}}}))
    manifest = read_manifest(m)
    assert manifest["seeds"] == [3, 4, 5] and manifest["psi"] == 0.7
    todo = tasks(manifest)
    assert [t["stem"] for t in todo] == ["seed000003", "seed000004", "seed000005"] and todo[0]["edits"]["old"]
    assert read_manifest(None, "1,9")["seeds"] == [1, 9]
    for bad, message in (({"seeds": "x"}, "seeds"), ({"seeds": [1], "edits": {"a b": {}}}, "edit 'a b'"),
                         ({"seeds": [1], "edits": {"a": {"nose": 1}}}, "edit 'a'"), ({}, "nothing to render"),
                         ({"seeds": [1], "format": "bmp"}, "format")):
        m.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=message):
            read_manifest(m)
    m.write_text("{not json")
    with pytest.raises(ValueError, match="m.json"):
        read_manifest(m)


def test_edit_specs_become_edits():
    base = EditState.new("fp", 6, seed_a=3)
    groups = {"coarse": range(0, 2), "middle": range(2, 4), "fine": range(4, 6)}
    s = edit_state(base, {"psi": 0.5, "seed_b": 9, "mix": {"coarse": 1}, "directions": {"age": 2},
                          "locks": ["gender"], "paint": "oil", "noise": "off"}, groups, 0.7)
    assert (s.psi, s.source_b.seed, s.mix[:3], s.directions, s.locks, s.paint, s.noise_mode) == \
        (0.5, 9, (1.0, 1.0, 0.0), (("age", 2.0),), ("gender",), "oil", "off")
    assert edit_state(base, {}, groups, 0.7) == base.with_psi(0.7)
    with pytest.raises(ValueError, match="mix group"):
        edit_state(base, {"mix": {"hair": 1}}, groups, 0.7)


def test_pool_and_ray_write_the_same_files(default_weights, tmp_path, capsys):
    from editor.cli import main
    from editor.directions import load_library
    from editor.model import load_generator
    from editor.pipeline import render_edit
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"seeds": [1, 2], "size": 64,
                                    "edits": {"plain": {}, "older": {"directions": {"age": 2.0}}}}))
    assert main(["batch", str(manifest), "-o", str(tmp_path / "pool"), "--workers", "2", "--quiet"]) == 0
    files = sorted(p.name for p in (tmp_path / "pool").iterdir())
    assert files == ["seed000001_older.png", "seed000001_plain.png", "seed000002_older.png", "seed000002_plain.png"]
    # Each file is the app's render of its edit, and carries the edit.
    gen = load_generator(default_weights, device="cpu")
    dirs, _ = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
    state, _ = io.read_edit_from_image(tmp_path / "pool" / "seed000002_older.png")
    assert state.source_a.seed == 2 and state.direction_amount("age") == 2.0
    want = render_edit(gen, state, dirs, 64)  # the full render shrunk, as every command sizes it
    got = np.asarray(Image.open(tmp_path / "pool" / "seed000002_older.png").convert("RGB"))
    assert np.abs(got.astype(int) - want).max() <= 1

    # A face that cannot be rendered is reported by name; the others are still written.
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "broken.png").write_bytes(b"not an image")
    manifest_2 = tmp_path / "m2.json"
    manifest_2.write_text(json.dumps({"seeds": [1], "photos": str(tmp_path / "photos"), "size": 64}))
    assert main(["batch", str(manifest_2), "-o", str(tmp_path / "two"), "--workers", "1", "--quiet"]) == 1
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["seed000001_plain.png"]
    assert "broken" in capsys.readouterr().err

    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["batch", str(manifest), "-o", str(tmp_path / "ray"), "--workers", "1", "--ray", "auto",
                     "--quiet"]) == 0
    finally:
        ray.shutdown()
    for name in files:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes(), name
