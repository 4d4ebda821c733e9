"""The app as a user installs it: a wheel built from this tree, installed into a fresh venv outside the source
tree, with a fresh HOME, runs `face-editor render` (plain and with a direction) and `face-editor gui`.

Installing torch, PySide6 and the rest again would take minutes and the network, so the venv is made with
`--without-pip` and a .pth file that appends this interpreter's site-packages (the heavy dependencies) to its
sys.path; the wheel itself goes in with `pip --python VENV install --no-deps`. A .pth path line does not run
the .pth files inside that folder, so the checkout's editable install is not seen: `editor` must come from
the wheel (checked). The model folder (FACE_EDITOR_MODELS) is a temp folder seeded with the converted default
model, as the first-use set-up would leave it (the set-up itself is tested with a stand-in registry in
tests/test_cli.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package():
    """The package list is written out (resources/ is mapped in as editor.resources): a new sub-package
    left off it would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "editor").rglob("__init__.py")}
    data = {"editor.resources"} | {f"editor.resources.{d.name}" for d in (ROOT / "resources").iterdir() if d.is_dir()}
    assert found | data == listed


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path, default_weights):
    # Build from a copy, so the checkout gets no build/ or egg-info.
    src = tmp_path / "src"
    for part in ("editor", "resources"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
          str(src)])
    wheel = next((tmp_path / "dist").glob("face_editor-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "editor/resources/directions/mobilestylegan-ffhq-1024/manifest.json" in names
    assert "editor/resources/labels/freckles.json" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_face_editor_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)])
    exe = venv / "bin" / "face-editor"

    home, work, models = tmp_path / "home", tmp_path / "work", tmp_path / "models"
    for d in (home, work, models):
        d.mkdir()
    for f in (default_weights, default_weights.with_suffix(".json")):
        shutil.copy(f, models / f.name)
    from editor.setup_models import target  # the emotion and identity models, as first use leaves them
    measure = tmp_path / "measure-models"
    measure.mkdir()
    for name in ("emotion", "identity"):
        shutil.copy(target(name), measure / target(name).name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "FACE_EDITOR_", "EDITOR_", "PYTHON"))}
    env.update(HOME=str(home), FACE_EDITOR_MODELS=str(models), FACE_EDITOR_MEASURE_MODELS=str(measure),
               QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")

    where = _run([str(py), "-c", "import editor, editor.config as c; print(editor.__file__); print(c.resources_dir())"],
                 cwd=work, env=env).stdout.split()
    assert all(Path(w).is_relative_to(venv) for w in where), where

    _run([str(exe), "render", "--seed", "3", "-o", "a.png"], cwd=work, env=env)
    _run([str(exe), "render", "--seed", "3", "--direction", "age=3", "-o", "b.png"], cwd=work, env=env)
    a, b = (np.asarray(Image.open(work / n).convert("RGB")) for n in ("a.png", "b.png"))
    assert a.shape == (1024, 1024, 3) and not np.array_equal(a, b)
    _run([str(exe), "gui", "--screenshot", "s.png", "--size", "1024x700"], cwd=work, env=env)
    with Image.open(work / "s.png") as shot:
        assert shot.size == (1024, 700)
    # Settings and caches went to the fresh HOME's user folders, not the checkout or the work folder.
    assert (home / ".config" / "face-editor" / "settings.ini").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["a.png", "b.png", "s.png"]
