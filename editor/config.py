"""Every environment variable the editor reads, and every folder it keeps files in, in one place.

Installed (a wheel), files live in the platform's user folders (platformdirs: ~/.local/share, ~/.cache,
~/.config on Linux; ~/Library/... on macOS; %LOCALAPPDATA% on Windows). Run from a source checkout, the
generators stay in the checkout's weights/ and the measurement models in its .cache/models, as `make weights`
puts them. Each folder is overridable by one FACE_EDITOR_* variable; docs/install.md lists the same table.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

APP = "face-editor"

# name -> what it sets (the one list: docs/install.md repeats it for users).
ENV = {
    "FACE_EDITOR_MODELS": "folder of converted generators (the default model); checkout: weights/",
    "FACE_EDITOR_MEASURE_MODELS": "folder of the emotion and identity models; checkout: .cache/models/",
    "FACE_EDITOR_DATA": "autosave and the user's own directions (user data folder)",
    "FACE_EDITOR_CACHE": "per-model caches: precision checks, render-memory figures (user cache folder)",
    "FACE_EDITOR_CONFIG": "the app's settings file folder (user config folder)",
    "FACE_EDITOR_DEVICE": "cpu, cuda, cuda:N or mps (default: the best present)",
    "FACE_EDITOR_PRECISION": "fp32, bf16 or fp16: skip the precision check and use this",
    "FACE_EDITOR_KEEP_FREED_MEMORY": "0: let the allocator hand freed memory back (Linux; default keeps 1 GB)",
}
# Older names still honoured when the new one is unset (one release), so existing scripts keep working.
LEGACY = {"FACE_EDITOR_MODELS": "EDITOR_WEIGHTS_DIR", "FACE_EDITOR_DEVICE": "EDITOR_DEVICE",
          "FACE_EDITOR_PRECISION": "EDITOR_PRECISION", "FACE_EDITOR_KEEP_FREED_MEMORY": "EDITOR_KEEP_FREED_MEMORY"}


def env(name: str) -> str | None:
    """The variable's value (or its legacy name's), None when unset or empty."""
    if name not in ENV:
        raise KeyError(f"{name} is not one of the editor's variables (editor/config.py ENV)")
    value = os.environ.get(name) or os.environ.get(LEGACY.get(name, ""), "")
    return value or None


def checkout_root() -> Path | None:
    """The source checkout this package runs from, or None when installed (no pyproject.toml beside it)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "editor").is_dir() else None


def _user_dir(kind: str) -> Path:
    # platformdirs honours XDG_DATA_HOME / XDG_CACHE_HOME / XDG_CONFIG_HOME on Linux, as the editor always did.
    import platformdirs
    return Path({"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir,
                 "config": platformdirs.user_config_dir}[kind](APP, appauthor=False))


def models_dir() -> Path:
    """Converted generators: $FACE_EDITOR_MODELS, else the checkout's weights/, else <user data>/models."""
    if value := env("FACE_EDITOR_MODELS"):
        return Path(value)
    root = checkout_root()
    return root / "weights" if root else _user_dir("data") / "models"


def measure_models_dir() -> Path:
    """Emotion and identity models: $FACE_EDITOR_MEASURE_MODELS, else the checkout's .cache/models, else
    <user data>/measure-models."""
    if value := env("FACE_EDITOR_MEASURE_MODELS"):
        return Path(value)
    root = checkout_root()
    return root / ".cache" / "models" if root else _user_dir("data") / "measure-models"


def data_dir() -> Path:
    """Autosave and user directions: $FACE_EDITOR_DATA, else the user data folder."""
    value = env("FACE_EDITOR_DATA")
    return Path(value) if value else _user_dir("data")


def cache_dir() -> Path:
    """Things computed from a model file that cannot sit next to it: $FACE_EDITOR_CACHE, else the user cache."""
    value = env("FACE_EDITOR_CACHE")
    return Path(value) if value else _user_dir("cache")


def settings_path() -> Path:
    """The app's settings (a QSettings ini file): $FACE_EDITOR_CONFIG/settings.ini, else the user config folder."""
    value = env("FACE_EDITOR_CONFIG")
    return (Path(value) if value else _user_dir("config")) / "settings.ini"


def resources_dir() -> Path:
    """The shipped direction library and labels: editor/resources inside a wheel (pyproject maps the
    checkout's top-level resources/ there), or the checkout's resources/."""
    packaged = Path(str(importlib.resources.files("editor") / "resources"))
    if packaged.is_dir():
        return packaged
    root = checkout_root()
    return (root or Path(__file__).resolve().parents[1]) / "resources"
