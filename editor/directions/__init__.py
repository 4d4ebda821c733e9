"""Semantic directions in W: the library on disk, import of InterFaceGAN boundaries."""

from .library import (DirectionError, import_ganspace, import_interfacegan, load_library, save_user_direction,
                      user_directions_dir)

__all__ = ["DirectionError", "import_ganspace", "import_interfacegan", "load_library", "save_user_direction",
           "user_directions_dir"]
