"""Everything the tests share, in one place: test modules import helpers from here (`from tests.support
import ...`) and never from each other. Fixtures live in tests/conftest.py.

- tiny networks of every architecture, with random weights so round trips can fail (milliseconds each);
- writers of the model files users bring (NVIDIA pickles, rosinality .pt, crafted attacks): model_files.py;
- GUI helpers: a slider drag as the mouse does it, waiting for a full render, work that stops at a block.
Nothing here imports Qt at import time, so non-GUI tests run where PySide6 is absent.
"""

from __future__ import annotations

import threading
import time

import torch

from editor.edit import EditState
from editor.model.mobilestylegan import MobileConfig, MobileStyleGAN

from .model_files import (FAKE_MODULES, SG2_SRC, SG3_R, SG3_SRC, TINY, TINY_SG3, _module_state,  # noqa: F401
                          _persistent, fake_nvidia_modules, legacy_tf_init_kwargs, nvidia_init_kwargs,
                          rosinality_forward, rosinality_mapping, rosinality_state_dict, tiny_net, tiny_sg3,
                          upfirdn2d_ref, write_malicious_pickle, write_nvidia_pickle, write_rosinality_pt)

# ------------------------------------------------------------------------------------ tiny MobileStyleGAN
TINY_MOBILE = MobileConfig(z_dim=16, w_dim=16, mapping_layers=2, channels=(32, 32, 16, 16, 8),
                           preview_sizes=(32, 64))


def tiny_mobile_net(seed: int = 0) -> MobileStyleGAN:
    """A 128² MobileStyleGAN with random weights and noise (the default model's architecture, tiny)."""
    torch.manual_seed(seed)
    net = MobileStyleGAN(TINY_MOBILE)
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.normal_(0, 0.3 if "weight" in name else 0.1)
        for name, b in net.named_buffers():
            if name.endswith("noise_const"):
                b.normal_(0, 0.2)
            elif name.endswith("noise_std"):
                b.fill_(0.2)
    return net.eval()


def tiny_generator():
    """A `Generator` around the tiny MobileStyleGAN, fp32 on the CPU, with gentler weights than the port's
    tests use: renders not saturated at ±1 (photo projection and tuning need gradients)."""
    from editor.model import Generator
    net = tiny_mobile_net()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "weight" in name:
                p.mul_(0.4)
    return Generator(net, w_avg=torch.zeros(net.w_dim), name="tiny", fingerprint="tiny-1", device="cpu",
                     dtype=torch.float32)


def random_delta(gen, seed: int, scale: float = 0.05):
    """A photo weight delta with every factor random (a zero delta would hide a bug in applying it)."""
    from editor.photo.delta import WeightDelta
    d = WeightDelta.zeros_like(gen.net, rank=2, seed=seed, full_below=300)
    g = torch.Generator().manual_seed(seed)
    return WeightDelta({k: tuple(t + scale * torch.randn(t.shape, generator=g) for t in f)
                        for k, f in d.factors.items()}, d.shapes)


def write_model(path, tensors: dict | None = None, config: dict | str | None = None):
    """A converted-model file (.safetensors) of a 32² MobileStyleGAN, tensors or config replaced if given."""
    from tests.fuzz_cases import write_model as write
    return write(path, tensors, config)


# ---------------------------------------------------------------------------------------------- GUI
NUM_WS = 23  # the default model's w+ rows
GROUPS = {"coarse": range(0, 4), "middle": range(4, 10), "fine": range(10, NUM_WS)}
ALL_ROWS = range(NUM_WS)
FAKE_STATE = EditState.new("fake", NUM_WS)  # for renders without a model


def new_state(gen, a: int, b: int) -> EditState:
    return EditState.new(gen.fingerprint, gen.num_ws, seed_a=a, seed_b=b)


def drag(slider, *values: float) -> None:
    """What QSlider does for a mouse drag of its handle: press, moves (valueChanged each), release."""
    from editor.qt.widgets import STEPS_PER_UNIT
    s = slider.slider
    s.setSliderDown(True)  # emits sliderPressed
    for v in values:
        s.setSliderPosition(round(v * STEPS_PER_UNIT))  # tracking on: emits valueChanged
    s.setSliderDown(False)  # emits sliderReleased


def full_render(qtbot, window, action=lambda: None, timeout: int = 60_000):
    """Do `action`, then wait until the full-resolution render of the (then) current state is on screen."""
    with qtbot.waitSignal(window.full_render_shown, timeout=timeout,
                          check_params_cb=lambda r: r.state == window.doc.state) as blocker:
        action()
    return blocker.args[0]


class LongWork:
    """Work of `blocks` network blocks (10 ms each, 30 s in all by default), as a big model's render or a
    photo import does; callable as the work itself. `entered` is set when it starts, `done` counts the blocks
    passed and `stopped` says a stop check ended it (at the block where the check first said so). Tests
    assert on these, not on a clock, so they hold on a loaded machine."""

    def __init__(self, blocks: int = 3000):
        self.blocks, self.done, self.stopped = blocks, 0, False
        self.entered = threading.Event()

    def __call__(self, *_args):
        from editor.model.interrupt import Superseded, checkpoint
        self.entered.set()
        for _ in range(self.blocks):
            try:
                checkpoint()
            except Superseded:
                self.stopped = True
                raise
            self.done += 1
            time.sleep(0.01)
        return "finished"


def long_work(entered: threading.Event, seconds: float = 30.0):
    """Kept for tests written before LongWork: `seconds` of 10 ms blocks, `entered` set at the start."""
    work = LongWork(round(seconds * 100))
    work.entered = entered
    return work()
