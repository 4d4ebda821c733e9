"""Progress bars for the command line: one tqdm bar per stage of the engine's (stage, done, total) reports.

Its own module so every subcommand module (directions, animate, batch) can use it without importing
editor.cli, which imports them to build its parser.
"""

from __future__ import annotations

import sys


class Bar:
    """A tqdm bar per stage, fed by the (stage, done, total) callbacks the engine reports."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.stage, self.bar = quiet, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        from tqdm import tqdm
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, leave=False, file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
