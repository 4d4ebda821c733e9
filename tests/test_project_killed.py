"""`project` killed with SIGKILL at any moment leaves files that are safe to open: the latent is whole (old or
new, never partial) and the delta beside it either belongs to it or is recognised as another latent's and
left out with a warning; nothing raises. Kill points are spread over a measured run (where the kill lands is
not asserted: every point must leave a safe pair)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

STEPS = ["--steps", "2", "--tune-steps", "1", "--detail-steps", "1"]


def _project(photo, out):
    return subprocess.Popen([sys.executable, "-m", "editor", "project", str(photo), "-o", str(out), "--aligned",
                             *STEPS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _check_safe(out, gen):
    from editor import io
    from editor.photo.delta import delta_beside_latent, latent_delta_path, latent_digest
    if not out.exists():
        assert not latent_delta_path(out).exists()  # the delta is written after its latent
        return "none"
    w = io.load_latent(out)  # whole: the atomic writer never leaves a partial file
    delta, warning = delta_beside_latent(out, w, gen.net)
    if delta is not None:
        assert delta.latent == latent_digest(w)  # it names this latent, not an older one
        return "pair"
    return "stale" if warning else "latent alone"


def test_a_project_killed_anywhere_leaves_a_safe_pair(default_weights, default_fp32, tmp_path):
    from editor.edit import EditState
    from editor.pipeline import render_edit
    gen = default_fp32
    photo = tmp_path / "face.png"
    Image.fromarray(render_edit(gen, EditState.new(gen.fingerprint, gen.num_ws, seed_a=900_321), {})).save(photo)
    out = tmp_path / "me.npz"
    started = time.perf_counter()
    assert _project(photo, out).wait(600) == 0
    whole = time.perf_counter() - started  # only to spread the kill points over a run; nothing is timed
    assert _check_safe(out, gen) == "pair"
    first = np.asarray(np.load(out)["w"])
    seen = []
    for fraction in (0.5, 0.9, 0.97):
        child = _project(photo, out)
        time.sleep(fraction * whole)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(600)
        seen.append(_check_safe(out, gen))
    assert set(seen) <= {"pair", "stale", "latent alone"}, seen
    assert np.load(out)["w"].shape == first.shape
