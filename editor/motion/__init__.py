"""Faces in motion: animation plans (morph, sweep, seed walk, noise loop), frame rendering, MP4/GIF writers.

A plan is a list of `Frame`s, each an ordinary `EditState` (plus, for the noise loop, a noise phase), so
everything an edit can do (directions, locks, truncation, painted styles) applies to every frame, and
the first and last frames of a plan are exactly the renders of its start and end edits. No Qt here.
"""

from .frames import Cancelled, render_animation, render_frame, resize_frame
from .timeline import EASINGS, SLIDERS, Frame, frame_count, morph, noise_loop, seed_walk, sweep
from .writers import WRITER_SUFFIXES, open_writer

__all__ = ["EASINGS", "SLIDERS", "WRITER_SUFFIXES", "Cancelled", "Frame", "frame_count", "morph", "noise_loop",
           "open_writer", "render_animation", "render_frame", "resize_frame", "seed_walk", "sweep"]
