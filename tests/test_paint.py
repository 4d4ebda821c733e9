"""Painted portrait styles: what each one does to an image, strength, size invariance, and that a
painted edit renders painted."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editor.edit import PAINT_STYLES, EditState
from editor.paint import paint


def face_like(size: int = 256) -> np.ndarray:
    """A smooth skin-toned disc with dark 'eyes', 'mouth' and fine texture: enough structure for the
    filters to act on, without a model."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3), np.float32)
    img[:] = (60, 50, 70)
    disc = (xx - 0.5) ** 2 / 0.09 + (yy - 0.5) ** 2 / 0.16 < 1
    img[disc] = (225, 170, 140)
    for cx in (0.38, 0.62):
        img[(xx - cx) ** 2 + (yy - 0.42) ** 2 < 0.0015] = (40, 30, 30)
    img[(abs(xx - 0.5) < 0.1) & (abs(yy - 0.66) < 0.015)] = (150, 50, 60)
    img += np.random.default_rng(0).normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_styles_are_the_edit_styles_and_none_is_identity():
    img = face_like()
    assert PAINT_STYLES == ("none", "oil", "watercolour", "ink")
    assert paint(img, "none") is img
    assert paint(img, "oil", 0.0) is img
    with pytest.raises(ValueError, match="crayon"):
        paint(img, "crayon")
    with pytest.raises(ValueError, match="uint8"):
        paint(img.astype(np.float32), "oil")


@pytest.mark.parametrize("style", ["oil", "watercolour", "ink"])
def test_each_style_changes_the_image_deterministically(style):
    img = face_like()
    out = paint(img, style)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(float) - img).mean() > 3  # it painted something
    assert np.array_equal(out, paint(img, style))      # same face, same painting (export = preview)


def test_what_each_style_is():
    img = face_like(512)
    noise = lambda x: np.abs(np.diff(x.astype(float), axis=1)).mean()  # noqa: E731 - high-frequency energy
    oil, water, ink = (paint(img, s) for s in ("oil", "watercolour", "ink"))
    # Oil flattens the sensor-like noise into dabs, and keeps colour.
    assert noise(oil) < 0.6 * noise(img)
    assert np.abs(oil.mean((0, 1)) - img.mean((0, 1))).max() < 25
    # Watercolour is lighter than the photo: thinned pigment over white paper.
    assert water.mean() > img.mean() + 10
    # Ink is grey, its brightest parts white paper, with dark strokes where the features are and shading
    # that follows the light (strokes alone left a frontally lit face almost blank).
    assert np.abs(ink[..., 0].astype(int) - ink[..., 2]).max() == 0
    assert np.percentile(ink, 90) > 235 and ink.min() < 100
    import cv2
    soft = lambda x: cv2.GaussianBlur(x.astype(np.float32).mean(2), (0, 0), 8).ravel()  # noqa: E731
    assert np.corrcoef(soft(ink), soft(img))[0, 1] > 0.5


def test_strength_blends_linearly_between_photo_and_painting():
    img = face_like()
    full = paint(img, "ink", 1.0).astype(float)
    half = paint(img, "ink", 0.5).astype(float)
    assert np.abs(half - (img + full) / 2).max() <= 1.0


def test_a_preview_looks_like_the_full_painting():
    """The parameters scale with size, so the 512² preview of a face paints like its 1024² export
    (compared where both are seen the same way: shrunk to 128²)."""
    small = face_like(512)
    big = np.asarray(Image.fromarray(small).resize((1024, 1024), Image.BICUBIC))
    look = lambda x: np.asarray(Image.fromarray(x).resize((128, 128), Image.BOX)).astype(float)  # noqa: E731
    for style in ("oil", "watercolour", "ink"):
        export = look(paint(big, style))
        assert np.abs(look(paint(small, style)) - export).mean() < 0.5 * np.abs(look(small) - export).mean(), style


def test_render_paints_the_view_but_not_the_latent(default_fp32):
    from editor.render import RenderRequest, render
    g = default_fp32
    plain = EditState.new(g.fingerprint, g.num_ws, 3, 4)
    a = render(g, RenderRequest(1, plain, size=256), {})
    b = render(g, RenderRequest(2, plain.with_paint("ink", 1.0), size=256), {})
    assert a.error is None and b.error is None
    assert np.array_equal(a.wplus, b.wplus)
    assert np.array_equal(b.images[0], paint(a.images[0], "ink"))


def test_oil_strokes_follow_the_forms():
    """The oil's brush strokes run along edges, not across them: over horizontal bands they change slowly
    along a row and fast down a column (and the other way round over vertical bands)."""
    from editor.paint import _strokes
    y = np.arange(512, dtype=np.float32)[:, None]
    bands = np.repeat(128 + 100 * np.sign(np.sin(y / 9)), 512, axis=1).astype(np.uint8)
    for grey, along, across in ((bands, 1, 0), (bands.T.copy(), 0, 1)):
        s = _strokes(grey, 0.5)
        assert np.abs(np.diff(s, axis=along)).mean() < 0.5 * np.abs(np.diff(s, axis=across)).mean()
