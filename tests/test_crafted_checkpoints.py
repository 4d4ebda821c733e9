"""Crafted model files that hang, blow up memory, crash the interpreter or slip past a check must each end
in one CheckpointError (and `python -m editor render --model BAD` in one line and exit status 2).

Every file is made here from tiny configs; the memory-hungry cases are measured in a child process so that
a loader that did allocate what the file asks for would show it."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from editor.cli import main as cli_main
from editor.model.checkpoint_format import check_file_tensors
from editor.model.errors import MAX_PATH_CHARS, MAX_PROBLEM_CHARS, CheckpointError, clean_text, describe
from editor.model.nvidia_pickle import load_nvidia_pickle
from editor.model.rosinality import load_rosinality
from tests.support import (_module_state, _persistent, fake_nvidia_modules, legacy_tf_init_kwargs,
                                 rosinality_state_dict, tiny_net, write_nvidia_pickle, write_rosinality_pt)

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------- the files

def _dag_pickle(path: Path, levels: int = 48) -> Path:
    """G_ema whose synthesis record has two children that are the same record, 48 times over: 2^48 paths."""
    net = tiny_net()
    with fake_nvidia_modules() as (reconstruct, easy_dict):
        node = _persistent(reconstruct, "Leaf", _module_state(params=[("w", torch.zeros(2))]))
        for _ in range(levels):
            node = _persistent(reconstruct, "Node", _module_state(modules=[("a", node), ("b", node)]))
        g = _persistent(reconstruct, "Generator", _module_state(legacy_tf_init_kwargs(tiny_net(conv_clamp=None)),
                                                                  modules=[("synthesis", node)]))
        with open(path, "wb") as f:
            pickle.dump({"G_ema": g}, f)
    assert path.stat().st_size < 200_000 and net is not None
    return path


def _huge_shared_kwarg(path: Path) -> Path:
    """A kwarg that is a list of 2000 references to one list of 2000 ints: 4 M items formatted, 20 KB stored."""
    inner = list(range(2000))
    net = tiny_net(conv_clamp=None)
    kwargs = legacy_tf_init_kwargs(net)
    kwargs["synthesis_kwargs"]["channel_base"] = [inner] * 2000
    return write_nvidia_pickle(path, net, init_kwargs=kwargs)


def _deep_key_pickle(path: Path, depth: int) -> Path:
    """{((((...)))): 1}: a dict key of nested 1-tuples; hashing it recurses in C (CPython segfaults)."""
    path.write_bytes(b"\x80\x04}" + b")" + b"\x85" * depth + b"K\x01s.")
    return path


def _deep_list_pickle(path: Path, depth: int) -> Path:
    path.write_bytes(b"\x80\x04" + b"(" * depth + b"l" * depth + b".")
    return path


def _deep_pt(path: Path, depth: int) -> Path:
    """A torch zip checkpoint whose data.pkl is the nested-key pickle."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s.")
        z.writestr("archive/version", "3\n")
    return path


def _pt_with(path: Path, **replace) -> Path:
    sd = rosinality_state_dict(tiny_net(conv_clamp=None))
    sd.update(replace)
    torch.save({"g_ema": sd}, path)
    return path


def _pkl_with(path: Path, net=None, **overrides) -> Path:
    net = net if net is not None else tiny_net(conv_clamp=None)
    kwargs = legacy_tf_init_kwargs(net)
    for key, value in overrides.items():
        for table in (kwargs["synthesis_kwargs"], kwargs["mapping_kwargs"], kwargs):
            if key in table:
                table[key] = value
                break
    return write_nvidia_pickle(path, net, init_kwargs=kwargs)


def _net_with(**values):
    net = tiny_net(conv_clamp=None)
    with torch.no_grad():
        for name, v in values.items():
            dict(net.named_parameters(), **dict(net.named_buffers()))[name.replace("__", ".")].view(-1)[0] = v
    return net


class _Evil:
    def __reduce__(self):
        return os.system, ("echo pwned",)


def _evil_pt(path: Path) -> Path:
    torch.save({"g_ema": rosinality_state_dict(tiny_net(conv_clamp=None)), "args": _Evil()}, path)
    return path


# --------------------------------------------------------------------- crafted files of issue 28
def legacy_storage_bomb(path: str | Path, numel: int = 2 ** 31 - 1) -> Path:
    """A legacy-format torch file (a few hundred bytes) whose one storage record declares `numel` floats:
    torch's legacy loader allocates that before reading the bytes."""
    buf = io.BytesIO()
    torch.save({"g_ema": {"a": torch.zeros(3)}}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    at = data.index(b"K\x03N", data.index(b"cpu"))  # the storage record's element count, 3
    Path(path).write_bytes(data[:at] + b"J" + numel.to_bytes(4, "little") + data[at + 2:])
    return Path(path)


def rezip(data: bytes, compression: int = zipfile.ZIP_DEFLATED, extra: dict | None = None,
          first: dict | None = None) -> bytes:
    """A torch zip's records again, with `compression`; `first` records go before them, `extra` after."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", compression) as dst:
        for name, payload in (first or {}).items():
            dst.writestr(name, payload)
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        for name, payload in (extra or {}).items():
            dst.writestr(name, payload)
    return out.getvalue()


class _StorageBlob:
    """Pickles as torch pickles a storage: torch.storage._load_from_bytes(<bytes>)."""

    def __init__(self, blob: bytes):
        self.blob = blob

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.blob,)


def pickle_with_storage_blob(path: str | Path, blob: bytes) -> Path:
    """An NVIDIA-style pickle whose only tensor storage is `blob` (what torch.load will be given)."""
    with open(path, "wb") as f:
        pickle.dump({"G_ema": _StorageBlob(blob)}, f, protocol=2)
    return Path(path)


def colliding_keys_pickle(path: str | Path, keys: int, dicts: int = 1) -> Path:
    """`dicts` dicts of `keys` integer keys that all hash to 0 (multiples of 2^61 - 1), written opcode by
    opcode: building them in Python here would cost what the file is meant to cost the loader."""
    m = 2 ** 61 - 1
    one = b"}(" + b"".join(pickle.dumps(i * m, 2)[2:-1] + b"K\x00" for i in range(1, keys + 1)) + b"u"
    Path(path).write_bytes(b"\x80\x02(" + one * dicts + b"l.")
    return Path(path)


def _good_pt_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"g_ema": rosinality_state_dict(tiny_net(conv_clamp=None))}, buf)
    return buf.getvalue()


def _decoy_pt(path: Path) -> Path:
    """Issue 28: a harmless x/a/data.pkl first, and x/data.pkl (what torch reads) with a 10^6-deep key."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x/a/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("x/data.pkl", b"\x80\x02}" + b")" + b"\x85" * 10 ** 6 + b"K\x01s.")
        z.writestr("x/version", "3\n")
    return path


def _bomb_pt(path: Path) -> Path:
    """A deflated 64 MB record of zeros beside a good model: 64 kB on disk, inflated by torch before any check."""
    path.write_bytes(rezip(_good_pt_bytes(), extra={"archive/data/999": bytes(64 << 20)}))
    return path


def _deflated_blob_pkl(path: Path) -> Path:
    blob = rezip(_good_pt_bytes(), extra={"archive/data/999": bytes(64 << 20)})
    return pickle_with_storage_blob(path, blob)


def _one_pickle_pt(path: Path, data_pkl: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", "3\n")
    return path


def _oversized_tensor_pt(path: Path) -> Path:
    """A tensor of 3 stored floats whose record says it has 10^6."""
    buf = io.BytesIO()
    torch.save({"g_ema": {"a": torch.zeros(3)}}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):  # size (3,) -> (1000000,)
                data = data.replace(b"K\x00K\x03\x85", b"K\x00J\x40\x42\x0f\x00\x85")
            dst.writestr(info, data)
    return path


def _truncated_pt(path: Path) -> Path:
    data = _good_pt_bytes()
    path.write_bytes(data[:len(data) * 3 // 4])
    return path


CASES = {
    # name: (writer, words the message must hold)
    "dag.pkl": (_dag_pickle, "two places"),
    "shared_kwarg.pkl": (_huge_shared_kwarg, "a list of 2000 items"),
    "deep_key_1e5.pkl": (lambda p: _deep_key_pickle(p, 10 ** 5), "more than 1000 deep"),
    "deep_key_1e6.pkl": (lambda p: _deep_key_pickle(p, 10 ** 6), "more than 1000 deep"),
    "deep_list_1e6.pkl": (lambda p: _deep_list_pickle(p, 10 ** 6), "deep"),
    "deep_key.pt": (lambda p: _deep_pt(p, 10 ** 5), "more than 1000 deep"),
    "noise_shape.pt": (lambda p: _pt_with(p, **{"noises.noise_1": torch.zeros(1, 2, 8, 8)}), "noise_const [1, 2, 8, 8]"),
    "meta.pt": (lambda p: _pt_with(p, **{"style.1.weight": torch.empty(32, 32, device="meta")}), "style.1.weight"),
    "sparse.pt": (lambda p: _pt_with(p, **{"style.1.bias": torch.zeros(32).to_sparse()}), "sparse"),
    "relu.pkl": (lambda p: _pkl_with(p, activation="relu"), "activation='relu'"),
    "clamp_abc.pkl": (lambda p: _pkl_with(p, conv_clamp="abc"), "conv_clamp='abc'"),
    "clamp_nan.pkl": (lambda p: _pkl_with(p, conv_clamp=float("nan")), "conv_clamp=nan"),
    "clamp_neg.pkl": (lambda p: _pkl_with(p, conv_clamp=-4.0), "conv_clamp=-4.0"),
    "evil.pt": (_evil_pt, "'posix.system'"),
    "rgba.pkl": (lambda p: write_nvidia_pickle(p, tiny_net(img_channels=4)), "img_channels=4"),
    "rgba.pt": (lambda p: write_rosinality_pt(p, tiny_net(img_channels=4, conv_clamp=None)), "img_channels=4"),
    "stride0.pt": (lambda p: _pt_with(p, **{"convs.1.conv.weight": torch.zeros(1).expand(1, 32, 32, 3, 3)}),
                   "strided views"),
    "wide.pkl": (lambda p: _pkl_with(p, channel_base=2048 * 4, channel_max=2048), "mis-shaped"),
    "nan_weight.pkl": (lambda p: _pkl_with(p, _net_with(synthesis__b8__conv1__weight=float("nan"))), "NaN"),
    "inf_w_avg.pkl": (lambda p: _pkl_with(p, _net_with(mapping__w_avg=float("inf"))), "mapping.w_avg"),
    "huge_weight.pkl": (lambda p: _pkl_with(p, _net_with(mapping__fc0__bias=1e30)), "beyond"),
    # issue 28
    "decoy.pt": (_decoy_pt, "2 data.pkl records"),
    "deflated.pt": (lambda p: p.write_bytes(rezip(_good_pt_bytes())) and p, "compressed (zip method 8)"),
    "bomb.pt": (_bomb_pt, "stored uncompressed"),
    "no_folder.pt": (lambda p: p.write_bytes(rezip(_good_pt_bytes(), zipfile.ZIP_STORED, first={"data.pkl": b"."}))
                     and p, "is not in a folder"),
    "legacy_bomb.pt": (legacy_storage_bomb, "2,147,483,647 elements"),
    "deflated_blob.pkl": (_deflated_blob_pkl, "compressed"),
    "colliding_keys.pkl": (lambda p: colliding_keys_pickle(p, 20_000), "sizes squared"),
    "colliding_dicts.pkl": (lambda p: colliding_keys_pickle(p, 1000, 200), "sizes squared"),
    # LONG_BINPUT at 2^32 - 1: CPython's unpickler would grow its memo to 2^33 slots and clear them all
    "memo_index.pkl": (lambda p: p.write_bytes(b"\x80\x02N" + b"r\xff\xff\xff\xff" + b".") and p,
                       "memo entry at index 4,294,967,295"),
    "clamp_huge.pkl": (lambda p: _pkl_with(p, conv_clamp=10 ** 400), "conv_clamp=an int of 1329 bits"),
    "truncated.pt": (_truncated_pt, "truncated or corrupt"),
    "oversized_tensor.pt": (_oversized_tensor_pt, "declares more values than its stored data holds"),
    # torch's reason, not the first 200 characters of its advice
    "ext_opcode.pt": (lambda p: _one_pickle_pt(p, b"\x80\x02\x82\x01."),
                      "weights-only loader refused it: Unsupported operand 130"),
    "nan_latent.pt": (lambda p: write_rosinality_pt(p, tiny_net(conv_clamp=None),
                                                     latent_avg=torch.full([32], float("nan"))), "latent_avg"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_file_is_refused(tmp_path, name, capsys):
    writer, words = CASES[name]
    path = writer(tmp_path / name)
    loader = load_nvidia_pickle if name.endswith(".pkl") else load_rosinality
    with pytest.raises(CheckpointError) as e:
        loader(path)
    message = str(e.value)
    assert name in message and words in message, message
    assert "\n" not in message and "\x1b" not in message and len(message) <= MAX_PROBLEM_CHARS + MAX_PATH_CHARS + 2
    # The command line: one line on stderr, exit status 2, nothing else.
    assert cli_main(["render", "--quiet", "--model", str(path), "-o", str(tmp_path / "out.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and name in err, err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name", ["deep_key_1e6.pkl", "evil.pt", "wide.pkl", "decoy.pt", "legacy_bomb.pt",
                                  "deflated_blob.pkl", "bomb.pt", "colliding_keys.pkl", "memo_index.pkl"])
def test_render_command_prints_one_line_in_a_fresh_process(tmp_path, name):
    """Including the cases that would crash or balloon a process: the child stays under 1 GB peak."""
    path = CASES[name][0](tmp_path / name)
    # Under a 2 GB address-space cap above what torch's import maps (issue 28's condition), and < 1 GB resident.
    code = ("import os, resource, sys, torch\n"
            "vm = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
            "resource.setrlimit(resource.RLIMIT_AS, (vm + (2 << 30), vm + (2 << 30)))\n"
            "from editor.cli import main\nrc = main(sys.argv[1:])\n"
            # VmHWM, not ru_maxrss: Linux carries the parent's (pytest's) peak across fork and exec into that
            "hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
            "sys.stderr.write(f'peak_kb={hwm}')\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "render", "--quiet", "--model", str(path),
                        "-o", str(tmp_path / "o.png")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "EDITOR_DEVICE": "cpu"})
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert len(lines) == 2 and lines[0].startswith("error: ") and name in lines[0], r.stderr
    assert int(lines[1].removeprefix("peak_kb=")) < 1_000_000


def test_wide_settings_are_refused_before_any_network_is_built(tmp_path, monkeypatch):
    """Settings implying a 1024² net with 2048 channels (GBs) against a tiny file's tensors: nothing is
    allocated for the net, which is only ever built on the meta device until the shapes agree."""
    from editor.model import checkpoint_format
    made = []
    real = torch.nn.Module.to_empty
    monkeypatch.setattr(torch.nn.Module, "to_empty", lambda self, **k: made.append(1) or real(self, **k))
    path = _pkl_with(tmp_path / "w.pkl", img_resolution=1024, channel_base=2048 * 1024, channel_max=2048)
    with pytest.raises(CheckpointError, match="missing tensors"):
        load_nvidia_pickle(path)
    assert made == [] and checkpoint_format is not None


def test_tensors_sharing_one_storage_are_refused():
    base = torch.zeros(64)
    views = {f"t{i}": base[:64] for i in range(10)}  # ten tensors, one storage: 10x the bytes it holds
    with pytest.raises(CheckpointError, match="share storages"):
        check_file_tensors(views, "x.pt", "g_ema")
    check_file_tensors({"a": torch.zeros(8), "b": torch.zeros(8, 4).t().contiguous()}, "x.pt", "g_ema")


def test_messages_describe_untrusted_values_without_formatting_them():
    big = [[0] * 1000] * 1000
    assert describe(big) == "a list of 1000 items"
    assert describe("x" * 10 ** 6) == "a str of 1000000 characters"
    assert describe(10 ** 400) == "an int of 1329 bits"
    assert describe([1, 3, 3, 1]) == "[1, 3, 3, 1]"
    assert clean_text("\x1b[1mbold\x1b[0m\nnext\tline\x07") == "bold next line"
    assert len(clean_text("a" * 10 ** 7)) == MAX_PROBLEM_CHARS
    e = CheckpointError("bad\nname.pkl", "line one\n\x1b[31mline two\x1b[0m " + "y" * 5000)
    assert "\n" not in str(e) and "\x1b" not in str(e) and len(str(e)) < MAX_PROBLEM_CHARS + 20


def test_official_files_still_load_after_the_checks(tmp_path):
    """The limits leave room for real files: every structure NVIDIA and rosinality write passes the scan."""
    net = tiny_net(conv_clamp=None)
    for path in (write_nvidia_pickle(tmp_path / "a.pkl", net, init_kwargs=legacy_tf_init_kwargs(net)),
                 write_nvidia_pickle(tmp_path / "b.pkl", net, protocol=2),
                 write_rosinality_pt(tmp_path / "c.pt", net, with_train_extras=True)):
        loader = load_nvidia_pickle if path.suffix == ".pkl" else load_rosinality
        loaded, _ = loader(path)
        assert loaded.num_ws == net.num_ws
    buf = io.BytesIO()
    torch.save({"g_ema": rosinality_state_dict(net)}, buf, _use_new_zipfile_serialization=False)
    (tmp_path / "legacy.pt").write_bytes(buf.getvalue())
    assert load_rosinality(tmp_path / "legacy.pt")[0].num_ws == net.num_ws


def test_a_stylegan3_of_absurd_work_is_refused_by_its_estimate_naming_the_figure(tmp_path):
    """Issue 28: every option in range (64 layers, 15x15 kernels, 32-tap filters, 256-pixel margins, 4
    channels) and a file of a few MB, but ~1.7 T multiply-adds a render (129 s measured): refused at load; the
    published configs are estimated at a third of the limit or less."""
    from editor.model import load_generator
    from editor.model.render_memory import MAX_SG3_MACS, sg3_render_macs
    from editor.model.stylegan3 import StyleGAN3
    from tests.support import tiny_sg3
    net = tiny_sg3(img_resolution=256, channel_base=2048, channel_max=4, num_layers=64, margin_size=256,
                   filter_size=32, conv_kernel=15, z_dim=8, w_dim=8)
    path = write_nvidia_pickle(tmp_path / "slow.pkl", net)
    assert path.stat().st_size < 3_000_000  # G and G_ema, 0.7 MB of weights each
    with pytest.raises(CheckpointError, match=r"about 1\.\d T multiply-adds.*refuses above 1 T"):
        load_generator(path, device="cpu")
    for real in (dict(img_resolution=1024, channel_base=32768, channel_max=512),
                 dict(img_resolution=1024, channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)):
        with torch.device("meta"):
            published = StyleGAN3(z_dim=512, w_dim=512, img_channels=3, **real)
        assert 0.2e12 < sg3_render_macs(published.synthesis) < MAX_SG3_MACS / 2.5
    # A tiny real-shaped StyleGAN3 still loads.
    assert load_generator(write_nvidia_pickle(tmp_path / "ok.pkl", tiny_sg3()), device="cpu").num_ws > 0


def test_library_failures_are_said_in_words():
    from editor.model.errors import cause_in_words
    assert "truncated or corrupt" in cause_in_words(UnicodeDecodeError("ascii", b"\x80", 0, 1, "ordinal"))
    assert "beyond the range of a float" in cause_in_words(OverflowError("int too large to convert to float"))
    assert "more memory than this machine has" in cause_in_words(MemoryError())
    assert "deeper than Python can follow" in cause_in_words(RecursionError("maximum recursion depth"))
    assert "declares more values" in cause_in_words(RuntimeError("Trying to resize storage that is not resizable"))
    assert cause_in_words(KeyError("x")) == "KeyError: 'x'"
