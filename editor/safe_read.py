"""Bounded readers for files from anywhere: every limit is checked before memory is spent on it.

JSON: nesting is measured before `json.loads` (which would otherwise end in RecursionError), and the
bytes read are capped (a `.json` that is a link to /dev/zero must not fill memory).
.npy/.npz: numpy trusts the header, so a 128-byte file declaring a [10^6, 10^6] array makes it try to
allocate terabytes. Here the header is parsed by us, its dtype and shape are checked against the caller's
limit, and only then exactly that many bytes are read; a zip member is read through a stream that never
inflates more than those bytes (a 2 MB zip that inflates to 2 GB costs 2 MB). Only float arrays are
accepted, only stored or deflated zip members, never pickles.

Every failure raises the caller's own error type, `error(path, problem)`, with a bounded message.
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import re
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import MAX_PROBLEM_CHARS, clean_text, describe_exception

MAX_JSON_DEPTH = 64           # our documents nest 4 deep; anything far deeper is not ours
MAX_JSON_BYTES = 32 << 20     # a session with two w+ latents is ~150 kB
MAX_MESSAGE = MAX_PROBLEM_CHARS  # characters of a problem shown to the user (a 5 MB message froze a dialog for 41 s)
MAX_NPY_HEADER = 10_000       # numpy's own default cap on header length
MAX_NPY_DIMS = 4
MAX_ZIP_MEMBERS = 256
NPY_MAGIC = b"\x93NUMPY"

Error = Callable[[Path, str], Exception]
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # unrolled: one step per run, not per byte
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]")
_FLOAT_DESCR = re.compile(r"[<>|=]?f[248]")  # what np.save writes for float16/32/64


def bounded(text: Any, limit: int = MAX_MESSAGE) -> str:
    """str(text) as one printable line of at most `limit` characters: the editor's one sanitizer."""
    return clean_text(text, limit)


def describe(exc: BaseException) -> str:
    """An exception from a library parser, as a bounded phrase (never the repr of file content)."""
    return describe_exception(exc)


def open_regular(path: str | os.PathLike, error: Error, what: str = "file"):
    """A binary file object for a regular file, or `error`: the kind is checked before the open (opening a
    FIFO blocks until a writer comes, forever) and again on the open descriptor, which is opened
    non-blocking so a file swapped for a pipe between the two checks cannot hang us either."""
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise error(path, f"not a regular file ({_kind(st.st_mode)}); it cannot be a {what}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(path, f"cannot read: {bounded(e.strerror or e, 160)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(path, f"not a regular file ({_kind(st.st_mode)}); it cannot be a {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def read_capped(path: str | os.PathLike, limit: int, error: Error, what: str = "file") -> bytes:
    """All bytes of a regular file of at most `limit` bytes; devices, FIFOs and bigger files are refused
    before they are opened (open_regular)."""
    path = Path(path)
    with open_regular(path, error, what) as f:
        try:
            st = os.fstat(f.fileno())
            if st.st_size > limit:
                raise error(path, f"{st.st_size:,} bytes is far too large for a {what} (at most {limit:,})")
            # Chunks, not read(limit + 1): Python would allocate the whole limit up front.
            data = _read_exactly(f, limit + 1)
        except OSError as e:
            raise error(path, f"cannot read: {bounded(e.strerror or e, 160)}") from None
    if len(data) > limit:  # the file grew while we read it
        raise error(path, f"far too large for a {what} (at most {limit:,} bytes)")
    return data


def json_depth(data: bytes) -> int:
    """Deepest nesting of [ and { outside strings (an unterminated string counts its brackets: harmless)."""
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", data))
    if not brackets:
        return 0
    b = np.frombuffer(brackets, np.uint8)
    steps = np.where((b == ord("[")) | (b == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def loads_json(data: bytes | str, path: str | os.PathLike, error: Error, where: str = "file") -> Any:
    """json.loads with the nesting and size checked first; NaN and Infinity are refused too."""
    path = Path(path)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_JSON_BYTES:
        raise error(path, f"the {where} JSON is far too large ({len(raw):,} bytes)")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise error(path, f"the {where} JSON is nested {depth} deep (at most {MAX_JSON_DEPTH}): not ours")

    def no_constants(name: str) -> float:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise error(path, f"the {where} is not valid JSON: {describe(e)}") from None


# ------------------------------------------------------------------------------------------ .npy / .npz
class _Capped(io.RawIOBase):
    """A read-only view of a stream that refuses to deliver more than `limit` bytes in all."""

    def __init__(self, stream, limit: int):
        self.stream, self.left = stream, limit

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.left:
            raise ValueError("more data than the limit allows")
        data = self.stream.read(n)
        self.left -= len(data)
        return data


def _read_exactly(stream, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = stream.read(min(n - got, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def npy_from_stream(stream, path: Path, error: Error, max_bytes: int, what: str) -> np.ndarray:
    """One .npy from `stream`: header parsed and checked before anything the size of the data is made."""
    stream = _Capped(stream, MAX_NPY_HEADER + 16 + max_bytes)
    head = _read_exactly(stream, 8)
    if len(head) < 8 or head[:6] != NPY_MAGIC:
        raise error(path, f"the {what} is not a .npy array")
    major = head[6]
    if major == 1:
        size_bytes = _read_exactly(stream, 2)
        hlen = struct.unpack("<H", size_bytes)[0] if len(size_bytes) == 2 else -1
    elif major in (2, 3):
        size_bytes = _read_exactly(stream, 4)
        hlen = struct.unpack("<I", size_bytes)[0] if len(size_bytes) == 4 else -1
    else:
        raise error(path, f"the {what} has .npy format version {major}, not 1, 2 or 3")
    if not 0 < hlen <= MAX_NPY_HEADER:
        raise error(path, f"the {what} has a broken .npy header (length {hlen})")
    header = _read_exactly(stream, hlen)
    if len(header) < hlen:
        raise error(path, f"the {what} is truncated inside its .npy header")
    try:
        d = ast.literal_eval(header.decode("utf-8" if major == 3 else "latin1"))
    except Exception as e:  # noqa: BLE001 - a literal parser on file bytes: any failure is "broken header"
        raise error(path, f"the {what} has a broken .npy header ({describe(e)})") from None
    if not (isinstance(d, dict) and set(d) == {"descr", "fortran_order", "shape"}):
        raise error(path, f"the {what} has a broken .npy header (not numpy's three keys)")
    descr, fortran, shape = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str) or not _FLOAT_DESCR.fullmatch(descr):
        kind = descr.lstrip("<>|=")[:1] if isinstance(descr, str) else "V"
        kind = {"O": "Python objects (a pickle, never loaded)", "V": "void/structured values"}.get(
            kind, f"{bounded(descr, 12)} values")
        raise error(path, f"the {what} holds {kind}; only float arrays are accepted")
    dtype = np.dtype(descr)  # one of six strings, by the pattern above
    if not isinstance(fortran, bool):
        raise error(path, f"the {what} has a broken .npy header (fortran_order is not true or false)")
    if (not isinstance(shape, tuple) or len(shape) > MAX_NPY_DIMS
            or not all(type(s) is int and 0 <= s for s in shape)):
        raise error(path, f"the {what} has an impossible shape {bounded(shape, 60)}")
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow, even for 2^64 dimensions
    if nbytes > max_bytes:
        raise error(path, f"the {what} declares shape {bounded(shape, 60)} ({nbytes:.3g} bytes), far too "
                          f"large (at most {max_bytes:,})")
    data = _read_exactly(stream, nbytes)
    if len(data) < nbytes:
        raise error(path, f"the {what} is truncated ({len(data):,} of {nbytes:,} bytes)")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")


def read_npy(path: str | os.PathLike, error: Error, max_bytes: int, what: str = "array") -> np.ndarray:
    path = Path(path)
    data = read_capped(path, MAX_NPY_HEADER + 16 + max_bytes, error, what)
    if not data:
        raise error(path, "empty file")
    if not data.startswith(NPY_MAGIC):
        kind = "an .npz (zip) archive" if data.startswith(b"PK") else "not a .npy array"
        raise error(path, f"{kind}; a .npy {what} is needed here")
    return npy_from_stream(io.BytesIO(data), path, error, max_bytes, what)


def read_npz(path: str | os.PathLike, keys: tuple[str, ...], error: Error, max_bytes: int,
             what: str = "archive") -> dict[str, np.ndarray]:
    """The arrays `keys` of an .npz (missing keys are left out: the caller says which it needs).
    max_bytes caps each array and, with the file's own size, all that is inflated."""
    path = Path(path)
    data = read_capped(path, max_bytes * len(keys) + (1 << 20), error, what)
    if not data:
        raise error(path, "empty file")
    if not data.startswith(b"PK"):
        kind = "a .npy array" if data.startswith(NPY_MAGIC) else "not an .npz (zip) archive"
        raise error(path, f"{kind}; an .npz {what} is needed here")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise error(path, f"the {what} holds {len(infos):,} entries (at most {MAX_ZIP_MEMBERS})")
            for info in infos:
                key = info.filename.removesuffix(".npy")
                if key not in keys or key in out:
                    continue
                if info.flag_bits & 0x1:
                    raise error(path, f"entry {bounded(key, 40)} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise error(path, f"entry {bounded(key, 40)} uses zip compression {info.compress_type}; "
                                      "numpy writes only stored or deflated entries")
                with zf.open(info) as member:
                    out[key] = npy_from_stream(member, path, error, max_bytes, f"array {bounded(key, 40)!r}")
    except Exception as e:  # noqa: BLE001 - zipfile and zlib raise a dozen types on bad bytes; all mean "corrupt"
        if isinstance(error, type) and isinstance(e, error):
            raise
        raise error(path, f"corrupt or truncated .npz ({describe(e)})") from None
    return out
