"""Write tiny model files in the formats users bring, for the loader tests.

NVIDIA pickles are imitated structurally: a dict with G, D, G_ema, augment_pipe, training_set_kwargs, each
network pickled as `torch_utils.persistence._reconstruct_persistent_obj(meta)` with meta = {type, version,
module_src, class_name, state = the module's __dict__}, kwargs dicts as `dnnlib.util.EasyDict`, tensors by
torch's own reductions. Pickling a function or class *by reference* needs it importable, so fake
`torch_utils` / `dnnlib` modules exist in sys.modules only while a writer runs; their functions raise if
called, so a loader that tried to use them would fail loudly.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import contextlib
import math
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import torch

from editor.model import stylegan2 as sg2
from editor.model import stylegan3 as sg3

# Small enough that every test runs in milliseconds, big enough to have 4 blocks and real channel changes.
TINY = dict(z_dim=32, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
            channel_base=256, channel_max=32, num_fp16_res=0, conv_clamp=256)

FAKE_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")

SG2_SRC = ('"""Stand-in for training/networks_stylegan2.py."""\nimport torch\n'
           'class Generator(torch.nn.Module):\n    pass\n')
SG3_SRC = ('"""Stand-in for training/networks_stylegan3.py."""\nimport torch\nclass SynthesisInput(torch.nn.Module):\n'
           '    pass\nclass Generator(torch.nn.Module):\n    pass\n')

_NVIDIA_CLASS = {sg2.StyleGAN2: "Generator", sg2.SkipConv: "Conv2dLayer", sg3.StyleGAN3: "Generator"}

# Tiny StyleGAN3s: the default 14 layers + ToRGB and real filter design, at 32 px with 8-16 channels.
TINY_SG3 = dict(z_dim=32, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
                channel_base=128, channel_max=16, num_fp16_res=0, conv_clamp=256, magnitude_ema_beta=0.999)
SG3_R = dict(conv_kernel=1, use_radial_filters=True)  # what train.py adds for --cfg=stylegan3-r



def tiny_sg3(seed: int = 0, **overrides) -> sg3.StyleGAN3:
    """A tiny StyleGAN3 with random weights (input pose affine, magnitude EMAs and w_avg too)."""
    torch.manual_seed(seed)
    net = sg3.StyleGAN3(**{**TINY_SG3, **overrides}).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "affine" in name:  # styles stay near their trained regime (bias 1), but differ per w
                p.add_(torch.randn_like(p) * 0.3)
            elif name.startswith("mapping."):  # stored / lr_multiplier (0.01), as trained ones are: w ~ N(0, 1)
                p.copy_(torch.randn_like(p) * (100.0 if name.endswith("weight") else 1.0))
            else:
                p.copy_(torch.randn_like(p) * (1.0 if name.endswith("weight") else 0.1))
        for name, b in net.named_buffers():
            if name.endswith("magnitude_ema"):
                b.uniform_(0.5, 2.0)
        net.mapping.w_avg.normal_()
    return net


def tiny_net(seed: int = 0, **overrides) -> sg2.StyleGAN2:
    """A tiny StyleGAN2 with every tensor random (noise strengths and w_avg too), so round trips can fail."""
    torch.manual_seed(seed)
    net = sg2.StyleGAN2(**{**TINY, **overrides}).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if name.endswith("noise_strength") else 1.0))
        if hasattr(net.mapping, "w_avg"):
            net.mapping.w_avg.normal_()
    return net


@contextlib.contextmanager
def fake_nvidia_modules():
    """Temporarily importable torch_utils.persistence._reconstruct_persistent_obj and dnnlib.util.EasyDict."""
    saved = {n: sys.modules.get(n) for n in FAKE_MODULES}
    mods = {n: types.ModuleType(n) for n in FAKE_MODULES}

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("the fixture's stand-in was called: a loader imported the fake module")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    easy_dict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    mods["dnnlib.util"].EasyDict = easy_dict
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj, easy_dict
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Reduce:
    """Pickles as `func(*args)`: how persistent objects (and attacks) appear in a pickle."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _persistent(reconstruct, class_name: str, state: dict, src: str = SG2_SRC) -> _Reduce:
    meta = dict(type="class", version=6, module_src=src, class_name=class_name, state=state)
    return _Reduce(reconstruct, (meta,))


def _module_state(init_kwargs: dict | None = None, params=(), buffers=(), modules=(), **attrs) -> dict:
    """A torch.nn.Module __dict__ as torch 1.x/2.x pickles it, plus persistence's _init_args/_init_kwargs."""
    hooks = ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks",
             "_load_state_dict_pre_hooks")
    state = dict(training=False, _non_persistent_buffers_set=set(), **{h: collections.OrderedDict() for h in hooks})
    state["_parameters"] = collections.OrderedDict(
        (n, None if t is None else torch.nn.Parameter(t.detach().clone(), requires_grad=False)) for n, t in params)
    state["_buffers"] = collections.OrderedDict((n, None if t is None else t.detach().clone()) for n, t in buffers)
    state["_modules"] = collections.OrderedDict(modules)
    state.update(_init_args=(), _init_kwargs=dict(init_kwargs or {}), **attrs)
    return state


def _records(module: torch.nn.Module, reconstruct, src: str, top_kwargs: dict | None = None) -> _Reduce:
    """Our module tree -> nested persistent records named with NVIDIA's classes."""
    extra = {}
    if isinstance(module, sg2.FullyConnectedLayer):
        extra = dict(weight_gain=np.float64(module.weight_gain), activation=module.activation)  # numpy scalars
    if isinstance(module, sg2.SynthesisLayer):
        extra = dict(act_gain=np.float64(np.sqrt(2)), resolution=module.resolution, up=module.up)
    if isinstance(module, sg3.SynthesisLayer):  # NVIDIA keeps sizes as numpy arrays and rates as numpy floats
        extra = dict(in_size=np.broadcast_to(np.asarray(module.in_size), [2]),
                     out_size=np.broadcast_to(np.asarray(module.out_size), [2]), is_torgb=module.is_torgb,
                     out_sampling_rate=np.float64(module.out_sampling_rate), padding=list(module.padding))
    if isinstance(module, sg3.SynthesisInput):
        extra = dict(size=np.broadcast_to(np.asarray(module.size), [2]), sampling_rate=np.float64(module.sampling_rate),
                     bandwidth=np.float64(module.bandwidth))
    state = _module_state(top_kwargs, params=list(module._parameters.items()), buffers=list(module._buffers.items()),
                          modules=[(n, _records(m, reconstruct, src)) for n, m in module._modules.items()], **extra)
    return _persistent(reconstruct, _NVIDIA_CLASS.get(type(module), type(module).__name__), state, src)


def nvidia_init_kwargs(net: sg2.StyleGAN2, easy_dict, layout: str = "stylegan3") -> dict:
    """Generator init kwargs as train.py builds them: stylegan3 flattens synthesis kwargs, ada nests them."""
    k = dict(net.init_kwargs)
    mapping = easy_dict(k.pop("mapping_kwargs"))
    base = dict(z_dim=k.pop("z_dim"), w_dim=k.pop("w_dim"), mapping_kwargs=mapping, c_dim=0,
                img_resolution=k.pop("img_resolution"), img_channels=k.pop("img_channels"))
    if isinstance(net, sg3.StyleGAN3):  # networks_stylegan3.Generator: flat, no fused_modconv_default
        return dict(base, **k)
    if layout == "ada":
        return dict(base, synthesis_kwargs=easy_dict(k))
    return dict(base, **k, fused_modconv_default="inference_only")


def legacy_tf_init_kwargs(net: sg2.StyleGAN2, layout: str = "ada") -> dict:
    """G's init kwargs as NVIDIA's legacy.py records them when it converts a TensorFlow StyleGAN2 pickle
    (convert_tf_generator: every TF option at its default; fmap_base 16384 -> channel_base 32768).

    layout 'ada': stylegan2-ada-pytorch's legacy.py (nested synthesis_kwargs); 'stylegan3': the stylegan3
    repo's legacy.py (synthesis options flat beside mapping_kwargs).
    """
    k = net.init_kwargs
    mapping = dict(num_layers=k["mapping_kwargs"]["num_layers"], embed_features=None, layer_features=None,
                   activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995)
    synthesis = dict(channel_base=k["channel_base"], channel_max=k["channel_max"], num_fp16_res=0, conv_clamp=None,
                     architecture="skip", resample_filter=[1, 3, 3, 1], use_noise=True, activation="lrelu")
    top = dict(z_dim=k["z_dim"], c_dim=0, w_dim=k["w_dim"], img_resolution=k["img_resolution"],
               img_channels=k["img_channels"])
    if layout == "ada":
        return dict(top, mapping_kwargs=mapping, synthesis_kwargs=synthesis)
    return dict(top, **synthesis, mapping_kwargs=mapping)


def _stylegan3_generator(net: sg2.StyleGAN2, reconstruct, easy_dict) -> _Reduce:
    """A StyleGAN3-shaped G: an 'input' SynthesisInput and L{i}_{size}_{ch} layers holding numpy arrays."""
    layer = _persistent(reconstruct, "SynthesisLayer", _module_state(
        params=[("weight", torch.randn(8, 8, 3, 3)), ("bias", torch.zeros(8))],
        buffers=[("up_filter", torch.ones(6)), ("magnitude_ema", torch.ones([]))],
        in_size=np.array([36, 36]), out_size=np.array([36, 36]), is_torgb=False), SG3_SRC)
    inp = _persistent(reconstruct, "SynthesisInput", _module_state(
        params=[("weight", torch.randn(8, 8))], buffers=[("transform", torch.eye(3)), ("freqs", torch.randn(8, 2))],
        size=np.array([36, 36]), sampling_rate=16), SG3_SRC)
    synthesis = _persistent(reconstruct, "SynthesisNetwork", _module_state(
        modules=[("input", inp), ("L0_36_8", layer)], layer_names=["L0_36_8"]), SG3_SRC)
    mapping = _records(net.mapping, reconstruct, SG3_SRC)
    kwargs = dict(nvidia_init_kwargs(net, easy_dict), magnitude_ema_beta=0.999)
    kwargs.pop("fused_modconv_default")  # a StyleGAN3 option set, so the records reach the layout check
    return _persistent(reconstruct, "Generator", _module_state(kwargs, modules=[("synthesis", synthesis),
                                                                                ("mapping", mapping)]), SG3_SRC)


def write_nvidia_pickle(path: str | Path, net: sg2.StyleGAN2, w_avg: torch.Tensor | None = None,
                        stylegan3: bool = False, layout: str = "stylegan3", module_src: str = SG2_SRC,
                        protocol: int = pickle.DEFAULT_PROTOCOL, init_overrides: dict | None = None,
                        g_ema_class: str = "Generator", init_kwargs: dict | None = None) -> Path:
    """A pickle shaped like NVIDIA's training snapshots, holding `net` as G_ema (and G).

    layout: 'stylegan3' (synthesis kwargs flat, as the stylegan3 repo's train.py) or 'ada' (nested
    synthesis_kwargs, as stylegan2-ada-pytorch). init_overrides / g_ema_class falsify G_ema's record;
    init_kwargs replaces G_ema's recorded kwargs outright.
    """
    if w_avg is not None:
        net = _with_w_avg(net, w_avg)
    with fake_nvidia_modules() as (reconstruct, easy_dict):
        if stylegan3:  # a fake: StyleGAN3-shaped records around a StyleGAN2's mapping, for refusal tests
            g_ema = _stylegan3_generator(net, reconstruct, easy_dict)
        elif isinstance(net, sg3.StyleGAN3):
            kwargs = init_kwargs if init_kwargs is not None else nvidia_init_kwargs(net, easy_dict)
            g_ema = _records(net, reconstruct, SG3_SRC, {**kwargs, **(init_overrides or {})})
            g_ema.args[0]["class_name"] = g_ema_class
        else:
            kwargs = init_kwargs if init_kwargs is not None else nvidia_init_kwargs(net, easy_dict, layout)
            g_ema = _records(net, reconstruct, module_src, {**kwargs, **(init_overrides or {})})
            g_ema.args[0]["class_name"] = g_ema_class
        src = SG3_SRC if isinstance(net, sg3.StyleGAN3) else module_src
        g = _records(net, reconstruct, src, nvidia_init_kwargs(net, easy_dict, layout))
        block = _persistent(reconstruct, "DiscriminatorBlock", _module_state(
            params=[("weight", torch.randn(4, 3, 1, 1))], buffers=[("resample_filter", torch.ones(4, 4) / 16)]))
        d = _persistent(reconstruct, "Discriminator", _module_state(
            easy_dict(c_dim=0, img_resolution=net.img_resolution, img_channels=3), modules=[("b32", block)]))
        aug = _persistent(reconstruct, "AugmentPipe", _module_state(
            dict(xflip=1, rotate90=1), buffers=[("p", torch.zeros([]))], xflip=np.float64(1.0)))
        data = dict(G=g, D=d, G_ema=g_ema, augment_pipe=aug,
                    training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset",
                                             path="~/datasets/tiny.zip", resolution=net.img_resolution,
                                             use_labels=False, max_size=70000, xflip=True))
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=protocol)
    return Path(path)


def _with_w_avg(net: sg2.StyleGAN2, w_avg: torch.Tensor) -> sg2.StyleGAN2:
    clone = type(net)(**net.init_kwargs)
    clone.load_state_dict(net.state_dict())
    with torch.no_grad():
        clone.mapping.w_avg.copy_(w_avg)
    return clone.eval()


def write_malicious_pickle(path: str | Path, marker_file: str | Path, kind: str = "exec") -> Path:
    """A pickle that creates `marker_file` when unpickled by the stock pickle module (or run by NVIDIA's loader).

    kind: 'exec' (builtins.exec of Python source), 'system' (os.system via the 'posix' module),
          'module_src' (a well-formed tiny network whose stored module source writes the file: harmless
          unless a loader executes module_src, as NVIDIA's does).
    """
    marker = str(marker_file)
    if kind == "module_src":
        src = f"open({marker!r}, 'w').write('module_src was executed')\n" + SG2_SRC
        return write_nvidia_pickle(path, tiny_net(), module_src=src)
    if kind == "exec":
        payload = _Reduce(builtins.exec, (f"open({marker!r}, 'w').write('pickle payload ran')",))
    elif kind == "system":
        payload = _Reduce(os.system, (f"touch '{marker}'",))
    else:
        raise ValueError(kind)
    with open(path, "wb") as f:
        pickle.dump({"G_ema": payload, "training_set_kwargs": {}}, f)
    return Path(path)


def rosinality_state_dict(net: sg2.StyleGAN2) -> dict[str, torch.Tensor]:
    """`net` re-expressed with rosinality/stylegan2-pytorch Generator's state_dict names and shapes.

    Written from rosinality's model.py (PixelNorm + EqualLinear style MLP, ConstantInput, StyledConv =
    ModulatedConv2d + NoiseInjection + FusedLeakyReLU, ToRGB with Upsample), independently of the loader.
    """
    s = {k: v.detach().clone() for k, v in net.state_dict().items()}
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(kernel, kernel) / 64 * 4  # make_kernel(k) * factor**2
    out = {}
    for i in range(net.mapping.num_layers):
        out[f"style.{i + 1}.weight"] = s[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = s[f"mapping.fc{i}.bias"]
    out["input.input"] = s["synthesis.b4.const"][None]

    def styled(theirs, ours, noise_idx, up):
        out[f"{theirs}.conv.weight"] = s[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = s[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = s[f"{ours}.affine.bias"]
        if up:
            out[f"{theirs}.conv.blur.kernel"] = kernel.clone()
        out[f"{theirs}.noise.weight"] = s[f"{ours}.noise_strength"].reshape(1)
        out[f"{theirs}.activate.bias"] = s[f"{ours}.bias"]
        out[f"noises.noise_{noise_idx}"] = s[f"{ours}.noise_const"][None, None]

    def to_rgb(theirs, ours, up):
        if up:
            out[f"{theirs}.upsample.kernel"] = kernel.clone()
        out[f"{theirs}.conv.weight"] = s[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = s[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = s[f"{ours}.affine.bias"]
        out[f"{theirs}.bias"] = s[f"{ours}.bias"].reshape(1, -1, 1, 1)

    styled("conv1", "synthesis.b4.conv1", 0, up=False)
    to_rgb("to_rgb1", "synthesis.b4.torgb", up=False)
    noise_idx = 1
    for j, res in enumerate(net.synthesis.block_resolutions[1:]):
        styled(f"convs.{2 * j}", f"synthesis.b{res}.conv0", noise_idx, up=True)
        styled(f"convs.{2 * j + 1}", f"synthesis.b{res}.conv1", noise_idx + 1, up=False)
        to_rgb(f"to_rgbs.{j}", f"synthesis.b{res}.torgb", up=True)
        noise_idx += 2
    return out


def write_rosinality_pt(path: str | Path, net: sg2.StyleGAN2, latent_avg: torch.Tensor | None = None,
                        with_train_extras: bool = False, g_ema: dict | None = None) -> Path:
    """A .pt as rosinality's convert_weight.py ({'g_ema', 'latent_avg'}) or train.py (+ 'g', 'd', 'args') saves."""
    ckpt = {"g_ema": rosinality_state_dict(net) if g_ema is None else g_ema}
    if latent_avg is not None:
        ckpt["latent_avg"] = latent_avg.detach().clone()
    if with_train_extras:
        ckpt.update(g=rosinality_state_dict(net), d={"convs.0.0.weight": torch.randn(4, 3, 1, 1)},
                    args=argparse.Namespace(size=net.img_resolution, n_mlp=2, channel_multiplier=2), ada_aug_p=0.0)
    torch.save(ckpt, path)
    return Path(path)


# ----------------------------------------------------------------------------------------------------------
# Independent reference math (from NVIDIA's _upfirdn2d_ref and rosinality's model.py), for numerical checks.

def upfirdn2d_ref(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0),
                  gain: float = 1.0) -> torch.Tensor:
    """Zero-insert upsampling, zero padding, then true convolution with the 2-D filter f, per channel."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = torch.nn.functional.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = (f * gain).flip([0, 1]).to(x.dtype)[None, None].repeat(c, 1, 1, 1)
    return torch.nn.functional.conv2d(x, k, groups=c)


def rosinality_forward(r: dict[str, torch.Tensor], ws: torch.Tensor, lr_mlp: float = 0.01) -> torch.Tensor:
    """rosinality Generator.forward(latent=ws, input_is_latent=True, randomize_noise=False) on its state dict,
    one sample at a time with ungrouped convs, in rosinality's own names and w indexing."""
    F = torch.nn.functional

    def modconv(x, pre, w, demodulate=True, up=False):
        weight = r[f"{pre}.conv.weight"][0]  # [O, I, k, k]
        mod_w = r[f"{pre}.conv.modulation.weight"]
        style = F.linear(w, mod_w / math.sqrt(mod_w.shape[1]), r[f"{pre}.conv.modulation.bias"])
        weight = weight / math.sqrt(weight[0].numel()) * style.view(1, -1, 1, 1)
        if demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([1, 2, 3]) + 1e-8).view(-1, 1, 1, 1)
        if up:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            return upfirdn2d_ref(out, r[f"{pre}.conv.blur.kernel"], pad=(1, 1))
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2)

    def styled(x, pre, w, noise, up=False):
        out = modconv(x, pre, w, up=up) + r[f"{pre}.noise.weight"] * noise
        return F.leaky_relu(out + r[f"{pre}.activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def to_rgb(x, pre, w, skip=None):
        out = modconv(x, pre, w, demodulate=False) + r[f"{pre}.bias"]
        if skip is not None:
            out = out + upfirdn2d_ref(skip, r[f"{pre}.upsample.kernel"], up=2, pad=(2, 1))
        return out

    images = []
    for latent in ws:  # [n_latent, w_dim]
        noise = [r[f"noises.noise_{i}"] for i in range(len([k for k in r if k.startswith("noises.")]))]
        out = styled(r["input.input"], "conv1", latent[0], noise[0])
        skip = to_rgb(out, "to_rgb1", latent[1])
        i, j = 1, 0
        while f"to_rgbs.{j}.conv.weight" in r:
            out = styled(out, f"convs.{2 * j}", latent[i], noise[2 * j + 1], up=True)
            out = styled(out, f"convs.{2 * j + 1}", latent[i + 1], noise[2 * j + 2])
            skip = to_rgb(out, f"to_rgbs.{j}", latent[i + 2], skip)
            i, j = i + 2, j + 1
        images.append(skip)
    return torch.cat(images)


def rosinality_mapping(r: dict[str, torch.Tensor], z: torch.Tensor, lr_mlp: float = 0.01) -> torch.Tensor:
    """rosinality's `style` MLP: PixelNorm, then EqualLinear(lr_mul=0.01) + fused lrelu per layer."""
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    i = 1
    while f"style.{i}.weight" in r:
        w = r[f"style.{i}.weight"]
        x = torch.nn.functional.linear(x, w * (lr_mlp / math.sqrt(w.shape[1])))
        x = torch.nn.functional.leaky_relu(x + r[f"style.{i}.bias"] * lr_mlp, 0.2) * math.sqrt(2)
        i += 1
    return x
