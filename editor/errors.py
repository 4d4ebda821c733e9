"""The editor's one error family: `EditorError(path, problem)` and its kinds, and the one message sanitizer.

Every file the editor reads can fail in one way the CLI and the GUI know how to show: a message that names
the file and says what was wrong. The kinds say which reader refused it, so a caller can catch one reader's
failures (`except PhotoError`) or all of them (`except EditorError`).

Messages are built from attacker-shaped files, so they are cleaned here, whatever the caller put in them:
escape sequences and control characters go, whitespace collapses to one line, and the length is bounded
(a 5 MB message once froze a dialog for 41 s). Untrusted values are never formatted directly;
`describe_value` says what they are by type and size. Utilities layer: standard library only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

MAX_PROBLEM_CHARS = 300  # characters of a problem shown to the user
MAX_PATH_CHARS = 200
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_CUT = " … "


def clean_text(text: Any, limit: int = MAX_PROBLEM_CHARS) -> str:
    """str(text) as one printable line of at most `limit` characters. A longer one loses its middle (marked
    ' … '): the start says what failed, the end often says where (a path's file name, an exception's cause)."""
    text = str(text)
    if len(text) > 8 * limit:  # cut first: a message may embed a huge string
        text = text[: 4 * limit] + _CUT + text[-4 * limit:]
    text = " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())
    if len(text) <= limit:
        return text
    if limit <= len(_CUT) + 1:
        return text[:limit]
    head = (limit - len(_CUT)) * 2 // 3
    return text[:head] + _CUT + text[len(text) - (limit - len(_CUT) - head):]


def describe_value(value: Any, limit: int = 40) -> str:
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


def describe_exception(exc: BaseException, limit: int = 160) -> str:
    """An exception from a library parser, as a bounded phrase (never the repr of file content)."""
    return clean_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, limit)


class EditorError(Exception):
    """A file could not be used. str() is '<path>: <problem>', cleaned and bounded; `path` (a Path, or None
    when no file is involved) and `problem` are kept for callers that lay the message out themselves."""

    def __init__(self, path: str | os.PathLike | None, problem: Any):
        self.path = None if path is None else Path(path)
        self.problem = clean_text(problem)
        where = f"{clean_text(self.path, MAX_PATH_CHARS)}: " if self.path is not None else ""
        super().__init__(f"{where}{self.problem}")

    def __reduce__(self):  # picklable (Ray and process pools send errors back): rebuilt from its two parts
        return type(self), (self.path, self.problem)


class CheckpointError(EditorError):
    """A model file (checkpoint, converted model, its cached side files) could not be used."""


class FileFormatError(EditorError):
    """An image, session, latent or sidecar could not be read as what we expected."""


class PhotoError(EditorError):
    """A photo could not be imported: unreadable, or no usable face in it."""


class DirectionError(EditorError):
    """A direction file or library (vector, components, manifest) could not be used."""
