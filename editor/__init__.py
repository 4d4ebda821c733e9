"""A desktop latent-space face editor. The package core imports without Qt; the GUI lives in editor.qt."""

__version__ = "0.1.0"
