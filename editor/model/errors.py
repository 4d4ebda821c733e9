"""The one error a model file can raise, so callers (CLI, GUI) have a single thing to catch and show."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(Exception):
    """A model file could not be used. The message names the file and says what was wrong."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{problem}")
