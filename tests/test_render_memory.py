"""The render-memory guard: estimates from a network's configuration (built on the meta device: nothing is
allocated), and the load-time refusal of a file whose render the machine cannot hold. Free memory is
monkeypatched small rather than exhausted."""

from __future__ import annotations

import pytest
import torch

from editor.model import default_model_path, load_generator, render_memory
from editor.model.errors import CheckpointError
from editor.model.mobilestylegan import MobileConfig, MobileStyleGAN
from editor.model.render_memory import MAX_RESOLUTION, check_render_memory, render_bytes
from editor.model.stylegan2 import StyleGAN2
from editor.model.stylegan3 import StyleGAN3
from tests.support import tiny_net, tiny_sg3, write_model, write_nvidia_pickle, write_rosinality_pt

CPU = torch.device("cpu")


def _meta(cls, *args, **kwargs):
    with torch.device("meta"):
        return cls(*args, **kwargs)


def _sg3(res: int, channels: int = 2, **kw):
    return _meta(StyleGAN3, z_dim=32, w_dim=32, img_resolution=res, channel_base=4 * res * channels,
                 channel_max=channels, **kw)


def _sg2(res: int, channels: int = 1, **kw):
    return _meta(StyleGAN2, z_dim=32, w_dim=32, img_resolution=res, channel_base=res * channels,
                 channel_max=channels, **kw)


def _mobile(blocks: int, channels: int = 16):
    return _meta(MobileStyleGAN, MobileConfig(channels=(channels,) * (blocks + 1)))


@pytest.mark.parametrize("make", [lambda r: _sg3(r), lambda r: _sg3(r, conv_kernel=1, use_radial_filters=True),
                                  lambda r: _sg2(r), lambda r: _sg2(r, architecture="resnet")],
                         ids=["sg3-t", "sg3-r", "sg2-skip", "sg2-resnet"])
def test_the_estimate_grows_with_the_pixels(make):
    sizes = [256, 512, 1024, 2048, 4096, 8192]
    est = [render_bytes(make(r)) for r in sizes]
    assert all(b > a for a, b in zip(est, est[1:])), est
    # Activations are per pixel: at large sizes each doubling of the side is ~4x the memory. (Below, the
    # step varies: StyleGAN3's channel groups shrink to one channel at 2048², which oneDNN needs no padding for.)
    assert 3.5 < est[-1] / est[-2] < 4.5 and est[-1] / est[2] > 16, est
    assert est[-1] > 8e9  # 8192² of even a 1-2 channel model: gigabytes, as measured at 4096² (2 GB)


def test_mobile_estimate_grows_with_the_pixels_and_channels():
    est = [render_bytes(_mobile(b)) - render_memory.FIXED_BYTES for b in (5, 6, 7, 8)]  # 256² .. 2048²
    assert all(3.5 < b / a < 4.5 for a, b in zip(est, est[1:])), est
    assert render_bytes(_mobile(7, channels=64)) > 2 * render_bytes(_mobile(7, channels=16))


def test_the_estimate_covers_the_default_model_and_official_configs():
    """Real shapes land above what was measured (peak RSS growth of one render: default model 301 MB;
    NVIDIA's StyleGAN3-T at 256², 597 MB; FFHQ's StyleGAN2 at 1024², 1.66 GB) and below a few GB: the guard
    must not refuse real models on a laptop."""
    default = render_bytes(_meta(MobileStyleGAN))
    assert 301e6 < default < 1e9
    sg3t = render_bytes(_meta(StyleGAN3, img_resolution=256, channel_base=32768, channel_max=512))
    assert 597e6 < sg3t < 1.5e9
    ffhq = render_bytes(_meta(StyleGAN2, img_resolution=1024, channel_base=32768, channel_max=512))
    assert 1.66e9 < ffhq < 3e9


@pytest.fixture
def free_memory(monkeypatch):
    """Set what the machine has free for a render (bytes)."""
    def set_free(n: int):
        monkeypatch.setattr(render_memory, "available_bytes", lambda device: (n, "free"))
    return set_free


def test_a_tiny_stylegan3_asking_for_4096_pixels_is_refused_before_any_render(tmp_path, free_memory, monkeypatch):
    path = write_nvidia_pickle(tmp_path / "huge.pkl", tiny_sg3(img_resolution=4096, channel_base=16384,
                                                               channel_max=2))
    assert path.stat().st_size < 1e6  # a small file ...
    free_memory(int(1.5e9))           # ... and a machine with 1.5 GB free
    from editor.model import generator
    monkeypatch.setattr(generator.Generator, "__init__", lambda *a, **k: pytest.fail("a Generator was made"))
    with pytest.raises(CheckpointError) as e:
        load_generator(path, device="cpu")
    message = str(e.value)
    assert message.startswith(str(path)) and "4096×4096 render would need about" in message, message
    assert "GB of memory; this machine has 1.5 GB free" in message, message
    need = float(message.split("about ")[1].split(" GB")[0])
    assert 2 < need < 20  # measured 2 GB at this size; the estimate is conservative, not absurd


@pytest.mark.parametrize("kind", ["nvidia", "rosinality", "mobile"])
def test_every_format_is_checked(tmp_path, free_memory, kind):
    if kind == "nvidia":
        path = write_nvidia_pickle(tmp_path / "m.pkl", tiny_net(img_resolution=2048, channel_base=2048,
                                                                channel_max=1, use_noise=False))
    elif kind == "rosinality":
        path = write_rosinality_pt(tmp_path / "m.pt", tiny_net(conv_clamp=None))
    else:
        path = write_model(tmp_path / "m.safetensors")
    free_memory(1 << 20)  # 1 MB: no render fits
    with pytest.raises(CheckpointError, match=r"×.* render would need about .* this machine has 1 MB free") as e:
        load_generator(path, device="cpu")
    assert str(e.value).startswith(str(path))


def test_a_normal_tiny_model_still_loads(tmp_path, free_memory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    free_memory(1 << 30)  # 1 GB free is plenty for 32²
    for path in (write_nvidia_pickle(tmp_path / "a.pkl", tiny_net()), write_nvidia_pickle(tmp_path / "b.pkl", tiny_sg3()),
                 write_model(tmp_path / "c.safetensors")):
        gen = load_generator(path, device="cpu", dtype=torch.float32)
        assert gen.synthesis(gen.mapping(gen.z_from_seed(0))).shape[-1] == gen.resolution
    assert check_render_memory(tiny_sg3(), "t.pkl", CPU) < 200e6


def test_the_default_model_is_never_refused_for_memory(free_memory, tmp_path, monkeypatch):
    """It is the app's fallback and its cost is measured (301 MB): with 1 MB 'free' it still opens, while
    the same file opened by name is checked like any other."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    free_memory(1 << 20)
    assert load_generator(device="cpu", dtype=torch.float32).resolution == 1024
    with pytest.raises(CheckpointError, match="1024×1024 render would need about"):
        load_generator(default_model_path(), device="cpu", dtype=torch.float32)


def test_resolutions_beyond_the_cap_are_refused_whatever_the_memory(free_memory):
    free_memory(1 << 50)
    net = _mobile(11, channels=4)  # 16384²: only our own .safetensors config can ask for it
    assert net.resolution == 2 * MAX_RESOLUTION
    with pytest.raises(CheckpointError, match="x.safetensors: makes 16384×16384 images; this editor renders at "
                                              "most 8192×8192"):
        check_render_memory(net, "x.safetensors", CPU)
    check_render_memory(_sg3(8192), "y.pkl", CPU)  # at the cap, memory decides: a petabyte is enough


def test_the_gpu_figure_is_the_gpus_own(monkeypatch):
    """On CUDA the free memory is torch's view of the GPU (free + what its allocator holds unused)."""
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(3e9), int(80e9)))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: int(1e9))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: int(0.5e9))
    assert render_memory.available_bytes(torch.device("cuda")) == (int(3.5e9), "free")
    with pytest.raises(CheckpointError, match="8192×8192 render would need about .* the GPU has 3.5 GB free"):
        check_render_memory(_sg3(8192), "g.pkl", torch.device("cuda"))


def test_available_memory_is_read_here():
    free, label = render_memory.available_bytes(CPU)
    assert free is not None and free > 1e8 and label in ("free", "in all")


def test_batch_workers_are_capped_to_what_memory_holds_together(free_memory):
    from editor.model.render_memory import PROCESS_BYTES, weight_bytes, workers_that_fit
    net = _mobile(6, 64)
    per = PROCESS_BYTES + render_bytes(net) + 2 * weight_bytes(net)
    free_memory(int(10.5 * per / 0.9))
    assert workers_that_fit(net, CPU, 8) == (8, None)
    n, why = workers_that_fit(net, CPU, 16)
    assert n == 10 and "16 workers" in why and "using 10" in why
    free_memory(per // 4)  # not even one fits: one still runs, and its own load check speaks for it
    assert workers_that_fit(net, CPU, 4)[0] == 1


def test_batch_runs_the_workers_that_fit(default_weights, tmp_path, free_memory, monkeypatch, capsys):
    from editor import batch
    from editor.cli import main
    seen = {}
    monkeypatch.setattr(batch, "_pool", lambda todo, init_args, workers: seen.update(workers=workers) or iter(()))
    free_memory(int(2.2e9))  # the default model takes about 1 GB a worker by this estimate
    assert main(["batch", "-o", str(tmp_path), "--seeds", "1-4", "--workers", "6", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert 1 <= seen["workers"] < 6
    assert "6 workers would need" in err and f"using {seen['workers']}" in err
