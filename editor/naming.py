"""File names suggested for what the user saves: they say what the edit is, so a folder of exports reads
like a list of faces ("seed12-x-seed40-coarse50-age+2.0-oil.png") instead of "untitled"."""

from __future__ import annotations

import re

from .defaults import DEFAULT_PSI
from .edit import EditState

MAX_STEM = 80  # every file system takes this; longer names are cut


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9+.-]+", "", text.replace(" ", "")) or "face"


def suggest_stem(state: EditState, groups: dict[str, range] | None = None) -> str:
    """A short, file-system-safe name for the edit: A, B if any of it is mixed in (with the share per
    layer group), the directions moved, and the paint style."""
    parts = [_slug(state.source_a.display_name)]
    if any(state.mix):
        parts += ["x", _slug(state.source_b.display_name)]
        for name, rows in (groups or {}).items():
            share = sum(state.mix[r] for r in rows) / max(1, len(rows))
            if share > 0:
                parts.append(f"{name}{round(100 * share)}")
    parts += [f"{_slug(name)}{amount:+.1f}" for name, amount in state.directions]
    if state.paint != "none":
        parts.append(state.paint)
    if state.psi != DEFAULT_PSI:
        parts.append(f"psi{state.psi:.2f}")
    return "-".join(parts)[:MAX_STEM].rstrip("-.") or "face"
