"""The one error a model file can raise, so callers (CLI, GUI) have a single thing to catch and show.

Messages are built from attacker-shaped files, so they are cleaned here, whatever the caller put in them:
escape sequences and control characters go, whitespace collapses to one line, and the length is bounded.
Untrusted values are never formatted directly; `describe` says what they are by type and size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MAX_PROBLEM_CHARS = 400
MAX_PATH_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_text(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    """One printable line of at most `limit` characters (an ellipsis marks a cut)."""
    text = _CONTROL.sub(" ", _ANSI.sub("", text[: 8 * limit]))  # cut first: a message may embed a huge string
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(value: Any, limit: int = 40) -> str:
    """A short, safe description of an untrusted value: small scalars and short strings by value,
    short lists of numbers by value, anything else by type and size. Never calls the value's own repr."""
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else f"an int of {value.bit_length()} bits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(clean_text(value, limit)) if len(value) <= 4 * limit else f"a str of {len(value)} characters"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        if len(value) <= 8 and all(type(v) in (int, float) and (type(v) is float or v.bit_length() <= 64)
                                   for v in value):
            return clean_text(repr(list(value)), 2 * limit)
        return f"a {kind} of {len(value)} items"
    if isinstance(value, (dict, set, frozenset)):
        return f"a {type(value).__name__} of {len(value)} entries"
    return f"a {clean_text(type(value).__name__, limit)}"


class CheckpointError(Exception):
    """A model file could not be used. The message names the file and says what was wrong."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = clean_text(str(problem))
        where = f"{clean_text(str(self.path), MAX_PATH_CHARS)}: " if self.path is not None else ""
        super().__init__(f"{where}{self.problem}")


def cause_in_words(exc: BaseException) -> str:
    """What a library's exception on a model file means, in words a user can act on; the exception's own
    text only where it is the library's (never a value from the file), cleaned and bounded."""
    text = clean_text(str(exc), 300)
    low = text.lower()
    if isinstance(exc, UnicodeDecodeError) or isinstance(exc, EOFError) or "unexpected eof" in low \
            or "failed reading" in low or "exhausted before" in low or "not enough data" in low:
        return "it is truncated or corrupt (it ends, or turns to other bytes, in the middle of a record)"
    if isinstance(exc, OverflowError):
        return "a number in it is too large for any setting or weight (beyond the range of a float)"
    if isinstance(exc, MemoryError) or "can't allocate" in low or "cannot allocate" in low:
        return ("it asks for more memory than this machine has: a small file declaring a huge tensor or "
                "container, which no real model does")
    if isinstance(exc, RecursionError):
        return "it nests objects deeper than Python can follow"
    if "out of bounds for storage" in low or "storage of size" in low or "invalid size" in low \
            or "resize storage" in low \
            or "negative dimension" in low or "numel" in low:
        return "a tensor in it declares more values than its stored data holds (or an impossible size)"
    return f"{type(exc).__name__}: {clean_text(text, 200)}" if text else type(exc).__name__
