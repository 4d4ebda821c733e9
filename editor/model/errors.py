"""The one error a model file can raise, so callers (CLI, GUI) have a single thing to catch and show.

`CheckpointError` is a kind of the editor's `EditorError` (editor/errors.py), which cleans every message
built from attacker-shaped files; these names stay importable here.
"""

from ..errors import MAX_PATH_CHARS, MAX_PROBLEM_CHARS, CheckpointError, clean_text
from ..errors import describe_value as describe

__all__ = ["MAX_PATH_CHARS", "MAX_PROBLEM_CHARS", "CheckpointError", "clean_text", "describe"]
