"""Seed files and mutations for the fuzz tests: each reader's own good files, made with tiny configs, and
seeded byte-level damage (bit flips, truncations, splices, hostile tokens). No Qt; shared by
tests/test_fuzz_inputs.py (in-process, bounded) and anything longer run from the command line.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from editor import io as eio
from editor.edit import EditState, Source

W_DIM, NUM_WS, FP = 8, 4, "tiny:0123"

# Byte strings that have broken parsers before: deep nesting, numbers out of range, NaN, stray quotes,
# huge .npy shapes, invalid UTF-8.
TOKENS = [b"[" * 3000, b"{\"a\":" * 2000, b"1e400", b"-1e999", b"NaN", b"Infinity", b"-1", b"\"", b"\\",
          b"\xff\xfe", b"null", b"18446744073709551617", b"(99999999, 99999999)", b"'|V8'", b"'|O'",
          b"\x00" * 64, b"99999999999", b"'descr'", b"PK\x03\x04", b"\x93NUMPY"]


def tiny_state(latent: np.ndarray | None = None, directions=()) -> EditState:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((NUM_WS, W_DIM)).astype(np.float32) if latent is None else latent
    return EditState(FP, Source.from_latent(w, "tiny", "/x/tiny.npz"), Source.from_seed(7),
                     (0.0, 0.25, 0.5, 1.0), directions=tuple(directions))


def tiny_rgb() -> np.ndarray:
    return (np.arange(16 * 16 * 3) % 251).astype(np.uint8).reshape(16, 16, 3)


def write_session(path: Path, state: EditState | None = None) -> Path:
    eio.save_session(path, state or tiny_state(), {"model_name": "tiny"})
    return path


def write_export(path: Path, state: EditState | None = None) -> Path:
    eio.export_image(path, tiny_rgb(), state or tiny_state(), "tiny")
    return path


def write_sidecar_only_jpeg(path: Path, state: EditState | None = None) -> Path:
    """A JPEG with no XMP and its sidecar: what a metadata-stripping tool leaves."""
    Image.fromarray(tiny_rgb()).save(path, quality=90)
    text = json.dumps({"edit": (state or tiny_state()).to_dict(), "model": "tiny", "app_version": "0"})
    eio.sidecar_path(path).write_text(text)
    return path


def write_latent_npz(path: Path, w: np.ndarray | None = None) -> Path:
    eio.save_latent_npz(path, tiny_state().source_a.w if w is None else w)
    return path


def write_latent_npy(path: Path) -> Path:
    np.save(path, tiny_state().source_a.w)
    return path


def write_boundary(path: Path) -> Path:
    v = np.ones((1, W_DIM), np.float32)
    np.save(path, v / np.linalg.norm(v))
    return path


def write_ganspace(path: Path, k: int = 6) -> Path:
    comp = np.eye(W_DIM, dtype=np.float32)[:k, None, :] * 2
    np.savez(path, lat_comp=comp, lat_mean=np.zeros((1, W_DIM), np.float32),
             lat_stdev=np.linspace(3, 1, k).astype(np.float32))
    return path


def write_photo(path: Path) -> Path:
    img = Image.fromarray(np.kron(tiny_rgb(), np.ones((4, 4, 1), np.uint8)))
    img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)
    return path


def tiny_mobile_tensors(seed: int = 0) -> tuple[dict, dict]:
    """(tensors incl. w_avg, config) of a 32² MobileStyleGAN with 8-d latents, as our converter writes them."""
    from editor.model.mobilestylegan import MobileConfig, MobileStyleGAN
    torch.manual_seed(seed)
    cfg = MobileConfig(z_dim=8, w_dim=W_DIM, mapping_layers=2, channels=(8, 8, 8), preview_sizes=())
    net = MobileStyleGAN(cfg)
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    tensors["w_avg"] = torch.zeros(W_DIM)
    config = {"format": "editor-generator/1", "architecture": "mobilestylegan", "name": "tiny", "fingerprint": FP,
              "z_dim": 8, "w_dim": W_DIM, "mapping_layers": 2, "channels": [8, 8, 8], "preview_sizes": []}
    return tensors, config


def write_model(path: Path, tensors: dict | None = None, config: dict | str | None = None) -> Path:
    from safetensors.torch import save
    base_t, base_c = tiny_mobile_tensors()
    tensors = base_t if tensors is None else tensors
    config = base_c if config is None else config
    text = config if isinstance(config, str) else json.dumps(config)
    path.write_bytes(save(tensors, metadata={"config": text}))
    return path


# ---------------------------------------------------------------------------------------------- mutation
def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded damage of `data`, and its name (for the failure message)."""
    b = bytearray(data)
    kind = rng.choice(("flip", "truncate", "splice", "token", "bytes", "repeat"))
    n = len(b)
    if not n:
        return bytes(rng.choice(TOKENS)), "token"
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del b[rng.randrange(n):]
    elif kind == "splice":  # a chunk of the file copied over another place
        i, j = rng.randrange(n), rng.randrange(n)
        length = rng.randint(1, max(1, n // 8))
        b[j:j + length] = data[i:i + length]
    elif kind == "token":
        i = rng.randrange(n + 1)
        b[i:i + rng.randint(0, 4)] = rng.choice(TOKENS)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(n)] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x20, 0x22, 0x5B))
    else:  # a chunk repeated in place: lengths and counts disagree with the content
        i = rng.randrange(n)
        chunk = data[i:i + rng.randint(1, 64)]
        b[i:i] = chunk * rng.randint(2, 50)
    return bytes(b), kind


def zip_entry_rewrite(data: bytes, flag_or: int = 0, method: int | None = None) -> bytes:
    """Set bits in every entry's general-purpose flags and/or change its compression method, in the local
    headers and the central directory alike (what a hostile or broken zip writer produces)."""
    b = bytearray(data)
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = b.find(sig)
        while i >= 0:
            flags = int.from_bytes(b[i + flag_at:i + flag_at + 2], "little") | flag_or
            b[i + flag_at:i + flag_at + 2] = flags.to_bytes(2, "little")
            if method is not None:
                b[i + method_at:i + method_at + 2] = method.to_bytes(2, "little")
            i = b.find(sig, i + 4)
    return bytes(b)


def npy_with_header(header: str, payload: bytes = b"") -> bytes:
    """A .npy (version 1.0) with any header text: numpy's framing, our content."""
    h = header.encode("latin1")
    h += b" " * (-(len(h) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + payload


def npz_of(members: dict[str, bytes], compression: int = 0) -> bytes:
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- the readers
READERS = ("image", "sidecar", "session", "latent", "interfacegan", "ganspace", "photo", "model", "manifest",
           "breed", "delta", "special")
# Not regular files, given to every reader under its own kind of name (issue 28): each must be refused at
# once, never opened (a FIFO blocks an open() until a writer comes) nor read (a device never ends).
SPECIALS = ("fifo", "link to /dev/zero", "link to /dev/urandom", "link to /dev/null", "link to a folder",
            "dangling link", "/dev/zero")


def check_state(result) -> None:
    state, meta = result
    for src in (state.source_a, state.source_b):
        assert src.kind == "seed" or eio.latent_problem(src.w) is None
    assert isinstance(meta, dict)


def check_latent(w) -> None:
    assert w.dtype == np.float32 and w.ndim == 2 and eio.latent_problem(w) is None


def check_directions(result) -> None:
    for d in result if isinstance(result, list) else [result]:
        assert np.isfinite(d.vector).all() and np.abs(d.vector).max() <= eio.MAX_LATENT_ABS


def check_photo(rgb) -> None:
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


def check_model(result) -> None:
    net, _w_avg, _config = result
    assert all(torch.isfinite(t).all() for t in net.state_dict().values() if t.is_floating_point())


def write_manifest(path: Path) -> Path:
    path.write_text(json.dumps({
        "seeds": "1-3", "psi": 0.6, "size": 64, "format": "jpg", "steps": 20, "tune_steps": 5, "detail_steps": 0,
        "seconds": 30, "edits": {"plain": {}, "old": {"directions": {"age": 2}, "locks": ["gender"], "seed_b": 9,
                                                       "mix": {"coarse": 0.5}, "paint": "oil", "noise": "off"}}}))
    return path


def check_manifest(m) -> None:
    from editor.batch_manifest import MAX_EDITS, MAX_FACES
    from editor.edit import PSI_RANGE
    assert isinstance(m["seeds"], list) and len(m["seeds"]) <= MAX_FACES
    assert all(type(s) is int and 0 <= s < 2 ** 32 for s in m["seeds"])
    assert np.isfinite(m["psi"]) and PSI_RANGE[0] <= m["psi"] <= PSI_RANGE[1]
    assert m["size"] is None or (type(m["size"]) is int and 1 <= m["size"] <= 4096)
    assert isinstance(m["edits"], dict) and 0 < len(m["edits"]) <= MAX_EDITS
    for spec in m["edits"].values():
        assert all(np.isfinite(a) for a in spec.get("directions", {}).values())


def breed_state() -> EditState:
    """A crossbreed (edit version 2): a seed parent and a latent parent beside A and B."""
    from editor.breed import Parent
    w = np.random.default_rng(1).standard_normal((NUM_WS, W_DIM)).astype(np.float32)
    from dataclasses import replace
    return replace(tiny_state(), parents=(Parent(Source.from_seed(3), (1.0, 0.5, 0.0, 0.0)),
                                          Parent(Source.from_latent(w, "p"), (0.0, 0.0, 0.5, 1.0))))


def tiny_mobile_net():
    from editor.model.mobilestylegan import MobileConfig, MobileStyleGAN
    torch.manual_seed(0)
    return MobileStyleGAN(MobileConfig(z_dim=8, w_dim=W_DIM, mapping_layers=2, channels=(8, 8, 8), preview_sizes=()))


def write_delta(path: Path, net) -> Path:
    from editor.photo.delta import WeightDelta
    d = WeightDelta.zeros_like(net, rank=2, seed=1, full_below=300)
    g = torch.Generator().manual_seed(2)
    WeightDelta({k: tuple(t + 0.01 * torch.randn(t.shape, generator=g) for t in f) for k, f in d.factors.items()},
                d.shapes, {}, 0.0).save(path)
    return path


def check_delta(d) -> None:
    assert all(torch.isfinite(t.float()).all() for f in d.factors.values() for t in f)


def make_special(kind: str, target: Path) -> Path:
    """`target` made into `kind` (see SPECIALS); returns the path to give the reader."""
    import os
    if kind == "/dev/zero":
        return Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "link to a folder":
        target.symlink_to(target.parent)
    elif kind == "dangling link":
        target.symlink_to(target.parent / "nowhere" / target.name)
    else:
        target.symlink_to(kind.removeprefix("link to "))
    return target


def readers(tmp: Path) -> dict:
    """reader name -> (seed files written under tmp, read function, documented error, check of a valid
    result). Direction imports write to the user library: point XDG_DATA_HOME somewhere private first."""
    from editor.directions.library import DirectionError, import_ganspace, import_interfacegan
    from editor.model.errors import CheckpointError
    from editor.model.loading import _load_safetensors
    from editor.batch_manifest import read_manifest
    from editor.measures.align import PhotoError, read_photo
    from editor.photo.delta import WeightDelta
    net = tiny_mobile_net()

    def ifg(p):
        return import_interfacegan(p, "tiny", FP, W_DIM, NUM_WS)

    def gs(p):
        return import_ganspace(p, "tiny", FP, W_DIM, NUM_WS)

    return {
        "image": ([write_export(tmp / "e.png"), write_export(tmp / "e.jpg"), write_export(tmp / "e.webp")],
                  eio.read_edit_from_image, eio.FileFormatError, check_state),
        "sidecar": ([eio.sidecar_path(write_sidecar_only_jpeg(tmp / "s.jpg"))],
                    lambda p: eio.read_edit_from_image(p.with_suffix("")), eio.FileFormatError, check_state),
        "session": ([write_session(tmp / "s.json")], eio.load_session, eio.FileFormatError, check_state),
        "latent": ([write_latent_npz(tmp / "l.npz"), write_latent_npy(tmp / "l.npy")], eio.load_latent,
                   eio.FileFormatError, check_latent),
        "interfacegan": ([write_boundary(tmp / "b.npy")], ifg, DirectionError, check_directions),
        "ganspace": ([write_ganspace(tmp / "g.npz")], gs, DirectionError, check_directions),
        "photo": ([write_photo(tmp / "p.jpg"), write_photo(tmp / "p.png")], read_photo, PhotoError, check_photo),
        "model": ([write_model(tmp / "m.safetensors")], _load_safetensors, CheckpointError, check_model),
        "manifest": ([write_manifest(tmp / "b.json")], read_manifest, ValueError, check_manifest),
        "breed": ([write_session(tmp / "breed.json", breed_state())], eio.load_session, eio.FileFormatError,
                  check_state),
        "delta": ([write_delta(tmp / "d.safetensors", net)], lambda p: WeightDelta.load(p, net), ValueError,
                  check_delta),
    }


def special_readers(tmp: Path) -> dict:
    """Every reader for the special files: the model through load_generator (what opens a user's file)."""
    from editor.model.errors import CheckpointError
    from editor.model.loading import load_generator
    specs = readers(tmp)
    specs["model"] = (specs["model"][0], lambda p: load_generator(p, device="cpu"), CheckpointError, check_model)
    return specs


def run_case(reader: str, spec: tuple, i: int, seed: int) -> str:
    """Mutant i of `reader` (deterministic from seed and i) through its reader: 'documented error',
    'valid', or raises (AssertionError for garbage accepted or a message that does not name the file)."""
    from editor.safe_read import MAX_MESSAGE
    if reader == "special":
        return run_special(spec, i)
    seeds, read, error, check = spec
    src = seeds[i % len(seeds)]
    original = src.read_bytes()
    data, _how = mutate(original, random.Random(f"{seed}-{reader}-{i}"))
    # The mutant sits under a name of the same kind (a sidecar replaces the seed's, beside its image).
    target = src if reader == "sidecar" else src.with_name(f"m{i}{src.suffix}")
    target.write_bytes(data)
    try:
        result = read(target)
    except error as exc:
        msg = str(exc)
        assert target.name in msg and len(msg) < MAX_MESSAGE + 260, msg[:400]
        return "documented error"
    finally:
        target.write_bytes(original) if reader == "sidecar" else target.unlink()
    check(result)
    return "valid"


def run_special(specs: dict, i: int) -> str:
    """Case i of 'special': reader i mod R given the special file i // R mod K under its seed's kind of name."""
    from editor.safe_read import MAX_MESSAGE
    names = sorted(specs)
    reader, kind = names[i % len(names)], SPECIALS[(i // len(names)) % len(SPECIALS)]
    if reader == "sidecar" and kind == "/dev/zero":  # the sidecar is found by its name beside the image
        kind = "link to /dev/zero"
    seeds, read, error, _check = specs[reader]
    src = seeds[0]
    target = src if reader == "sidecar" else src.with_name(f"sp{i}{src.suffix}")
    saved = src.read_bytes() if reader == "sidecar" else None
    if reader == "sidecar":
        src.unlink()
    given = make_special(kind, target)
    try:
        read(given)  # the sidecar reader opens the image beside it
    except error as exc:
        msg = str(exc)
        named = given.name.removesuffix(".json") if reader == "sidecar" else given.name
        assert named in msg and len(msg) < MAX_MESSAGE + 260, msg[:400]
        return "documented error"
    finally:
        if given != Path("/dev/zero"):
            given.unlink()
        if saved is not None:
            src.write_bytes(saved)
    raise AssertionError(f"{reader} read {kind} as a file")
