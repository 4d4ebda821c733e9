"""Files the editor reads and writes: exported images carrying their edit, sessions, and latents.

Every write goes through `atomic_write_bytes`, so a crash or a full disk never leaves a half-written
file where a good one was. Every read problem is one `FileFormatError` (an `EditorError`) naming the file, for the GUI to show.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from dataclasses import replace
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from . import __version__
from .edit import EditState
from .errors import FileFormatError
from .files import STALE_TEMP_S, atomic_write_bytes, atomic_write_json, atomic_write_npy  # noqa: F401 (re-exported)
from .safe_read import bounded, describe, loads_json, open_regular, read_capped, read_npy, read_npz
from .values import MAX_LATENT_ABS, MAX_LATENT_RMS, latent_problem  # noqa: F401 (re-exported)

PNG_KEY = "face-editor"
SESSION_FORMAT = "face-editor-session"
SESSION_VERSION = 1
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
XMP_NS = "https://github.com/face-editor/ns/1.0/"
# One JPEG APP1 segment holds at most 65533 bytes, less the XMP signature; an edit with latent sources
# (~130 kB of base64) does not fit, and Extended XMP is rarely read back by other tools. The sidecar,
# always written for JPEG and WebP, carries the edit then.
JPEG_XMP_LIMIT = 65533 - 29
MAX_LATENT_BYTES = 64 << 20  # a w+ is ~50 kB; refuse a small zip that inflates to gigabytes
MAX_SESSION_BYTES = 32 << 20   # a session or sidecar with two w+ latents is ~150 kB
MAX_IMAGE_PIXELS = 64_000_000  # exports are 1024²; a header declaring more is refused before decoding


class NoEmbeddedEdit(FileFormatError):
    """A readable image that carries no edit: a plain photo, say (the app offers to import it)."""


def _json_bytes(obj: Any) -> bytes:
    # allow_nan=False: NaN is not JSON, and other readers would choke on it.
    return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode("utf-8")


def _read_bytes(path: Path) -> bytes:
    return read_capped(path, MAX_SESSION_BYTES, FileFormatError, "session or sidecar")


def check_latent_values(state: EditState, path: str | os.PathLike) -> EditState:
    """Refuse latents no generator makes (latent_problem)."""
    for name, src in (("A", state.source_a), ("B", state.source_b)):
        if src.kind == "latent" and (problem := latent_problem(src.w)):
            raise FileFormatError(path, f"the latent of source {name} {problem}")
    return state


def fit_to_model(state: EditState, path: str | os.PathLike, fingerprint: str, w_dim: int, num_ws: int,
                 known_directions) -> tuple[EditState, list[str]]:
    """Check an opened edit against the loaded model before it replaces anything: the model, and every
    latent's shape, must match (FileFormatError otherwise). Directions and locks the library lacks are
    dropped, not refused (the rest of the edit is still the user's work); the notices say which."""
    if state.model_fingerprint != fingerprint or state.num_ws != num_ws:
        raise FileFormatError(path, f"this edit was made with model {bounded(state.model_fingerprint, 80)!r} "
                                    f"({state.num_ws} w+ rows); the open model is {fingerprint!r} ({num_ws} rows). "
                                    "Open that model first (File › Open model).")
    for name, src in (("A", state.source_a), ("B", state.source_b)):
        if src.kind == "latent" and (src.w.shape[1] != w_dim or src.w.shape[0] not in (1, num_ws)):
            raise FileFormatError(path, f"the latent of source {name} has shape {src.w.shape}; this model needs "
                                        f"[1, {w_dim}] or [{num_ws}, {w_dim}]")
    known = set(known_directions)
    unknown = sorted({n for n, _ in state.directions if n not in known} | {n for n in state.locks if n not in known})
    if not unknown:
        return state, []
    fixed = replace(state, directions=tuple((n, a) for n, a in state.directions if n in known),
                    locks=tuple(n for n in state.locks if n in known))
    shown = ", ".join(bounded(n, 40) for n in unknown[:8]) + (" …" if len(unknown) > 8 else "")
    return fixed, [f"{bounded(Path(path).name, 80)}: left out direction(s) this model's library does not have: {shown}"]


# -------------------------------------------------------------------------------------------- images
def sidecar_path(path: str | os.PathLike) -> Path:
    """photo.jpg -> photo.jpg.json (the full name, so photo.jpg and photo.webp do not share one)."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def _payload(state: EditState, model_name: str) -> dict:
    return {"edit": state.to_dict(), "model": model_name, "app_version": __version__}


def _xmp_packet(text: str) -> bytes:
    rdf = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    body = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{rdf}">'
            f'<rdf:Description rdf:about="" xmlns:faceeditor="{XMP_NS}"><faceeditor:edit>{escape(text)}'
            f'</faceeditor:edit></rdf:Description></rdf:RDF></x:xmpmeta>')
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{body}<?xpacket end="w"?>').encode("utf-8")


def _text_from_xmp(xmp: bytes | str, path: Path) -> str | None:
    raw = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    if XMP_NS.encode() not in raw:
        return None  # some other tool's XMP: not ours, not an error
    try:
        root = ET.fromstring(raw.strip(b"\x00 \r\n\t"))
    except ET.ParseError as e:
        raise FileFormatError(path, f"the embedded XMP is not valid XML: {e}") from None
    tag = f"{{{XMP_NS}}}edit"
    for el in root.iter():
        if el.tag == tag:
            return el.text or ""
        if tag in el.attrib:  # tools that rewrite XMP may turn simple elements into attributes
            return el.attrib[tag]
    return None


def export_image(path: str | os.PathLike, rgb_uint8: np.ndarray, state: EditState, model_name: str) -> None:
    """Write the image with its edit embedded (PNG iTXt 'face-editor'; JPEG/WebP XMP) and, for JPEG/WebP,
    always a sidecar <file>.json too: lossy formats pass through tools that strip metadata."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot export {path.name!r}: use one of {', '.join(IMAGE_FORMATS)}")
    if not (isinstance(rgb_uint8, np.ndarray) and rgb_uint8.dtype == np.uint8 and rgb_uint8.ndim == 3
            and rgb_uint8.shape[2] == 3):
        got = f"{getattr(rgb_uint8, 'dtype', type(rgb_uint8).__name__)} {getattr(rgb_uint8, 'shape', '')}"
        raise ValueError(f"image must be a uint8 numpy array [H, W, 3], got {got}")
    text = _json_bytes(_payload(state, model_name)).decode("ascii")
    img = Image.fromarray(np.ascontiguousarray(rgb_uint8))
    buf = io.BytesIO()
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PNG_KEY, text, zip=True)
        img.save(buf, format="PNG", pnginfo=info)
    else:
        xmp = _xmp_packet(text)
        kwargs: dict[str, Any] = {"quality": 95}
        if fmt == "WEBP" or len(xmp) <= JPEG_XMP_LIMIT:
            kwargs["xmp"] = xmp
        img.save(buf, format=fmt, **kwargs)
    data = buf.getvalue()
    if fmt != "PNG":
        # The sidecar names the pixels it belongs to: image and sidecar are two renames, and a process
        # killed between them leaves new pixels beside the old sidecar. Decoded pixels, not file bytes,
        # so a tool that strips metadata without re-encoding keeps the pair matching.
        with Image.open(io.BytesIO(data)) as written:
            digest = _pixel_digest(written)
        side = _json_bytes({**_payload(state, model_name), "pixels_sha256": digest})
    atomic_write_bytes(path, data)
    if fmt != "PNG":
        atomic_write_bytes(sidecar_path(path), side)


def _pixel_digest(im: Image.Image) -> str:
    return hashlib.sha256(np.asarray(im.convert("RGB")).tobytes()).hexdigest()


def _parse_payload(text: str | bytes, path: Path, where: str) -> tuple[EditState, dict]:
    payload = loads_json(text, path, FileFormatError, f"{where} edit")
    if not isinstance(payload, dict) or not isinstance(payload.get("edit"), dict):
        raise FileFormatError(path, f"the {where} JSON has no 'edit' object")
    try:
        state = EditState.from_dict(payload["edit"])
    except ValueError as e:
        raise FileFormatError(path, f"the {where} edit is malformed: {e}") from None
    meta = {k: v for k, v in payload.items() if k != "edit"}
    return check_latent_values(state, path), meta


def read_edit_from_image(path: str | os.PathLike) -> tuple[EditState, dict]:
    """The edit an exported image carries -> (state, meta). meta has 'model', 'app_version' and
    'found_in' ('png' | 'xmp' | 'sidecar'), and for a sidecar 'pixels_match' (True, False, or None when
    the sidecar predates the check). The embedded copy wins over the sidecar."""
    path = Path(path)
    try:
        # A FIFO or device is refused before it is opened (an open would block, a read never end).
        # Only the formats we export: PIL's other plugins (EPS starts Ghostscript) never see the bytes.
        with open_regular(path, FileFormatError, "image") as f, \
                Image.open(f, formats=sorted(set(IMAGE_FORMATS.values()))) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise FileFormatError(path, f"{im.width}x{im.height} is far larger than any export "
                                            f"(at most {MAX_IMAGE_PIXELS // 1_000_000} MP)")
            im.load()  # decode fully: a truncated file should fail here, not later in the GUI
            info = dict(im.info)
            digest = None if PNG_KEY in info else _pixel_digest(im)
    except FileFormatError:
        raise
    except UnidentifiedImageError:
        raise FileFormatError(path, "not an image (or not a format this app reads: PNG, JPEG, WebP)") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise FileFormatError(path, f"cannot read: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - PIL's decoders raise many types on bad bytes; all mean "corrupt"
        raise FileFormatError(path, f"truncated or corrupt image: {describe(e)}") from None

    if PNG_KEY in info:
        state, meta = _parse_payload(str(info[PNG_KEY]), path, "embedded")
        found = "png"
    elif "xmp" in info and (text := _text_from_xmp(info["xmp"], path)) is not None:
        state, meta = _parse_payload(text, path, "embedded")
        found = "xmp"
    else:
        side = sidecar_path(path)
        if not side.is_file():
            raise NoEmbeddedEdit(path, f"no face-editor edit embedded, and no sidecar {side.name}")
        state, meta = _parse_payload(_read_bytes(side), side, "sidecar")
        found = "sidecar"
        # False: the sidecar was written for other pixels (an export cut short, or an image edited since);
        # the GUI opens the edit and says so. None: an older sidecar without the digest.
        meta["pixels_match"] = None if "pixels_sha256" not in meta else meta["pixels_sha256"] == digest
    return state, {**meta, "found_in": found}


# ------------------------------------------------------------------------------------------ sessions
def save_session(path: str | os.PathLike, state: EditState, extra: dict) -> None:
    """extra: whatever the GUI wants back (window layout, direction set, ...); it must be JSON-able.
    Serialisation happens before anything touches the disk, so a bad extra leaves the old file."""
    if not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict, not {type(extra).__name__}")
    doc = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "app_version": __version__,
           "edit": state.to_dict(), "extra": extra}
    atomic_write_bytes(path, json.dumps(doc, allow_nan=False, indent=1).encode("utf-8"))


def load_session(path: str | os.PathLike) -> tuple[EditState, dict]:
    path = Path(path)
    doc = loads_json(_read_bytes(path), path, FileFormatError, "session")
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        raise FileFormatError(path, f"not a session file (no \"format\": \"{SESSION_FORMAT}\")")
    if doc.get("version") != SESSION_VERSION or isinstance(doc.get("version"), bool):
        raise FileFormatError(path, f"unsupported session version {bounded(repr(doc.get('version')), 40)} "
                                    f"(this app reads version {SESSION_VERSION})")
    extra = doc.get("extra", {})
    if not isinstance(extra, dict):
        raise FileFormatError(path, "the session's 'extra' must be an object")
    try:
        state = EditState.from_dict(doc.get("edit"))
    except ValueError as e:
        raise FileFormatError(path, f"the session's edit is malformed: {e}") from None
    return check_latent_values(state, path), extra


# ------------------------------------------------------------------------------------------- latents
def save_latent_npz(path: str | os.PathLike, wplus: np.ndarray) -> None:
    """NVIDIA projector layout (projected_w.npz): key 'w', float32 [1, num_ws, w_dim]."""
    w = np.asarray(wplus.detach().cpu().numpy() if hasattr(wplus, "detach") else wplus)
    if w.ndim != 2 or w.size == 0 or w.dtype.kind != "f" or not np.isfinite(w).all():
        raise ValueError(f"wplus must be a finite float [num_ws, w_dim] array, got {w.dtype} {w.shape}")
    buf = io.BytesIO()
    np.savez(buf, w=w.astype(np.float32)[None])
    atomic_write_bytes(path, buf.getvalue())


def load_latent(path: str | os.PathLike) -> np.ndarray:
    """A latent from .npz (key 'w') or .npy -> float32 [k, w_dim], k = 1 or num_ws (as stored).
    Accepts [w_dim], [1, w_dim], [num_ws, w_dim], [1, num_ws, w_dim]; pickles are never loaded.
    The format is sniffed from the bytes, so a misnamed file still loads. Limits (safe_read) are checked
    before anything is allocated; values must be finite and within ±MAX_LATENT_ABS."""
    path = Path(path)
    head = read_capped(path, MAX_LATENT_BYTES + (1 << 20), FileFormatError, "latent")
    if not head:
        raise FileFormatError(path, "empty file")
    if head.startswith(b"PK"):
        a = read_npz(path, ("w",), FileFormatError, MAX_LATENT_BYTES, "latent").get("w")
        if a is None:
            raise FileFormatError(path, "no array 'w' in the .npz (the NVIDIA projector's layout)")
    elif head.startswith(b"\x93NUMPY"):
        a = read_npy(path, FileFormatError, MAX_LATENT_BYTES, "latent")
    else:
        raise FileFormatError(path, "not a .npy or .npz file")
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        raise FileFormatError(path, f"the latent must be a float array, not {getattr(a, 'dtype', type(a))}")
    if a.size == 0:
        raise FileFormatError(path, f"the latent is empty (shape {a.shape})")
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    elif a.ndim == 1:
        a = a[None]
    elif a.ndim != 2:
        raise FileFormatError(path, f"latent shape {a.shape} is not one of [w_dim], [1, w_dim], "
                                    f"[num_ws, w_dim], [1, num_ws, w_dim]")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, reported just below
        a = np.ascontiguousarray(a, dtype=np.float32)
    if problem := latent_problem(a):
        raise FileFormatError(path, f"the latent {problem}")
    return a
