"""Semantic directions in W: the library on disk, import of InterFaceGAN boundaries."""

from .library import DirectionError, import_interfacegan, load_library, user_directions_dir

__all__ = ["DirectionError", "import_interfacegan", "load_library", "user_directions_dir"]
