"""Eyeglasses and hair lightness of FFHQ-aligned faces, measured from dlib's 5 landmarks and pixels.

No pretrained classifier for either ships under a licence we can use, so both are simple measures placed
by the eye corners (editor.measures.pose) and checked against labels made by eye on rendered faces
(resources/labels/looks.json; agreement in README):

- eyeglasses: the mean luminance gradient over the bridge of the nose between the eyes, where a frame
  crosses skin that is otherwise smooth; sunglasses and clear frames both score high. It separated all 11
  pairs of glasses among the first 96 labelled faces from the rest.
- hair lightness: the median luminance (0-255) of a band above the forehead, where hair is on nearly every
  face of this model; blond, grey and white above, black and dark brown below. Hats read as their colour.

Both work at any size: the boxes are in eye-distance units and images are read at 512².
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .pose import landmarks

MEASURE_SIZE = 512
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Thresholds for the yes/no readings, chosen on the first 96 labelled faces (agreement in README).
GLASSES_THRESHOLD = 9.8      # bridge gradient, luminance levels per pixel at 512²
LIGHT_HAIR_THRESHOLD = 88.0  # median luminance of the band above the forehead


def _box(arr: np.ndarray, cx: float, cy: float, w: float, h: float) -> np.ndarray:
    x0, x1 = max(int(cx - w / 2), 0), max(int(cx + w / 2), 1)
    y0, y1 = max(int(cy - h / 2), 0), max(int(cy + h / 2), 1)
    return arr[y0:y1, x0:x1]


def _at_measure_size(image: np.ndarray) -> np.ndarray:
    if image.shape[0] == MEASURE_SIZE:
        return image
    from PIL import Image
    return np.asarray(Image.fromarray(image).resize((MEASURE_SIZE, MEASURE_SIZE), Image.BOX))


def looks(images: np.ndarray) -> dict[str, np.ndarray]:
    """{'eyeglasses': bridge gradient, 'hair_lightness': 0-255} per uint8 [N, H, W, 3] aligned face."""
    glasses, hair = [], []
    for image in images:
        img = _at_measure_size(image)
        p = landmarks(img)
        eye_a, eye_b = p[0:2].mean(0), p[2:4].mean(0)
        mid, e = (eye_a + eye_b) / 2, max(float(np.hypot(*(eye_a - eye_b))), 1.0)
        lum = img.astype(np.float32) @ LUMA
        grad = np.abs(np.diff(lum, axis=0))[:, :-1] + np.abs(np.diff(lum, axis=1))[:-1, :]
        glasses.append(float(_box(grad, mid[0], mid[1] - 0.05 * e, 0.25 * e, 0.3 * e).mean()))
        hair.append(float(np.median(_box(lum, mid[0], mid[1] - 1.45 * e, 1.2 * e, 0.35 * e))))
    return {"eyeglasses": np.array(glasses, np.float32), "hair_lightness": np.array(hair, np.float32)}


def load_labels(path: Path) -> dict:
    """The labels made by eye: {"seeds": {...}, "eyeglasses": [seed, ...], "light_hair": [...], ...}."""
    return json.loads(Path(path).read_text())


def agreement(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray, threshold: float) -> float:
    """Share of labelled faces (positive or negative) on the right side of `threshold`."""
    right = int((scores[positive] >= threshold).sum()) + int((scores[negative] < threshold).sum())
    return right / max(len(positive) + len(negative), 1)
