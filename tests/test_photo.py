"""Photo import and projection: bad photos get clear messages; a generated face projects back."""

import numpy as np
import pytest
import torch
from PIL import Image

from editor.photo.align import PhotoError, aligned_faces, read_photo


def test_bad_photos_are_named(tmp_path):
    cases = {"empty.jpg": b"", "text.png": b"hello", "cut.png": None}
    img = Image.new("RGB", (64, 64), (200, 150, 120))
    img.save(tmp_path / "full.png")
    cases["cut.png"] = (tmp_path / "full.png").read_bytes()[:100]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(PhotoError, match=name):
            read_photo(tmp_path / name)
    with pytest.raises(PhotoError, match="no face"):
        aligned_faces(tmp_path / "full.png")


def test_grey_cmyk_and_exif_rotation_are_read_as_rgb(tmp_path):
    Image.new("L", (30, 20), 90).save(tmp_path / "grey.png")
    Image.new("CMYK", (30, 20), (0, 50, 100, 0)).save(tmp_path / "cmyk.jpg")
    rot = Image.new("RGB", (30, 20), (10, 20, 30))
    exif = rot.getexif()
    exif[0x0112] = 6  # rotate 90 on display
    rot.save(tmp_path / "rot.jpg", exif=exif)
    assert read_photo(tmp_path / "grey.png").shape == (20, 30, 3)
    assert read_photo(tmp_path / "cmyk.jpg").shape == (20, 30, 3)
    assert read_photo(tmp_path / "rot.jpg").shape == (30, 20, 3)


def test_a_generated_face_is_found_aligned_and_projected(default_fp32, tmp_path):
    from editor.model import psnr, to_uint8
    from editor.photo.project import LOSS_SIZE, project
    g = default_fp32
    face = to_uint8(g.synthesis(g.mapping(g.z_from_seed(900010), psi=0.7)))[0]
    canvas = np.full((1300, 1500, 3), 120, np.uint8)
    canvas[150:1174, 300:1324] = face
    Image.fromarray(canvas).save(tmp_path / "photo.jpg", quality=95)
    (found, aligned), = aligned_faces(tmp_path / "photo.jpg")
    assert aligned.shape == (1024, 1024, 3)
    assert np.abs(aligned.astype(float) - face).mean() < 20  # back where FFHQ puts it
    result = project(g, face, mode="w", steps=30)
    assert result.wplus.shape == (g.num_ws, g.w_dim) and result.steps == 30
    assert result.history[-1] < result.history[0] * 0.6
    shrink = lambda x: torch.nn.functional.interpolate(x, size=(LOSS_SIZE,) * 2, mode="area")  # noqa: E731
    target = torch.from_numpy(face).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert psnr(shrink(g.synthesis(torch.from_numpy(result.wplus)[None])), shrink(target)) > 18
