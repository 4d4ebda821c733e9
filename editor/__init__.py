"""A desktop latent-space face editor. The package core imports without Qt; the GUI lives in editor.qt."""

import os

# Before torch loads OpenMP: worker threads that spin while waiting hold a core that another busy
# process (or our own GUI thread) needs, and a 2-thread render then waits on a descheduled thread at
# every barrier. Measured on a 2-core AVX2 machine with one other busy process: 1050 ms a 1024² render
# spinning, 345 ms passive. Has no effect if torch was imported before this package.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
