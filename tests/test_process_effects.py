"""Importing the editor (and building a generator) changes nothing process-wide: not the environment, the
umask or the allocator; the app's start-up call `editor.runtime.configure_process()` does, on purpose."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# In a fresh interpreter (this test process has torch and the editor loaded already): the environment, the
# umask and glibc's malloc settings before and after importing the package and building a tiny generator.
PROBE = r"""
import json, os, sys
env0, mask0 = dict(os.environ), os.umask(0o022)
os.umask(mask0)
import ctypes, torch
import editor, editor.io, editor.edit, editor.model, editor.render, editor.cli
from editor.model.generator import Generator
from editor.model.stylegan2 import StyleGAN2
net = StyleGAN2(z_dim=32, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
                channel_base=256, channel_max=32, num_fp16_res=0, conv_clamp=256)
gen = Generator(net, w_avg=torch.zeros(32), name="t", fingerprint="t", device="cpu", dtype=torch.float32)
gen.synthesis(gen.broadcast(gen.mapping(gen.z_from_seed(0))))

class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.malloc.argtypes = Info, ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def mapped_blocks_for_a_big_malloc():  # 64 MB: glibc's default serves it by mmap, the tuned one from the heap
    block = libc.malloc(64 << 20)
    n = libc.mallinfo2().hblks
    libc.free(block)
    return n
mmap_before = mapped_blocks_for_a_big_malloc()
mask1 = os.umask(0o022)
os.umask(mask1)
env1 = dict(os.environ)
changed = sorted(k for k in set(env0) | set(env1) if env0.get(k) != env1.get(k))
before = dict(os.environ)
from editor.runtime import configure_process
configure_process()
print(json.dumps({"changed": changed, "mask": [mask0, mask1], "mmap": [mmap_before, mapped_blocks_for_a_big_malloc()],
                  "after_configure": os.environ.get("OMP_WAIT_POLICY"), "was": before.get("OMP_WAIT_POLICY")}))
"""


def _probe(extra_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra_env
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_editor_leaves_the_environment_and_umask_alone():
    result = _probe({"QT_QPA_PLATFORM": "offscreen"})
    assert result["changed"] == []
    assert result["mask"][0] == result["mask"][1]
    before, after = result["mmap"]  # malloc kept glibc's defaults through a generator's build and render ...
    assert before >= 1 and after == before - 1  # ... until start-up asked: then 64 MB comes from the heap
    assert result["was"] is None  # nothing set it before start-up ...
    assert result["after_configure"] == "PASSIVE"  # ... and the explicit call does


def test_the_start_up_call_keeps_a_wait_policy_the_user_chose():
    assert _probe({"OMP_WAIT_POLICY": "ACTIVE"})["after_configure"] == "ACTIVE"


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_the_umask_is_read_without_being_changed(mask):
    from editor.runtime import process_umask
    old = os.umask(mask)
    try:
        assert process_umask() == mask
        assert os.umask(mask) == mask  # still what it was set to
    finally:
        os.umask(old)
