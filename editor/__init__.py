"""A desktop latent-space face editor. The package core imports without Qt; the GUI lives in editor.qt.

Importing it changes nothing in the process: the app and the CLI call `editor.runtime.configure_process()`
at start-up for the OpenMP wait policy and the allocator settings (see there for why).
"""

__version__ = "0.1.0"
