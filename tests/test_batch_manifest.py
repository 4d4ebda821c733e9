"""The batch manifest is read through the bounded reader and checked whole before any work (issue 28):
each bad manifest ends in one ValueError naming the key and what is allowed; a batch writes only inside
its output folder."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from editor import batch
from editor.batch_manifest import MAX_FACES, check_for_model, read_manifest, tasks
from editor.edit import EditState

OK = {"seeds": [1], "edits": {"plain": {}}}

BAD = [  # (manifest, words its message must hold)
    ({"seed": [1, 2]}, ["seed", "did you mean 'seeds'"]),
    ({"seeds": [1], "edit": {}}, ["did you mean 'edits'"]),
    ({"seeds": "5-1"}, ["seeds", "'5-1'", "backwards", "'1-5'"]),
    ({"seeds": "0-1000000000"}, ["seeds", "1,000,000,001 seeds", f"at most {MAX_FACES:,}"]),
    ({"seeds": list(range(MAX_FACES + 1))}, ["seeds", f"at most {MAX_FACES:,}"]),
    ({"seeds": "x"}, ["seeds", "'FROM-TO'"]),
    ({"seeds": [1, -2]}, ["seeds[1]", "0 to"]),
    ({"seeds": [1, 2 ** 32]}, ["seeds[1]"]),
    ({"seeds": [True]}, ["seeds[0]", "an integer"]),
    ({"seeds": 5}, ["seeds", "not int"]),
    ({"seeds": []}, ["nothing to render", "seeds are an empty list"]),
    ({}, ["nothing to render", "no \"seeds\""]),
    ({**OK, "psi": {}}, ["psi", "a number from -1 to 2"]),
    ({**OK, "psi": 5}, ["psi", "from -1 to 2", "not 5"]),
    ({**OK, "psi": 10 ** 400}, ["psi", "from -1 to 2"]),
    ({**OK, "size": 10 ** 9}, ["size", "an integer from 1 to 4096"]),
    ({**OK, "size": "big"}, ["size", "an integer", "'big'"]),
    ({**OK, "size": 0}, ["size", "from 1"]),
    ({**OK, "size": 64.5}, ["size", "an integer"]),
    ({**OK, "steps": []}, ["steps", "an integer from 1 to 10000"]),
    ({**OK, "steps": 10 ** 6}, ["steps", "10000"]),
    ({**OK, "tune_steps": -1}, ["tune_steps", "from 0"]),
    ({**OK, "detail_steps": 1.5}, ["detail_steps", "an integer"]),
    ({**OK, "seconds": 0}, ["seconds", "a number from 1 to 86400"]),
    ({**OK, "threads": -1}, ["threads", "from 0"]),
    ({**OK, "photos": 5}, ["photos", "folder"]),
    ({**OK, "format": "bmp"}, ["format", "png, jpg, webp", "'bmp'"]),
    ({**OK, "edits": {}}, ["edits", "non-empty object"]),
    ({**OK, "edits": []}, ["edits", "object"]),
    ({**OK, "edits": {f"e{i}": {} for i in range(65)}}, ["edits", "at most 64"]),
    ({**OK, "edits": {"a b": {}}}, ["edit 'a b'", "letters, digits"]),
    ({**OK, "edits": {"../x": {}}}, ["edit '../x'", "letters, digits"]),
    ({**OK, "edits": {"a": 5}}, ["edit 'a'", "must be an object"]),
    ({**OK, "edits": {"a": {"nose": 1}}}, ["edit 'a' nose", "unknown key", "psi"]),
    ({**OK, "edits": {"a": {"direction": {}}}}, ["edit 'a' direction", "did you mean 'directions'"]),
    ({**OK, "edits": {"a": {"psi": "high"}}}, ["edit 'a' psi", "a number"]),
    ({**OK, "edits": {"a": {"directions": []}}}, ["edit 'a' directions", "object of direction name"]),
    ({**OK, "edits": {"a": {"directions": {"age": 99}}}}, ["edit 'a' directions.age", "from -20 to 20"]),
    ({**OK, "edits": {"a": {"directions": {"age": None}}}}, ["directions.age", "a number"]),
    ({**OK, "edits": {"a": {"locks": "age"}}}, ["edit 'a' locks", "a list of direction names"]),
    ({**OK, "edits": {"a": {"paint": "pastel"}}}, ["edit 'a' paint", "oil", "'pastel'"]),
    ({**OK, "edits": {"a": {"paint_strength": 2}}}, ["paint_strength", "from 0 to 1"]),
    ({**OK, "edits": {"a": {"noise": "loud"}}}, ["edit 'a' noise", "const, random, off"]),
    ({**OK, "edits": {"a": {"noise_strength": 9}}}, ["noise_strength", "from 0 to 5"]),
    ({**OK, "edits": {"a": {"noise_seed": -1}}}, ["noise_seed", "an integer"]),
    ({**OK, "edits": {"a": {"seed_b": "7"}}}, ["seed_b", "an integer", "'7'"]),
    ({**OK, "edits": {"a": {"mix": {"hair": 1}}}}, ["edit 'a' mix.hair", "coarse, middle, fine"]),
    ({**OK, "edits": {"a": {"mix": {"coarse": 2}}}}, ["mix.coarse", "from 0 to 1"]),
    ({**OK, "edits": {"a": {"mix": [1]}}}, ["edit 'a' mix", "object of group"]),
]


@pytest.mark.parametrize("doc, words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_each_bad_manifest_names_its_key_and_what_is_allowed(tmp_path, doc, words):
    m = tmp_path / "m.json"
    m.write_text(json.dumps(doc))
    with pytest.raises(ValueError) as info:
        read_manifest(m)
    msg = str(info.value)
    assert "m.json" in msg and len(msg) < 600, msg
    for w in words:
        assert w in msg, (w, msg)


@pytest.mark.parametrize("text, words", [
    ("{not json", ["not valid JSON"]),
    ('{"seeds": [1], "psi": NaN}', ["not valid JSON", "NaN"]),
    ('{"seeds": [1], "psi": Infinity}', ["Infinity"]),
    ('{"seeds": [1], "psi": 1e400}', ["psi", "not inf"]),
    ('{"seeds": ' + "[" * 5000 + "]" * 5000 + "}", ["nested", "at most 64"]),
    ("[1, 2]", ["must be a JSON object"]),
    ("\xff\xfe", ["not valid JSON"]),
])
def test_bad_json_is_named_before_any_check(tmp_path, text, words):
    m = tmp_path / "m.json"
    m.write_bytes(text.encode("utf-8", "surrogateescape") if text != "\xff\xfe" else b"\xff\xfe")
    with pytest.raises(ValueError) as info:
        read_manifest(m)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_a_huge_manifest_is_refused_by_its_size(tmp_path):
    m = tmp_path / "m.json"
    m.write_text('{"seeds": [1], "edits": {"plain": {}}, "photos": "' + "x" * (2 << 20) + '"}')
    with pytest.raises(ValueError, match="far too large"):
        read_manifest(m)


def test_a_good_manifest_expands_with_the_photo_knobs(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("b.jpg", "a.PNG", "notes.txt"):
        (photos / name).write_bytes(b"x")
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"seeds": "3-4", "photos": str(photos), "psi": 0.5, "size": 64, "format": "jpg",
                             "steps": 20, "tune_steps": 0, "detail_steps": 5, "seconds": 30,
                             "edits": {"plain": {}, "old": {"directions": {"age": 2}, "locks": ["gender"],
                                                            "mix": {"coarse": 1}, "seed_b": 7}}}))
    manifest = read_manifest(m)
    todo = tasks(manifest)
    assert [t["stem"] for t in todo] == ["seed000003", "seed000004", "a", "b"]
    assert {(t["steps"], t["tune_steps"], t["detail_steps"], t["seconds"]) for t in todo} == {(20, 0, 5, 30.0)}
    assert todo[0]["edits"]["old"]["directions"] == {"age": 2.0} and todo[0]["psi"] == 0.5
    assert (read_manifest(None, "1,9")["seeds"], read_manifest(None, "0-2")["seeds"]) == ([1, 9], [0, 1, 2])
    left_out = tasks(read_manifest(None, "1"))[0]
    assert (left_out["steps"], left_out["tune_steps"], left_out["detail_steps"], left_out["seconds"]) == \
        (None, None, None, None)  # the "normal" schedule, as `project`


def test_directions_locks_and_size_are_checked_against_the_model(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"seeds": [1], "size": 512, "edits": {"old": {"directions": {"agee": 1}}}}))
    manifest = read_manifest(m)
    with pytest.raises(ValueError) as info:
        check_for_model(manifest, ["age", "smile"], 1024, m)
    assert all(w in str(info.value) for w in ("edit 'old' directions.agee", "did you mean 'age'", "age, smile"))
    with pytest.raises(ValueError, match="size: must be from 1 to 256"):
        check_for_model(manifest, ["agee"], 256, m)
    manifest["edits"]["old"] = {"locks": ["gender"]}
    with pytest.raises(ValueError, match="edit 'old' locks.gender: unknown direction; .* has age"):
        check_for_model(manifest, ["age"], 1024)
    m.write_text(json.dumps({"seeds": [1], "edits": {"old": {"locks": ["gender"]}}}))
    with pytest.raises(ValueError, match="locks.gender"):  # read_manifest runs it when given the names
        read_manifest(m, directions=["age"], resolution=1024)
    check_for_model(manifest, ["gender"], 512)  # fits


# --------------------------------------------------------------------- the batch command, model faked
class _FakeGen:
    name, fingerprint, w_dim, num_ws, resolution, net, device, dtype = \
        "no-such-model", "fp", 8, 4, 64, None, "cpu", "torch.float32"


def _fake_batch(monkeypatch, faces: int = 2):
    import editor.model
    import editor.model.render_memory as rm
    monkeypatch.setattr(editor.model, "load_generator", lambda *a, **k: _FakeGen())
    monkeypatch.setattr(rm, "workers_that_fit", lambda net, device, n: (n, None))
    pixels = np.full((8, 8, 3), 200, np.uint8)
    state = EditState.new("fp", 4, seed_a=1).to_dict()

    def pool(todo, init_args, workers):
        for t in todo:
            yield [(f"{t['stem']}_{name}", state, pixels) for name in t["edits"]], None
    monkeypatch.setattr(batch, "_pool", pool)


def _args(tmp_path, manifest=None, seeds="1-2"):
    return argparse.Namespace(manifest=manifest, output=str(tmp_path / "out"), seeds=seeds, workers=1, ray=None,
                              model=None, device="cpu", quiet=True)


def test_a_batch_never_writes_through_a_link_planted_in_its_output_folder(tmp_path, monkeypatch, capsys):
    _fake_batch(monkeypatch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.png"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "seed000001_plain.png").symlink_to(victim)
    (out / "seed000002_plain.png").symlink_to(elsewhere)
    assert batch.run(_args(tmp_path)) == 0, capsys.readouterr().err
    assert victim.read_bytes() == b"precious" and [p.name for p in elsewhere.iterdir()] == ["victim.png"]
    for name in ("seed000001_plain.png", "seed000002_plain.png"):
        assert not (out / name).is_symlink() and (out / name).read_bytes()[:4] == b"\x89PNG"


def test_a_folder_in_the_way_is_reported_and_the_rest_is_written(tmp_path, monkeypatch, capsys):
    _fake_batch(monkeypatch)
    (tmp_path / "out" / "seed000001_plain.png").mkdir(parents=True)
    assert batch.run(_args(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "seed000001_plain: cannot write" in err and "folder is in the way" in err and "Traceback" not in err
    assert (tmp_path / "out" / "seed000002_plain.png").is_file()


def test_an_unknown_direction_stops_the_batch_before_any_work(tmp_path, monkeypatch, capsys):
    _fake_batch(monkeypatch)
    monkeypatch.setattr(batch, "_pool", lambda *a: pytest.fail("work started"))
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"seeds": [1], "edits": {"old": {"directions": {"agee": 1}}}}))
    assert batch.run(_args(tmp_path, str(m), None)) == 2
    assert "edit 'old' directions.agee: unknown direction" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_where_the_output_folder_should_be_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    _fake_batch(monkeypatch)
    (tmp_path / "out").write_text("not a folder")
    assert batch.run(_args(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "cannot make the output folder" in err and "Traceback" not in err
    assert (tmp_path / "out").read_text() == "not a folder"
