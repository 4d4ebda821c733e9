"""Process-wide settings, applied once by the app and the CLI at start-up, never as a side effect of an import.

`configure_process()` is called first thing by `main.py`, `python -m editor` and `editor.cli.main`, before torch
loads. A library user who imports `editor` gets none of it unless they call it: their process is theirs.
Utilities layer: imports nothing but the standard library (in particular not torch, whose OpenMP must not
have started when the wait policy is set).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from functools import lru_cache

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8  # glibc malloc.h
KEEP_FREED_BYTES = 1 << 30

_umask_lock = threading.Lock()


def configure_process() -> None:
    """Everything below, in the order it must happen (the wait policy before torch loads). Idempotent."""
    passive_openmp_wait()
    keep_freed_memory()


def passive_openmp_wait() -> None:
    """OMP_WAIT_POLICY=PASSIVE unless the user set it. OpenMP reads it once, when torch loads it.

    Worker threads that spin while waiting hold a core that another busy process (or our own GUI thread)
    needs, and a 2-thread render then waits on a descheduled thread at every barrier. Measured on a 2-core
    AVX2 machine with one other busy process: 1050 ms a 1024² render spinning, 345 ms passive. No effect if
    torch was imported before this call."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Let glibc keep the memory the renderer frees instead of handing it back to the kernel.

    Every render allocates and frees the same few 16-64 MB activations. By default glibc serves blocks
    that large with mmap and unmaps them on free, so the next render page-faults all of them in again:
    measured, that was 45% of a 1024² render on a 2-core AVX2 machine (378 -> 203 ms with this on), a
    third of it kernel time. Serving them from the heap and trimming it only above 1 GB of free space
    reuses the pages. Costs resident memory (the peak of one render stays mapped). glibc only; a no-op
    (False) elsewhere, or with FACE_EDITOR_KEEP_FREED_MEMORY=0.

    One arena for every thread: the renderer runs on a worker thread, and glibc's per-thread arenas are
    heaps of at most 64 MB that cannot hold these blocks, so without this a render on the worker still
    page-faulted its activations in every time (measured on the same machine: 275 ms on a worker thread vs
    172 ms on the main thread; 183 ms on the worker with one arena). The few large blocks a render
    allocates make the shared arena's lock irrelevant."""
    from .config import env
    if not sys.platform.startswith("linux") or env("FACE_EDITOR_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl)
    return (bool(mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)) and bool(mallopt(_M_MMAP_MAX, 0))
            and bool(mallopt(_M_ARENA_MAX, 1)))


def process_umask() -> int:
    """The process's umask, read at the time of asking: without changing it where the OS allows (Linux:
    /proc/self/status), else by setting and restoring it under a lock (briefly the strict 077, never a
    looser mask). Files we write get the permissions any other new file gets (mkstemp alone makes 0600)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask
