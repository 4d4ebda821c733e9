"""Generator engine: architectures, checkpoint formats, default-model conversion. No Qt here."""

from .errors import CheckpointError
from .generator import Generator, layer_groups_for, psnr, to_uint8
from .loading import default_model_path, ensure_default_model, load_generator

__all__ = ["CheckpointError", "Generator", "load_generator", "default_model_path", "ensure_default_model",
           "layer_groups_for", "psnr", "to_uint8"]
