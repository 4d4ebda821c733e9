"""The batch manifest: read through the bounded reader and checked whole before any work starts.

Every problem is one ValueError that names the file, the key (`edit 'older' psi`, `seeds`) and what is
allowed, so a misspelt key, a reversed range or an unknown direction is found at once, not after a model
has loaded and a worker has failed. Checks that need the model (direction and lock names, the largest
size) are in `check_for_model`, which takes the names as arguments: this module imports no torch and no Qt.

Manifest (JSON):
    {"seeds": [1, 2, 3] or "0-99" or "1,5,9", "photos": "folder/", "psi": 0.7, "size": 512, "format": "png",
     "steps": 90, "tune_steps": 32, "detail_steps": 120, "seconds": 90, "threads": 2,  (photo import knobs:
     the "normal" schedule on 2 threads where left out, as `project`; with "seconds", a budget; threads 0: all)
     "edits": {"plain": {}, "older": {"directions": {"age": 3}, "locks": ["gender"]},
               "oil": {"paint": "oil", "psi": 0.5}, "mixed": {"seed_b": 7, "mix": {"coarse": 1}}}}
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

from .edit import (AMOUNT_RANGE, MIX_RANGE, NOISE_MODES, NOISE_STRENGTH_RANGE, PAINT_STYLES, PSI_RANGE,
                   SEED_LIMIT, EditState, Source)
from .safe_read import bounded, loads_json, read_capped

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIX_GROUPS = ("coarse", "middle", "fine")  # editor.model.generator.GROUP_RESOLUTIONS (not imported: torch)
EDIT_KEYS = {"psi", "directions", "locks", "paint", "paint_strength", "noise", "noise_strength", "noise_seed",
             "seed_b", "mix"}
# The photo import knobs (editor.photo.cli's --steps, --tune-steps, --detail-steps, --seconds, --threads).
KNOBS = {"steps": (int, 1, 10_000, None), "tune_steps": (int, 0, 10_000, None),
         "detail_steps": (int, 0, 10_000, None), "seconds": (float, 1.0, 86_400.0, None),
         "threads": (int, 0, 256, None)}
TOP_KEYS = {"seeds", "photos", "psi", "size", "format", "edits", *KNOBS}
MAX_MANIFEST_BYTES = 1 << 20  # a manifest of 64 edits is a few kB
MAX_FACES = 100_000           # seeds (and photos) of one batch: a day of renders on a big machine
MAX_EDITS = 64
MAX_NAME = 64                 # an edit name is part of every file name
MAX_SIZE = 4096               # before the model is known; check_for_model then caps at its resolution
MAX_DIRECTIONS = 256          # per edit, before the library is known
_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _problem(path, key: str, text: str) -> ValueError:
    where = f"{bounded(path, 200)}: " if path is not None else ""
    return ValueError(f"{where}{key}: {text}")


def _suggest(word: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(names: Iterable[str], most: int = 12) -> str:
    names = sorted(names)
    if not names:
        return "none"
    more = f" … ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(bounded(n, 40) for n in names[:most]) + more


def _number(value: Any, key: str, lo: float, hi: float, path, kind: type = float) -> float | int:
    """A finite number (an integer where kind is int) within [lo, hi], or ValueError naming the key."""
    shown = (lambda x: str(x)) if kind is int else (lambda x: f"{x:g}")
    allowed = f"{'an integer' if kind is int else 'a number'} from {shown(lo)} to {shown(hi)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise _problem(path, key, f"must be {allowed}, not {bounded(repr(value), 40)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _problem(path, key, f"must be {allowed}, not {value}")
    if not lo <= value <= hi:  # Python ints compare exactly, however long
        raise _problem(path, key, f"must be {allowed}, not {bounded(value, 40)}")
    return kind(value)


def _seeds(spec, path=None) -> list[int]:
    """A list of seeds from [1, 2], "FROM-TO" or "a,b,c"; at most MAX_FACES, each in [0, 2**32)."""
    allowed = f"a list of integers, 'FROM-TO' or 'a,b,c' (0 <= seed < 2**32, at most {MAX_FACES:,} seeds)"
    if isinstance(spec, str):
        text = spec.strip()
        lo, sep, hi = text.partition("-")
        if sep and re.fullmatch(r"\s*\d{1,12}\s*", lo) and re.fullmatch(r"\s*\d{1,12}\s*", hi):
            a, b = int(lo), int(hi)
            if b < a:
                raise _problem(path, "seeds", f"the range {bounded(text, 40)!r} runs backwards; write "
                                              f"'{b}-{a}'")
            if b - a + 1 > MAX_FACES:
                raise _problem(path, "seeds", f"the range {bounded(text, 40)!r} holds {b - a + 1:,} seeds; at "
                                              f"most {MAX_FACES:,} in one batch")
            spec = list(range(a, b + 1))
        elif not sep and text and len(text) < 16 * MAX_FACES and all(
                re.fullmatch(r"\s*\d{1,12}\s*", p) for p in text.split(",")):
            spec = [int(p) for p in text.split(",")]
        else:
            raise _problem(path, "seeds", f"must be {allowed}, not {bounded(repr(spec), 40)}")
    if not isinstance(spec, list):
        raise _problem(path, "seeds", f"must be {allowed}, not {type(spec).__name__}")
    if len(spec) > MAX_FACES:
        raise _problem(path, "seeds", f"{len(spec):,} seeds; at most {MAX_FACES:,} in one batch")
    return [_number(s, f"seeds[{i}]", 0, SEED_LIMIT - 1, path, int) for i, s in enumerate(spec)]


def _names(value, key: str, path, most: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise _problem(path, key, "must be a list of direction names")
    if len(value) > most:
        raise _problem(path, key, f"{len(value)} names; at most {most}")
    return value


def _edit(name: Any, spec: Any, path) -> dict:
    key = f"edit {bounded(name, 40)!r}"
    if not isinstance(name, str) or len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise _problem(path, key, f"an edit name is 1 to {MAX_NAME} letters, digits, - and _ (it is part of "
                                  "every file name)")
    if not isinstance(spec, dict):
        raise _problem(path, key, f"must be an object with keys from {', '.join(sorted(EDIT_KEYS))}")
    for k in spec:
        if k not in EDIT_KEYS:
            raise _problem(path, f"{key} {bounded(k, 40)}", f"unknown key{_suggest(k, EDIT_KEYS)}; an edit "
                                                             f"takes {', '.join(sorted(EDIT_KEYS))}")
    out = dict(spec)
    if "psi" in spec:
        out["psi"] = _number(spec["psi"], f"{key} psi", *PSI_RANGE, path)
    if "directions" in spec:
        d = spec["directions"]
        if not isinstance(d, dict):
            raise _problem(path, f"{key} directions", "must be an object of direction name -> amount")
        if len(d) > MAX_DIRECTIONS:
            raise _problem(path, f"{key} directions", f"{len(d)} directions; at most {MAX_DIRECTIONS}")
        out["directions"] = {n: _number(a, f"{key} directions.{bounded(n, 40)}", *AMOUNT_RANGE, path)
                             for n, a in d.items()}
    if "locks" in spec:
        out["locks"] = _names(spec["locks"], f"{key} locks", path, MAX_DIRECTIONS)
    if "paint" in spec and spec["paint"] not in PAINT_STYLES:
        raise _problem(path, f"{key} paint", f"must be one of {', '.join(PAINT_STYLES)}, not "
                                             f"{bounded(repr(spec['paint']), 40)}")
    if "paint_strength" in spec:
        out["paint_strength"] = _number(spec["paint_strength"], f"{key} paint_strength", 0.0, 1.0, path)
    if "noise" in spec and spec["noise"] not in NOISE_MODES:
        raise _problem(path, f"{key} noise", f"must be one of {', '.join(NOISE_MODES)}, not "
                                             f"{bounded(repr(spec['noise']), 40)}")
    if "noise_strength" in spec:
        out["noise_strength"] = _number(spec["noise_strength"], f"{key} noise_strength", *NOISE_STRENGTH_RANGE, path)
    for k in ("noise_seed", "seed_b"):
        if k in spec:
            out[k] = _number(spec[k], f"{key} {k}", 0, SEED_LIMIT - 1, path, int)
    if "mix" in spec:
        m = spec["mix"]
        if not isinstance(m, dict):
            raise _problem(path, f"{key} mix", f"must be an object of group ({', '.join(MIX_GROUPS)}) -> 0..1")
        for g, v in m.items():
            if g not in MIX_GROUPS:
                raise _problem(path, f"{key} mix.{bounded(g, 40)}", f"unknown group{_suggest(g, MIX_GROUPS)}; "
                                                                      f"groups are {', '.join(MIX_GROUPS)}")
            _number(v, f"{key} mix.{g}", *MIX_RANGE, path)
    return out


def read_manifest(path: str | os.PathLike | None, seeds: str | None = None, *, directions: Iterable[str] | None = None,
                  resolution: int | None = None) -> dict:
    """The manifest, checked whole, with defaults filled in; any problem -> ValueError naming the file, the
    key and what is allowed. `seeds` (the --seeds option) replaces the manifest's. With `directions` (the
    library's names) and `resolution`, check_for_model runs too."""
    m: Any = {}
    if path is not None:
        path = Path(path)
        m = loads_json(read_capped(path, MAX_MANIFEST_BYTES, _read_error, "batch manifest"), path, _read_error,
                       "batch manifest")
        if not isinstance(m, dict):
            raise _problem(path, "manifest", f"must be a JSON object, not {type(m).__name__}")
    for k in m:
        if k not in TOP_KEYS:
            raise _problem(path, bounded(k, 40), f"unknown key{_suggest(k, TOP_KEYS)}; a manifest takes "
                                                 f"{', '.join(sorted(TOP_KEYS))}")
    if seeds is not None:
        m = {**m, "seeds": seeds}
    photos = m.get("photos")
    if photos is not None and (not isinstance(photos, str) or not photos):
        raise _problem(path, "photos", f"must be the path of a folder of photos, not {bounded(repr(photos), 40)}")
    fmt = m.get("format", "png")
    if fmt not in FORMATS:
        raise _problem(path, "format", f"must be one of {', '.join(FORMATS)}, not {bounded(repr(fmt), 40)}")
    size = m.get("size")
    edits = m.get("edits", {"plain": {}})
    if not isinstance(edits, dict) or not edits:
        raise _problem(path, "edits", "must be a non-empty object of name -> edit")
    if len(edits) > MAX_EDITS:
        raise _problem(path, "edits", f"{len(edits)} edits; at most {MAX_EDITS} in one batch")
    out = {"seeds": _seeds(m.get("seeds", []), path), "photos": photos,
           "psi": _number(m.get("psi", 0.7), "psi", *PSI_RANGE, path),
           "size": None if size is None else _number(size, "size", 1, MAX_SIZE, path, int), "format": fmt,
           "edits": {name: _edit(name, spec, path) for name, spec in edits.items()}}
    for k, (kind, lo, hi, default) in KNOBS.items():
        out[k] = default if m.get(k) is None else _number(m[k], k, lo, hi, path, kind)
    if not out["seeds"] and not out["photos"]:
        why = "the seeds are an empty list" if "seeds" in m else "no \"seeds\" and no \"photos\" given"
        raise _problem(path, "seeds", f"nothing to render: {why}; give seeds and/or a photos folder")
    if directions is not None and resolution is not None:
        check_for_model(out, directions, resolution, path)
    return out


def _read_error(path: Path, problem: str) -> ValueError:
    return ValueError(f"{bounded(path, 200)}: {problem}")


def check_for_model(manifest: dict, directions: Iterable[str], resolution: int, path=None) -> None:
    """What needs the model: every direction and lock is one the library has (`directions`, its names),
    and the size is at most the model's resolution. ValueError naming the edit and what is allowed."""
    known = set(directions)
    if manifest["size"] is not None and manifest["size"] > resolution:
        raise _problem(path, "size", f"must be from 1 to {resolution} (this model's resolution), not "
                                     f"{manifest['size']}")
    for name, spec in manifest["edits"].items():
        for what, names in (("directions", spec.get("directions", {})), ("locks", spec.get("locks", []))):
            for n in names:
                if n not in known:
                    raise _problem(path, f"edit {name!r} {what}.{bounded(n, 40)}",
                                   f"unknown direction{_suggest(n, known)}; this model's library has "
                                   f"{_listing(known)}")


def edit_state(base: EditState, spec: dict, groups: dict, psi: float) -> EditState:
    """One manifest edit applied to a face's fresh state."""
    s = base.with_psi(spec.get("psi", psi))
    if "seed_b" in spec:
        s = s.with_source("b", Source.from_seed(spec["seed_b"]))
    for group, value in spec.get("mix", {}).items():
        if group not in groups:
            raise ValueError(f"mix group must be one of {', '.join(groups)}, not {group!r}")
        s = s.with_group_mix(groups[group], value)
    for name, amount in spec.get("directions", {}).items():
        s = s.with_direction(name, amount)
    for name in spec.get("locks", []):
        s = s.with_lock(name, True)
    s = s.with_noise(spec.get("noise"), spec.get("noise_strength"), spec.get("noise_seed"))
    return s.with_paint(spec.get("paint"), spec.get("paint_strength"))


def photo_files(folder: str | os.PathLike) -> list[Path]:
    """The photos of a folder (by suffix), sorted; at most MAX_FACES, or ValueError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _problem(None, "photos", f"{bounded(folder, 200)} is not a folder")
    found = []
    with os.scandir(folder) as entries:
        for e in entries:
            if Path(e.name).suffix.lower() in PHOTO_SUFFIXES:
                found.append(folder / e.name)
                if len(found) > MAX_FACES:
                    raise _problem(None, "photos", f"{bounded(folder, 200)} holds more than {MAX_FACES:,} photos; "
                                                   "at most that many in one batch")
    return sorted(found)


def tasks(manifest: dict) -> list[dict]:
    """One task per face (all its edits), so a photo is projected once. The photo import knobs (steps,
    tune_steps, detail_steps, seconds, threads; None where the manifest left them out) ride along."""
    photos = photo_files(manifest["photos"]) if manifest["photos"] else []
    common = {k: manifest[k] for k in ("psi", "size", "edits", *KNOBS)}
    return ([{**common, "kind": "seed", "seed": s, "stem": f"seed{s:06d}"} for s in manifest["seeds"]]
            + [{**common, "kind": "photo", "path": str(p), "stem": p.stem} for p in photos])
