"""Bad input never crashes, hangs or eats memory, and a bad file never replaces good work (issue 11).

First the minimal cases of the fuzz audit, rebuilt here from our own files (tiny configs): each must end
in the reader's documented error, naming the file, with a bounded message. Then a seeded mutation loop
per reader over a few hundred damaged copies of good files: the only outcomes allowed are the documented
error or a valid result with finite, sane values. Everything runs in-process; limits make it safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import tracemalloc
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

from editor import io as eio
from editor.directions import library
from editor.directions.library import DirectionError, import_ganspace, import_interfacegan, user_directions_dir
from editor.io import FileFormatError, fit_to_model, load_latent, load_session, read_edit_from_image
from editor.model.errors import CheckpointError
from editor.model.loading import load_generator
from editor.measures.align import PhotoError, read_photo
from editor.safe_read import MAX_MESSAGE
from tests import fuzz_cases as fc

MUTANTS = 500      # per reader: ~25 s for all eleven on one busy core
SEED = 20261122


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def refused(fn, path: Path, error: type, *args, match: str = "") -> str:
    """fn(path) raises `error` naming the file, with a bounded message (containing `match`)."""
    with pytest.raises(error) as info:
        fn(path, *args)
    msg = str(info.value)
    assert path.name in msg and len(msg) < MAX_MESSAGE + 260, msg
    assert match in msg, msg
    return msg


def library_snapshot(model: str = "tiny") -> dict[str, bytes]:
    folder = user_directions_dir(model)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*"))} if folder.is_dir() else {}


def ifg(path):
    return import_interfacegan(path, "tiny", fc.FP, fc.W_DIM, fc.NUM_WS)


def gs(path):
    return import_ganspace(path, "tiny", fc.FP, fc.W_DIM, fc.NUM_WS)


# ------------------------------------------------------------------------------------------ minimal cases
DEEP = "[" * 50_000 + "]" * 50_000


def test_deeply_nested_json_is_a_clean_error_in_every_reader(tmp_path):
    session = tmp_path / "deep.json"
    session.write_text('{"format":"face-editor-session","version":1,"extra":' + DEEP + "}")
    refused(load_session, session, FileFormatError, match="nested")

    png = tmp_path / "deep.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt(eio.PNG_KEY, '{"edit":' + DEEP + "}", zip=True)
    Image.fromarray(fc.tiny_rgb()).save(png, pnginfo=info)
    refused(read_edit_from_image, png, FileFormatError, match="nested")

    jpg = tmp_path / "deep_xmp.jpg"
    Image.fromarray(fc.tiny_rgb()).save(jpg, xmp=eio._xmp_packet('{"edit":' + "[" * 20_000 + "]" * 20_000 + "}"))
    refused(read_edit_from_image, jpg, FileFormatError, match="nested")

    side = fc.write_sidecar_only_jpeg(tmp_path / "deep_side.jpg")
    eio.sidecar_path(side).write_text('{"edit":' + DEEP + "}")
    refused(read_edit_from_image, side, FileFormatError, match="nested")

    model = fc.write_model(tmp_path / "deep.safetensors", config=DEEP)
    refused(load_generator, model, CheckpointError, match="nested")
    # Brackets inside strings are text, not nesting: a label of them (and escaped quotes) still opens.
    label = '\\"' + "[" * 1000 + '{"'
    state = fc.tiny_state()
    state = state.with_source("b", fc.Source.from_seed(7, label))
    assert load_session(fc.write_session(tmp_path / "label.json", state))[0] == state


def test_a_json_that_is_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    refused(load_session, link, FileFormatError, match="not a regular file")


@pytest.mark.parametrize("header, problem", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", "far too large"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551617, 1), }", "far too large"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", "broken"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 8), }", "impossible shape"),
    ("{'descr': '|V8', 'fortran_order': False, 'shape': (4, 8), }", "only float"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", "only float"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (4,), }", "pickle"),
    ("{'descr': '<f16', 'fortran_order': False, 'shape': (4,), }", "float"),
    ("{'descr': '<f4(99999999, 99999999)', 'fortran_order': False, 'shape': (4,), }", "only float"),  # fuzz find
    ("{'descr': '<f4', 'fortran_order': 2, 'shape': (4,), }", "fortran_order"),
])
def test_npy_headers_are_checked_before_numpy_allocates(tmp_path, header, problem):
    data = fc.npy_with_header(header)
    for name, payload in (("bad.npy", data), ("bad.npz", fc.npz_of({"w.npy": data}, zipfile.ZIP_DEFLATED))):
        (tmp_path / name).write_bytes(payload)
        tracemalloc.start()
        try:
            refused(load_latent, tmp_path / name, FileFormatError, match=problem)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, peak  # the 3.6 TiB declared was never asked for


def test_zip_entries_encrypted_or_with_other_compression_are_refused(tmp_path):
    good = fc.write_latent_npz(tmp_path / "good.npz").read_bytes()
    (tmp_path / "encrypted.npz").write_bytes(fc.zip_entry_rewrite(good, flag_or=0x1))
    refused(load_latent, tmp_path / "encrypted.npz", FileFormatError, match="encrypted")
    (tmp_path / "method99.npz").write_bytes(fc.zip_entry_rewrite(good, method=99))
    refused(load_latent, tmp_path / "method99.npz", FileFormatError, match="compression")
    lzma = fc.npz_of({"w.npy": fc.write_latent_npy(tmp_path / "w.npy").read_bytes()}, zipfile.ZIP_LZMA)
    (tmp_path / "lzma.npz").write_bytes(lzma)
    refused(load_latent, tmp_path / "lzma.npz", FileFormatError, match="compression")
    # An LZMA entry with broken data: refused before any decompressor sees it.
    (tmp_path / "lzma_broken.npz").write_bytes(lzma[:40] + b"\xff" * 40 + lzma[80:])
    refused(load_latent, tmp_path / "lzma_broken.npz", FileFormatError)


def test_only_the_declared_bytes_are_inflated_whatever_the_zip_says(tmp_path):
    """A small zip whose entry inflates to 64 MB behind a valid 128-byte latent: 128 bytes are read."""
    head = fc.npy_with_header(f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({fc.NUM_WS}, {fc.W_DIM}), }}")
    data = fc.npz_of({"w.npy": head + np.float32(0.5).tobytes() * (fc.NUM_WS * fc.W_DIM) + bytes(64 << 20)},
                     zipfile.ZIP_DEFLATED)
    assert len(data) < 200_000
    (tmp_path / "bomb.npz").write_bytes(data)
    tracemalloc.start()
    try:
        w = load_latent(tmp_path / "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert w.shape == (fc.NUM_WS, fc.W_DIM) and np.all(w == 0.5) and peak < 4 << 20
    # The same for GANSpace: 2 GB declared is refused from the header.
    bomb = fc.npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1, 512), }")
    (tmp_path / "bomb_gs.npz").write_bytes(fc.npz_of({"lat_comp.npy": bomb + bytes(1 << 20), "lat_stdev.npy": bomb},
                                                      zipfile.ZIP_DEFLATED))
    refused(gs, tmp_path / "bomb_gs.npz", DirectionError, match="far too large")


def test_latents_that_no_generator_makes_are_refused(tmp_path):
    for name, w in (("huge.npz", np.full((fc.NUM_WS, fc.W_DIM), 1e6, np.float32)),
                    ("fifty.npz", np.full((fc.NUM_WS, fc.W_DIM), 50.0, np.float32))):
        np.savez(tmp_path / name, w=w[None])
        refused(load_latent, tmp_path / name, FileFormatError, match="would render as NaN")
        state = fc.tiny_state(latent=w)
        refused(load_session, fc.write_session(tmp_path / f"{name}.json", state), FileFormatError, match="NaN")
        refused(read_edit_from_image, fc.write_export(tmp_path / f"{name}.png", state), FileFormatError, match="NaN")
    assert load_latent(fc.write_latent_npz(tmp_path / "ok.npz")).shape == (fc.NUM_WS, fc.W_DIM)


def test_a_latent_or_direction_that_does_not_fit_the_model_replaces_nothing(tmp_path):
    """fit_to_model is what File › Open runs before the edit is replaced."""
    good = fc.tiny_state(directions=[("age", 1.0), ("gone", 2.0)])
    state, notices = fit_to_model(good, tmp_path / "e.png", fc.FP, fc.W_DIM, fc.NUM_WS, {"age"})
    assert state.directions == (("age", 1.0),) and len(notices) == 1 and "gone" in notices[0] and "e.png" in notices[0]
    assert fit_to_model(good, "e.png", fc.FP, fc.W_DIM, fc.NUM_WS, {"age", "gone"}) == (good, [])
    three_rows = fc.tiny_state(latent=np.zeros((3, fc.W_DIM), np.float32))
    with pytest.raises(FileFormatError, match="rows.png.*shape"):
        fit_to_model(three_rows, tmp_path / "rows.png", fc.FP, fc.W_DIM, fc.NUM_WS, set())
    with pytest.raises(FileFormatError, match="dim.png.*shape"):
        fit_to_model(good, tmp_path / "dim.png", fc.FP, fc.W_DIM + 1, fc.NUM_WS, set())
    with pytest.raises(FileFormatError, match="made with model"):
        fit_to_model(good, tmp_path / "fp.png", "other:1", fc.W_DIM, fc.NUM_WS, set())


def test_bad_direction_imports_are_refused_and_leave_the_library(tmp_path):
    ifg(fc.write_boundary(tmp_path / "smile_boundary.npy"))
    before = library_snapshot()
    (tmp_path / "empty.npy").write_bytes(b"")
    refused(ifg, tmp_path / "empty.npy", DirectionError, match="empty")
    np.save(tmp_path / "void.npy", np.zeros(fc.W_DIM, "V4"))
    refused(ifg, tmp_path / "void.npy", DirectionError, match="only float")
    refused(ifg, fc.write_ganspace(tmp_path / "as_boundary.npz"), DirectionError, match=".npz")
    refused(gs, fc.write_boundary(tmp_path / "as_ganspace.npy"), DirectionError, match=".npy")
    for name, value in (("nan.npy", np.nan), ("inf.npy", np.inf), ("big.npy", 3e38), ("zero.npy", 0.0)):
        np.save(tmp_path / name, np.full((1, fc.W_DIM), value, np.float32))
        refused(ifg, tmp_path / name, DirectionError)
    comp = np.eye(fc.W_DIM, dtype=np.float32)[:3, None, :]
    comp[1, 0, 2] = np.nan
    np.savez(tmp_path / "nan_gs.npz", lat_comp=comp, lat_stdev=np.ones(3, np.float32))
    refused(gs, tmp_path / "nan_gs.npz", DirectionError, match="NaN")
    np.savez(tmp_path / "neg_gs.npz", lat_comp=np.eye(fc.W_DIM, dtype=np.float32)[:3, None], lat_stdev=-np.ones(3))
    refused(gs, tmp_path / "neg_gs.npz", DirectionError, match="positive")
    assert library_snapshot() == before


def test_a_library_entry_with_an_absurd_scale_is_reported_not_loaded(tmp_path):
    ifg(fc.write_boundary(tmp_path / "smile_boundary.npy"))
    manifest = user_directions_dir("tiny") / "manifest.json"
    data = json.loads(manifest.read_text())
    data["directions"][0]["scale"] = 1e300
    manifest.write_text(json.dumps(data))
    dirs, problems = library.load_library("tiny", fc.FP, fc.W_DIM, fc.NUM_WS)
    assert "smile" not in dirs and len(problems) == 1 and "manifest.json" in problems[0] and "scale" in problems[0]


def test_a_failing_ganspace_import_is_all_or_nothing(tmp_path, monkeypatch):
    ifg(fc.write_boundary(tmp_path / "smile_boundary.npy"))
    before = library_snapshot()
    comp = np.eye(fc.W_DIM, dtype=np.float32)[:8, None, :]
    comp[5] = 0  # component 5 points nowhere: the audit saw 0-4 written, then the failure
    np.savez(tmp_path / "zero5.npz", lat_comp=comp, lat_stdev=np.ones(8, np.float32))
    refused(gs, tmp_path / "zero5.npz", DirectionError, match="zero")
    assert library_snapshot() == before
    # A failure while writing (disk full at the 4th file) takes back the files already written.
    calls = []
    real = library.atomic_write_npy

    def failing(path, array):
        calls.append(path)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        real(path, array)

    monkeypatch.setattr(library, "atomic_write_npy", failing)
    with pytest.raises(OSError):
        gs(fc.write_ganspace(tmp_path / "full.npz"))
    assert library_snapshot() == before and len(calls) == 4
    monkeypatch.setattr(library, "atomic_write_npy", real)
    assert len(gs(tmp_path / "full.npz")) == 6
    dirs, problems = library.load_library("tiny", fc.FP, fc.W_DIM, fc.NUM_WS)
    assert not problems and {"smile", "full_pc0", "full_pc5"} <= set(dirs)


@pytest.mark.parametrize("change, problem", [
    (lambda c: [c], "JSON object"),
    (lambda c: {**c, "w_dim": -8}, "w_dim"),
    (lambda c: {**c, "w_dim": "8"}, "w_dim"),
    (lambda c: {**c, "w_dim": 10 ** 9}, "w_dim"),
    (lambda c: {**c, "z_dim": 8.5}, "z_dim"),
    (lambda c: {**c, "preview_sizes": [16] * 10 ** 6}, "preview_sizes"),
    (lambda c: {**c, "channels": [8, -8]}, "channels"),
    (lambda c: {**c, "preview_fidelity_db": [1]}, "preview_fidelity_db"),
])
def test_safetensors_config_is_checked_before_the_network_is_built(tmp_path, change, problem):
    _, config = fc.tiny_mobile_tensors()
    refused(load_generator, fc.write_model(tmp_path / "m.safetensors", config=change(config)), CheckpointError,
            match=problem)


def test_non_finite_or_absurd_weights_and_w_avg_are_refused(tmp_path):
    path = fc.write_model(tmp_path / "good.safetensors")
    gen = load_generator(path, device="cpu", dtype=torch.float32)
    assert gen.w_dim == fc.W_DIM and torch.isfinite(gen.synthesis(gen.w_avg[None])).all()
    for name, key, value in (("nan.safetensors", "conv1.affine.weight", float("nan")),
                             ("huge.safetensors", "conv1.affine.weight", 3e38),
                             ("nan_avg.safetensors", "w_avg", float("nan")),
                             ("far_avg.safetensors", "w_avg", 1e4)):
        tensors, _ = fc.tiny_mobile_tensors()
        tensors[key] = torch.full_like(tensors[key], value)
        refused(load_generator, fc.write_model(tmp_path / name, tensors), CheckpointError)


def test_photos_that_broke_the_reader(tmp_path):
    # A JPEG declaring 65535x1 made draft() divide by zero.
    Image.new("RGB", (16, 1), (9, 9, 9)).save(tmp_path / "small.jpg")
    jpeg = bytearray((tmp_path / "small.jpg").read_bytes())
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 7:sof + 9] = (65535).to_bytes(2, "big")  # SOF0: length, precision, height, then width
    (tmp_path / "wide.jpg").write_bytes(bytes(jpeg))
    try:
        assert read_photo(tmp_path / "wide.jpg").shape[2] == 3
    except PhotoError as exc:
        assert "wide.jpg" in str(exc)
    # A WebP header declaring 16383x15000: refused from the header, before ~4 GB of decoding.
    Image.fromarray(fc.tiny_rgb()).save(tmp_path / "small.webp", lossless=True)
    webp = bytearray((tmp_path / "small.webp").read_bytes())
    i = webp.find(b"VP8L")  # lossless: after the signature byte, 14 bits of width-1 and 14 of height-1
    webp[i + 9:i + 13] = (16382 | 14999 << 14).to_bytes(4, "little")
    (tmp_path / "giant.webp").write_bytes(bytes(webp))
    refused(read_photo, tmp_path / "giant.webp", PhotoError, match="16383x15000 is too large")
    # An EPS named .png never reaches PIL's EPS plugin (which starts Ghostscript).
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    refused(read_photo, tmp_path / "eps.png", PhotoError, match="not a readable image")
    refused(read_edit_from_image, tmp_path / "eps.png", FileFormatError, match="not an image")


# -------------------------------------------------------------- pipes, devices and links (issue 28)
def _manifest_reader(path):
    from editor.batch_manifest import read_manifest
    return read_manifest(path)


def _photo_reader(path):
    from editor.measures.align import read_photo
    return read_photo(path)


READERS = {"session": load_session, "latent": load_latent, "manifest": _manifest_reader,
           "image": read_edit_from_image, "photo": _photo_reader}


def _special(tmp_path, kind: str):
    if kind == "fifo":
        p = tmp_path / "pipe.json"
        os.mkfifo(p)
        return p
    if kind == "link-to-zero":
        p = tmp_path / "zero.npz"
        p.symlink_to("/dev/zero")
        return p
    return Path(kind)


def _call_guarded(fn, path, unblock, limit_s: float = 60.0):
    """fn(path) in a thread; if it is still running after limit_s (blocked on a pipe), the pipe is given
    a writer so the thread can end, and the test fails. The limit is a hang guard, not a speed check."""
    import threading
    out = {}

    def go():
        try:
            out["result"] = fn(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc
    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(limit_s)
    if t.is_alive():
        unblock()
        t.join(10)
        pytest.fail(f"{fn.__name__} blocked on {path}")
    return out


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom", "link-to-zero"])
def test_every_reader_refuses_pipes_and_devices_before_opening_them(tmp_path, reader, kind):
    path = _special(tmp_path, kind)

    def unblock():  # a writer on the pipe ends a blocked open() (and then its read)
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    out = _call_guarded(READERS[reader], path, unblock)
    assert "result" not in out, f"{reader} read {kind} as a file"
    error = out["error"]
    assert isinstance(error, (FileFormatError, ValueError)) or type(error).__name__ == "PhotoError", repr(error)
    assert "regular file" in str(error) and path.name in str(error), str(error)


def test_a_pipe_swapped_in_after_the_check_does_not_block(tmp_path, monkeypatch):
    """The kind is checked again on the descriptor, which is opened non-blocking: a file replaced by a
    FIFO between the stat and the open still ends in the refusal, not a hang."""
    from editor import safe_read
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    real_stat = os.stat
    monkeypatch.setattr(safe_read.os, "stat", lambda p, *a, **k: real_stat(tmp_path, *a, **k)
                        if str(p) == str(pipe) else real_stat(p, *a, **k))
    monkeypatch.setattr(safe_read.stat, "S_ISREG", lambda mode, real=safe_read.stat.S_ISREG:
                        real(mode) or safe_read.stat.S_ISDIR(mode))  # the stat above passes as a file
    out = _call_guarded(load_session, pipe, lambda: os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)))
    assert isinstance(out.get("error"), FileFormatError), out


# --------------------------------------------------------------------------------------------- fuzz loop
@pytest.mark.parametrize("reader", fc.READERS)
def test_mutated_files_end_in_the_documented_error_or_a_sane_result(tmp_path, reader):
    """Bit flips, truncations, splices and hostile tokens; `make fuzz` runs many more in child processes."""
    spec = fc.special_readers(tmp_path) if reader == "special" else fc.readers(tmp_path)[reader]
    # 'special': every reader given every FIFO, device and odd link once (each must be the documented error)
    cases = len(spec) * len(fc.SPECIALS) if reader == "special" else MUTANTS
    outcomes = Counter(fc.run_case(reader, spec, i, SEED) for i in range(cases))
    print(f"\nfuzz {reader}: {cases} mutants, " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    assert sum(outcomes.values()) == cases and outcomes["documented error"] > 0
    if reader == "special":
        assert outcomes["documented error"] == cases
