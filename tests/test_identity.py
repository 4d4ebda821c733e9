"""The identity scorer: dlib's face-recognition descriptor on FFHQ-aligned faces, same person below 0.6."""

import numpy as np
import pytest
from PIL import Image

from editor.measures import identity


@pytest.fixture(scope="module")
def faces(default_fp32):
    from editor.model import to_uint8
    g = default_fp32
    return {s: to_uint8(g.synthesis(g.mapping(g.z_from_seed(s), psi=0.7)))[0] for s in (900010, 900012)}


def test_same_face_is_near_and_another_face_is_far(faces):
    a, b = faces[900010], faces[900012]
    da = identity.descriptor(a)
    assert da.shape == (128,) and da.dtype == np.float32
    assert identity.distance(a, a) < 1e-6
    # Measured: a mirror image 0.14-0.19 and a 256² copy 0.05-0.08 from the 1024² face (6 seeds); these two
    # seeds (a woman, a man) 0.90 apart, different seeds 0.47-0.97.
    assert identity.distance(a, a[:, ::-1]) < 0.3
    small = np.asarray(Image.fromarray(a).resize((256, 256), Image.LANCZOS))
    assert identity.distance(da, small) < 0.15
    assert identity.distance(a, b) > 0.75 and not identity.same_person(a, b)
    assert identity.same_person(a, a[:, ::-1])


def test_a_missing_model_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_EDITOR_MEASURE_MODELS", str(tmp_path))  # a folder without the model
    with pytest.raises(RuntimeError, match="make weights"):
        identity.model_path()
