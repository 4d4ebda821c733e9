"""Writing files whole or not at all: every file the editor or its tools write goes through `atomic_write_bytes`,
so a crash or a full disk never leaves a half-written file where a good one was.

A utility below everything else (the model's cache and converter use it); editor.io re-exports these.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .runtime import process_umask


# --------------------------------------------------------------------------------------- atomic write
def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write all of data to path or nothing: a temp file in the same folder (same file system, so
    os.replace is atomic), fsynced, then renamed over the target. The temp file never survives.
    A symlink at the target is replaced by the file, never written through (a link planted in an output
    folder must not redirect the write elsewhere); a folder at the target is an IsADirectoryError in words."""
    path = Path(path)
    path = Path(os.path.realpath(path.parent)) / path.name  # the folder the caller named, links and all
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way of the file to write "
                                              "(move or rename it)", str(path))
    mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) else 0o666 & ~process_umask()
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable; best effort
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


STALE_TEMP_S = 600  # no write takes this long: an older temp file of ours was left by a killed process


def _remove_stale_temps(path: Path) -> None:
    """Temp files of our own naming for this target, left by a process killed mid-write (kill -9 skips
    every cleanup); young ones may belong to a write under way in another process and are left alone."""
    now = time.time()
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                if now - p.lstat().st_mtime > STALE_TEMP_S and stat.S_ISREG(p.lstat().st_mode):
                    p.unlink()


def atomic_write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """np.save, written whole or not at all."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Indented JSON for files people read (manifests, configs), written whole or not at all."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode("utf-8"))
