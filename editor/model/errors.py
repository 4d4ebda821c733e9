"""The one error a model file can raise, so callers (CLI, GUI) have a single thing to catch and show.

`CheckpointError` is a kind of the editor's `EditorError` (editor/errors.py), which cleans every message
built from attacker-shaped files; these names stay importable here.
"""

from ..errors import MAX_PATH_CHARS, MAX_PROBLEM_CHARS, CheckpointError, clean_text
from ..errors import describe_value as describe

__all__ = ["MAX_PATH_CHARS", "MAX_PROBLEM_CHARS", "CheckpointError", "cause_in_words", "clean_text", "describe"]


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
