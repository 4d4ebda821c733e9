"""Argument types for every command: a mistake is one line on stderr naming the option and what it takes, exit 2.

argparse calls these as `type=`; an ArgumentTypeError becomes "PROG: error: argument --seed: MESSAGE".
Values out of range are refused here, never clamped later. No Qt, no torch at import (--device imports it).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
SEED_MAX = 2 ** 32 - 1  # NVIDIA's scripts draw z with RandomState(seed): 0 <= seed < 2**32
MAX_SIZE = 4096         # no supported model renders more; a model's own limit is checked once it is loaded


class UsageError(Exception):
    """A setting found after parsing (an environment variable) that cannot work: one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage stays behind --help). Sub-commands made with
    add_subparsers().add_parser inherit this class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _fail(text: str):
    raise argparse.ArgumentTypeError(text)


def _number_text(lo: float, hi: float) -> str:
    return f"{lo:g}..{hi:g}"


def integer(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            _fail(f"must be a whole number {lo}..{hi}, not {text!r}")
        if not lo <= value <= hi:
            _fail(f"must be {lo}..{hi}, not {value}")
        return value
    parse.__name__ = "integer"
    return parse


def number(lo: float, hi: float, *, open_low: bool = False):
    """A finite float in [lo, hi] ((lo, hi] with open_low)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            _fail(f"must be a number {_number_text(lo, hi)}, not {text!r}")
        if not math.isfinite(value):
            _fail(f"must be a finite number {_number_text(lo, hi)}, not {text!r}")
        if not (lo < value if open_low else lo <= value) or value > hi:
            wanted = f"more than {lo:g} and at most {hi:g}" if open_low else _number_text(lo, hi)
            _fail(f"must be {wanted}, not {value:g}")
        return value
    parse.__name__ = "number"
    return parse


seed = integer(0, SEED_MAX)
size = integer(8, MAX_SIZE)


def existing_file(text: str) -> str:
    path = Path(text)
    if not path.exists():
        _fail(f"no such file: {text}")
    if not path.is_file():
        _fail(f"not a file: {text}")
    return text


def existing_folder(text: str) -> str:
    if not Path(text).is_dir():
        _fail(f"no such folder: {text}")
    return text


def _parent_exists(text: str) -> None:
    parent = Path(text).parent
    if not parent.is_dir():
        _fail(f"the folder {str(parent)!r} does not exist (create it first)")


def output_file(*suffixes: str):
    """A file to write: its folder must exist, its name must end in one of `suffixes`."""
    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            _fail(f"must end in {', '.join(suffixes)}: {text!r}")
        _parent_exists(text)
        if Path(text).is_dir():
            _fail(f"is a folder: {text}")
        return text
    parse.__name__ = "output file"
    return parse


image_output = output_file(*IMAGE_SUFFIXES)


def output_folder(text: str) -> str:
    """A folder to write into (made if missing): its parent must exist, and it must not be a file."""
    if Path(text).exists() and not Path(text).is_dir():
        _fail(f"is a file, not a folder: {text}")
    _parent_exists(text)
    return text


def animation_output(text: str) -> str:
    """out.mp4, out.gif, or a folder for PNG frames (no suffix)."""
    suffix = Path(text).suffix.lower()
    if suffix not in ("", ".mp4", ".gif"):
        _fail(f"must end in .mp4 or .gif, or name a folder for PNG frames (no suffix): {text!r}")
    return output_folder(text) if suffix == "" else output_file(".mp4", ".gif")(text)


def device(text: str) -> str:
    """cpu, cuda, cuda:N or mps, and present on this machine."""
    import torch
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        _fail(f"must be cpu, cuda, cuda:N or mps, not {text!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            _fail(f"CUDA is not available on this machine (no NVIDIA GPU, or PyTorch {torch.__version__} "
                  "was built without CUDA); use cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            _fail(f"there is no {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            _fail("MPS (Apple GPU) is not available on this machine; use cpu")
    elif dev.type != "cpu":
        _fail(f"must be cpu, cuda, cuda:N or mps, not {text!r}")
    return text


def window_size(text: str) -> str:
    """WxH, each 200..8192; returned as 'WxH'."""
    w, sep, h = text.lower().partition("x")
    try:
        wh = (int(w), int(h)) if sep else None
    except ValueError:
        wh = None
    if wh is None or not all(200 <= v <= 8192 for v in wh):
        _fail(f"must be WIDTHxHEIGHT with each 200..8192, e.g. 1400x900, not {text!r}")
    return f"{wh[0]}x{wh[1]}"


def name_amount(lo: float, hi: float):
    """NAME=SIGMA (a direction and how far to move along it)."""
    amount = number(lo, hi)

    def parse(text: str) -> tuple[str, float]:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            _fail(f"must be NAME=SIGMA, e.g. age=3, not {text!r}")
        try:
            return name.strip(), amount(value)
        except argparse.ArgumentTypeError as exc:
            _fail(f"{name.strip()}: {exc}")
    parse.__name__ = "NAME=SIGMA"
    return parse


def seed_list(text: str) -> list[int]:
    """Comma-separated seeds, at least two."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    seeds = [seed(p) for p in parts]
    if len(seeds) < 2:
        _fail(f"must be two or more comma-separated seeds, e.g. 1,2,3, not {text!r}")
    return seeds


def interrupted() -> int:
    """Ctrl+C: one line, exit status 130 (128 + SIGINT), as shells expect."""
    print("interrupted", file=sys.stderr)
    return 130
