"""Exported images, sessions and latent files: round trips, every bad input, and atomic writes."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import editor.io as eio
from editor.edit import EditState, Source
from editor.io import (FileFormatError, atomic_write_bytes, export_image, load_latent, load_session,
                       read_edit_from_image, save_latent_npz, save_session, sidecar_path)

NUM_WS, W_DIM = 18, 512  # a real model's size, so latent sources are too big for one JPEG XMP segment


def seed_state() -> EditState:
    return (EditState.new("fp-123", NUM_WS, 11, 12, noise_mode="random", noise_seed=3)
            .with_group_mix(range(4, 8), 0.4).with_direction("smile", 1.25).with_psi(0.6))


def latent_state() -> EditState:
    rs = np.random.RandomState(0)
    return (seed_state().with_source("a", Source.from_latent(rs.randn(NUM_WS, W_DIM), "proj", "/tmp/p.npz"))
            .with_source("b", Source.from_latent(rs.randn(NUM_WS, W_DIM), "other")))


def image(h: int = 48, w: int = 40) -> np.ndarray:
    return np.random.RandomState(1).randint(0, 256, (h, w, 3), dtype=np.uint8)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------------------- images
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".webp", ".PNG"])
@pytest.mark.parametrize("make", [seed_state, latent_state])
def test_export_read_round_trip(tmp_path, suffix, make):
    path = tmp_path / f"face{suffix}"
    export_image(path, image(), make(), "tiny model")
    state, meta = read_edit_from_image(path)
    assert state == make()
    assert meta["model"] == "tiny model" and "app_version" in meta
    if suffix.lower() == ".png":
        assert meta["found_in"] == "png" and not sidecar_path(path).exists()
    else:
        assert sidecar_path(path).exists()
        # The only edit too big to embed is a JPEG's with latent sources (one APP1 segment is 64 kB).
        big_jpeg = make is latent_state and suffix != ".webp"
        assert meta["found_in"] == ("sidecar" if big_jpeg else "xmp")
    assert leftovers(tmp_path) == []


def test_png_pixels_are_exact(tmp_path):
    rgb = image(64, 33)
    export_image(tmp_path / "a.png", rgb, seed_state(), "m")
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), rgb)


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_reopen_through_the_sidecar_when_metadata_is_stripped(tmp_path, suffix):
    path = tmp_path / f"face{suffix}"
    export_image(path, image(), seed_state(), "m")
    with Image.open(path) as im:  # what a metadata-stripping tool would leave
        stripped = im.convert("RGB")
    stripped.save(path, quality=90)
    state, meta = read_edit_from_image(path)
    assert state == seed_state() and meta["found_in"] == "sidecar"


def test_export_rejects_unknown_suffix_and_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="face.gif"):
        export_image(tmp_path / "face.gif", image(), seed_state(), "m")
    for bad in (image().astype(np.float32), image()[..., :2], image()[0], [[1, 2, 3]]):
        with pytest.raises(ValueError, match="uint8"):
            export_image(tmp_path / "face.png", bad, seed_state(), "m")
    assert list(tmp_path.iterdir()) == []


def _png_with_text(path, text: str | None) -> None:
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_itxt("face-editor", text)
    Image.fromarray(image()).save(path, pnginfo=info)


def _bad_images(tmp):
    (tmp / "notes.png").write_text("this is not an image")
    yield "notes.png", "not an image"
    export_image(tmp / "good.png", image(256, 256), seed_state(), "m")
    data = (tmp / "good.png").read_bytes()
    (tmp / "cut.png").write_bytes(data[: len(data) // 2])
    yield "cut.png", "truncated"
    _png_with_text(tmp / "plain.png", None)
    yield "plain.png", "no face-editor edit"
    _png_with_text(tmp / "broken.png", "{not json")
    yield "broken.png", "not valid JSON"
    _png_with_text(tmp / "noedit.png", json.dumps({"model": "m"}))
    yield "noedit.png", "no 'edit'"
    bad = seed_state().to_dict() | {"psi": "high"}
    _png_with_text(tmp / "badedit.png", json.dumps({"edit": bad}))
    yield "badedit.png", "psi"
    Image.fromarray(image()).save(tmp / "side.jpg")
    (tmp / "side.jpg.json").write_text("[1, 2")
    yield "side.jpg.json", "sidecar edit is not valid JSON"
    yield "missing.png", "cannot read"
    (tmp / "empty.webp").write_bytes(b"")
    yield "empty.webp", "not an image"


def test_bad_images_raise_file_format_error_naming_the_file(tmp_path):
    cases = list(_bad_images(tmp_path))
    for name, problem in cases:
        target = tmp_path / name.removesuffix(".json")
        with pytest.raises(FileFormatError) as info:
            read_edit_from_image(target)
        assert name in str(info.value) and problem in str(info.value), str(info.value)


# ------------------------------------------------------------------------------------------ sessions
def test_session_round_trip(tmp_path):
    extra = {"directions_file": "dirs.npz", "window": [10, 20], "note": "ünïcode"}
    save_session(tmp_path / "s.json", latent_state(), extra)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["format"] == "face-editor-session" and doc["version"] == 1
    assert load_session(tmp_path / "s.json") == (latent_state(), extra)


@pytest.mark.parametrize("content, problem", [
    (b"", "not valid JSON"),
    (b"\xff\xfe garbage", "not valid JSON"),
    (b"[1, 2]", "not a session"),
    (b'{"format": "something-else", "version": 1}', "not a session"),
    (b'{"format": "face-editor-session", "version": 9}', "unsupported session version 9"),
    (b'{"format": "face-editor-session", "version": 1, "edit": {"version": 1}}', "edit is malformed"),
    (b'{"format": "face-editor-session", "version": 1, "edit": null}', "edit is malformed"),
    (b'{"format": "face-editor-session", "version": 1, "edit": {}, "extra": 3}', "'extra'"),
])
def test_bad_sessions(tmp_path, content, problem):
    path = tmp_path / "sess.json"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=problem) as info:
        load_session(path)
    assert "sess.json" in str(info.value)
    with pytest.raises(FileFormatError, match="nothere.json.*cannot read"):
        load_session(tmp_path / "nothere.json")


# ------------------------------------------------------------------------------------------- latents
def test_latent_npz_is_nvidia_layout_and_round_trips(tmp_path):
    w = np.random.RandomState(2).randn(NUM_WS, W_DIM).astype(np.float32)
    save_latent_npz(tmp_path / "w.npz", w)
    with np.load(tmp_path / "w.npz") as z:
        assert z.files == ["w"] and z["w"].shape == (1, NUM_WS, W_DIM) and z["w"].dtype == np.float32
    back = load_latent(tmp_path / "w.npz")
    assert back.dtype == np.float32 and np.array_equal(back, w)
    with pytest.raises(ValueError):
        save_latent_npz(tmp_path / "bad.npz", np.full((2, 3), np.nan))


@pytest.mark.parametrize("shape, out", [((W_DIM,), (1, W_DIM)), ((1, W_DIM), (1, W_DIM)),
                                        ((NUM_WS, W_DIM), (NUM_WS, W_DIM)), ((1, NUM_WS, W_DIM), (NUM_WS, W_DIM))])
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_latent_shapes_accepted(tmp_path, shape, out, kind):
    a = np.random.RandomState(3).randn(*shape)  # float64 on disk: converted
    path = tmp_path / f"x.{kind}"
    np.save(path, a) if kind == "npy" else np.savez(path, w=a)
    got = load_latent(path)
    assert got.shape == out and got.dtype == np.float32
    np.testing.assert_allclose(got.reshape(-1), a.reshape(-1), rtol=1e-6)


def _bad_latents(tmp):
    np.savez(tmp / "nokey.npz", latent=np.zeros((1, W_DIM)))
    yield "nokey.npz", "no array 'w'"
    np.save(tmp / "4d.npy", np.zeros((1, 1, 2, W_DIM)))
    yield "4d.npy", "shape"
    np.savez(tmp / "batch.npz", w=np.zeros((2, NUM_WS, W_DIM)))
    yield "batch.npz", "shape"
    np.save(tmp / "scalar.npy", np.float32(1))
    yield "scalar.npy", "shape"
    np.save(tmp / "nan.npy", np.full((1, W_DIM), np.nan))
    yield "nan.npy", "NaN"
    np.savez(tmp / "inf.npz", w=np.full((1, W_DIM), np.inf, dtype=np.float32))
    yield "inf.npz", "infinity"
    np.save(tmp / "huge.npy", np.full((1, W_DIM), 1e300))  # finite in float64, inf in float32
    yield "huge.npy", "infinity"
    np.save(tmp / "empty.npy", np.zeros((0, W_DIM), np.float32))
    yield "empty.npy", "empty"
    (tmp / "zero.npz").write_bytes(b"")
    yield "zero.npz", "empty file"
    save_latent_npz(tmp / "good.npz", np.ones((NUM_WS, W_DIM)))
    data = (tmp / "good.npz").read_bytes()
    (tmp / "cut.npz").write_bytes(data[: len(data) // 2])
    yield "cut.npz", "corrupt"
    (tmp / "mangled.npz").write_bytes(data[:60] + b"\0" * 200 + data[260:])
    yield "mangled.npz", ""
    np.save(tmp / "cut.npy", np.ones((NUM_WS, W_DIM)))
    (tmp / "cut.npy").write_bytes((tmp / "cut.npy").read_bytes()[:500])
    yield "cut.npy", ""
    np.save(tmp / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    yield "pickled.npy", "pickle"
    np.save(tmp / "ints.npy", np.ones((1, W_DIM), np.int64))
    yield "ints.npy", "float"
    (tmp / "text.npy").write_text("hello")
    yield "text.npy", "not a .npy or .npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hi")
    (tmp / "otherzip.npz").write_bytes(buf.getvalue())
    yield "otherzip.npz", "no array 'w'"
    yield "absent.npz", "cannot read"


def test_bad_latents_raise_file_format_error_naming_the_file(tmp_path):
    for name, problem in list(_bad_latents(tmp_path)):
        with pytest.raises(FileFormatError) as info:
            load_latent(tmp_path / name)
        assert name in str(info.value) and problem in str(info.value), str(info.value)


# ------------------------------------------------------------------------------------------- atomicity
def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"one")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"one" and (target.stat().st_mode & 0o777) == (0o666 & ~umask)
    target.chmod(0o600)
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and (target.stat().st_mode & 0o777) == 0o600
    assert leftovers(tmp_path) == []


def test_failure_midway_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(eio.os, "fsync", boom)  # the bytes are in the temp file; the sync then fails
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_failing_serialisation_keeps_the_old_files(tmp_path, monkeypatch):
    session, png = tmp_path / "s.json", tmp_path / "f.png"
    save_session(session, seed_state(), {"a": 1})
    export_image(png, image(), seed_state(), "m")
    old_session, old_png = session.read_bytes(), png.read_bytes()

    with pytest.raises(TypeError):
        save_session(session, latent_state(), {"not json": object()})

    def half_then_fail(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial")
        raise OSError("encoder crashed")
    monkeypatch.setattr(Image.Image, "save", half_then_fail)
    with pytest.raises(OSError, match="encoder crashed"):
        export_image(png, image(), latent_state(), "m")
    assert session.read_bytes() == old_session and png.read_bytes() == old_png
    assert leftovers(tmp_path) == []


def test_a_sidecar_left_from_an_earlier_export_is_reported(tmp_path, monkeypatch):
    """Image and sidecar are two renames: killed between them, new pixels sit beside the old sidecar."""
    monkeypatch.setattr(eio, "JPEG_XMP_LIMIT", 0)  # the edit only in the sidecar, as for a w+ too big for XMP
    path, first, second = tmp_path / "a.jpg", seed_state(), seed_state().with_psi(0.3)
    export_image(path, image(), first, "m")
    state, meta = read_edit_from_image(path)
    assert state == first and meta["found_in"] == "sidecar" and meta["pixels_match"] is True
    old_sidecar = sidecar_path(path).read_bytes()
    export_image(path, image()[::-1].copy(), second, "m")
    sidecar_path(path).write_bytes(old_sidecar)  # what the kill between the two renames leaves
    state, meta = read_edit_from_image(path)
    assert state == first and meta["pixels_match"] is False
    # A tool that strips the XMP without re-encoding keeps the pixels, so the pair still matches.
    monkeypatch.undo()
    export_image(path, image(), second, "m")
    data = path.read_bytes()
    i, kept = 2, bytearray(data[:2])
    while data[i + 1] != 0xDA:  # JPEG segments up to start-of-scan; drop the APP1 that holds XMP
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if not (data[i + 1] == 0xE1 and b"http://ns.adobe.com/xap/1.0/" in data[i:end]):
            kept += data[i:end]
        i = end
    path.write_bytes(bytes(kept + data[i:]))
    with Image.open(path) as im:
        assert "xmp" not in im.info
    state, meta = read_edit_from_image(path)
    assert state == second and meta["found_in"] == "sidecar" and meta["pixels_match"] is True


def test_temp_files_left_by_a_killed_write_are_removed_by_the_next_one(tmp_path):
    target = tmp_path / "a.json"
    stale, young, other = (tmp_path / ".a.json.x1.tmp", tmp_path / ".a.json.x2.tmp", tmp_path / ".b.json.x3.tmp")
    for p in (stale, young, other):
        p.write_bytes(b"half")
    old = time.time() - 2 * eio.STALE_TEMP_S
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not stale.exists() and young.exists() and other.exists()  # only ours, for this file, and old


# ----------------------------------------------------------------- links in an output folder (issue 28)
def test_the_atomic_writer_replaces_a_link_and_never_writes_through_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.png"
    victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").symlink_to(victim)
    (out / "b.png").symlink_to(elsewhere)  # a link to a folder
    (out / "c.png").symlink_to(tmp_path / "nowhere" / "x.png")  # a dangling link
    for name in ("a.png", "b.png", "c.png"):
        atomic_write_bytes(out / name, b"new " + name.encode())
        assert not (out / name).is_symlink() and (out / name).read_bytes() == b"new " + name.encode()
    assert victim.read_bytes() == b"precious" and sorted(p.name for p in elsewhere.iterdir()) == ["victim.png"]
    assert not (tmp_path / "nowhere").exists() and leftovers(out) == []


def test_a_folder_in_the_way_of_a_write_is_a_clear_error(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(IsADirectoryError, match="folder is in the way") as info:
        atomic_write_bytes(tmp_path / "x.png", b"data")
    assert "x.png" in str(info.value) and (tmp_path / "x.png").is_dir() and leftovers(tmp_path) == []


def test_an_export_through_planted_links_leaves_their_targets_alone(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "face.jpg").symlink_to(tmp_path / "victim.jpg")
    eio.sidecar_path(out / "face.jpg").symlink_to(victim)
    export_image(out / "face.jpg", image(), seed_state(), "tiny")
    assert victim.read_text() == "precious" and not (tmp_path / "victim.jpg").exists()
    assert read_edit_from_image(out / "face.jpg")[0] == seed_state()


def test_a_session_psi_written_as_a_huge_integer_is_a_clear_error(tmp_path):
    p = tmp_path / "s.json"
    save_session(p, seed_state(), {})
    p.write_text(p.read_text().replace('"psi": 0.6', '"psi": 1' + "0" * 400))
    with pytest.raises(FileFormatError, match="psi must be a finite number, not an integer of about 40[01] digits"):
        load_session(p)
