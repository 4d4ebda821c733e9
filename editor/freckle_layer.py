"""Freckles painted on the rendered face: round tan dots on the skin of the cheeks and nose.

Why an image layer and not a latent direction: this model's own spots are red dashes. Five refits of a
W+ direction to painted round tan targets, dots in its noise inputs, and every row subset left them red
or dash-shaped (README, "Tried for round tan freckles"), while people asked for freckles. So the
shipped freckles direction's + side paints them here, after the render; its − side is still the model's
own direction reversed (clearer skin). Every image the app makes (drag frames, full renders, exports,
batch, animation) goes through editor.render, so all of them carry the same freckles.

Placement: dlib's 5 landmarks (eyes' corners, nose base) set a frame scaled by the eye distance: two
cheek ellipses below the eyes and one over the nose bridge. A turned head (the nose off the eyes'
midpoint) shrinks the cheek it turns away from and moves both. Dots are kept to skin: pixels near the
cheeks' median colour in chromaticity and brightness (hair, glasses, lips, background fall out). Their
positions, sizes, shapes and strengths come from the edit's noise seed, in that frame, so they stay on
the face while it moves, change with *Reseed*, and a 512² drag frame shows the dots of the 1024² render.
"""

from __future__ import annotations

import numpy as np

BROWN = np.array([0.80, 0.63, 0.47], np.float32)  # multiplies the skin under a dot (melanin absorbs blue most)
DOTS = 480          # at strength 1 over both cheeks and the nose
RADIUS_PX = 1.5     # median dot radius at 1024² (lognormal, 0.8-3.2 px)


def _frame(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from .measures.pose import landmarks
    p = landmarks(image)  # [5, 2]: two corners of each eye, then the nose base
    e1, e2 = p[0:2].mean(0), p[2:4].mean(0)
    left, right = (e1, e2) if e1[0] < e2[0] else (e2, e1)
    return left, right, p[4], float(np.linalg.norm(right - left))


def _dots(rng: np.random.Generator, n: int) -> np.ndarray:
    """[n, 6]: position in the frame (u across in eye distances from the eyes' midpoint, v down), radius
    factor, strength, aspect, angle. Drawn for every face alike, then placed."""
    return np.stack([rng.uniform(-1.2, 1.2, n), rng.uniform(-0.2, 1.3, n),
                     np.clip(rng.lognormal(0.0, 0.35, n), 0.55, 2.1), rng.uniform(0.3, 0.75, n),
                     rng.uniform(0.75, 1.0, n), rng.uniform(0, np.pi, n)], 1)


def paint_freckles(image: np.ndarray, strength: float, seed: int) -> np.ndarray:
    """The uint8 [H, W, 3] face with freckles at `strength` (0 none, 1 the full set: more dots and darker
    as it grows); the image itself when strength <= 0."""
    strength = float(min(strength, 1.0))
    if strength <= 0:
        return image
    h, w = image.shape[:2]
    left, right, nose, d = _frame(image)
    if not d > 4:
        return image
    mid = (left + right) / 2
    turn = float(np.clip((nose[0] - mid[0]) / d, -0.6, 0.6))  # > 0: the nose points to larger x
    x0, x1 = int(max(0, mid[0] - 1.2 * d)), int(min(w, mid[0] + 1.2 * d + 1))
    y0, y1 = int(max(0, mid[1] - 0.2 * d)), int(min(h, mid[1] + 1.3 * d + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return image
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)

    def ellipse(c, rx, ry):
        return np.exp(-(((xx - c[0]) / rx) ** 2 + ((yy - c[1]) / ry) ** 2))

    down = np.array([0.0, 0.55 * d])
    kl, kr = 1 - max(0.0, -turn) * 1.3, 1 - max(0.0, turn) * 1.3  # the cheek the nose points to turns away
    shift = np.array([0.35 * turn * d, 0.0])
    density = (kl * ellipse(left + down + shift - [0.04 * d, 0], 0.34 * d * max(kl, 0.15), 0.25 * d)
               + kr * ellipse(right + down + shift + [0.04 * d, 0], 0.34 * d * max(kr, 0.15), 0.25 * d)
               + 0.8 * ellipse(0.45 * mid + 0.55 * nose, 0.15 * d, 0.3 * d))
    crop = image[y0:y1, x0:x1].astype(np.float32)
    core = density > 0.6
    if core.sum() < 16:
        return image
    med = np.median(crop[core], 0)
    chroma = np.abs(crop / (crop.sum(-1, keepdims=True) + 1) - med / (med.sum() + 1)).sum(-1) * 100
    light = np.abs(crop.mean(-1) - med.mean()) / max(float(med.mean()), 1.0)
    skin = np.clip(2 - chroma / 3, 0, 1) * np.clip(2 - light / 0.25, 0, 1)

    # The same dots for every size and strength of this seed: a stronger slider keeps the dots it had.
    dots = _dots(np.random.default_rng(seed), 6 * DOTS)
    px, py = mid[0] + dots[:, 0] * d - x0, mid[1] + dots[:, 1] * d - y0
    inside = (px >= 0) & (py >= 0) & (px < x1 - x0) & (py < y1 - y0)
    keep_p = np.zeros(len(dots), np.float32)
    keep_p[inside] = np.clip(density[py[inside].astype(int), px[inside].astype(int)], 0, 1)
    gate = np.random.default_rng(seed + 1).uniform(0, 1, len(dots))
    chosen = np.flatnonzero(gate < keep_p)[:max(1, int(DOTS * strength))]
    scale = w / 1024
    mask = _dot_mask(density.shape, px[chosen], py[chosen], dots[chosen, 2:], scale * RADIUS_PX)
    mask *= skin * (0.5 + 0.5 * strength)
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(crop * (1 - mask[..., None] * (1 - BROWN)) + 0.5, 0, 255).astype(np.uint8)
    return out


def _dot_mask(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, params: np.ndarray, radius: float) -> np.ndarray:
    """The dots' opacity [H, W]: each a soft-edged ellipse, overlaps keep the stronger. All dots at once on
    a fixed patch around each (a Python loop over 480 dots cost ~9 ms a 512² drag frame). A dot whose box
    would leave the crop is dropped, as the cheeks' edge is."""
    rf, a, aspect, angle = params.T
    r = radius * rf
    (bx0, bx1), (by0, by1) = (((v - r - 2).astype(int), (v + r + 3).astype(int)) for v in (x, y))
    ok = (bx0 >= 0) & (by0 >= 0) & (bx1 <= shape[1]) & (by1 <= shape[0])
    x, y, r, a, aspect, angle = x[ok], y[ok], r[ok], a[ok], aspect[ok], angle[ok]
    mask = np.zeros(shape, np.float32)
    if not len(x):
        return mask
    half = int(np.ceil(r.max() + 0.6)) + 1  # past r + 0.6 (over the aspect, farther still) a dot is 0
    offs = np.arange(-half, half + 1, dtype=np.float32)
    cx, cy = np.floor(x), np.floor(y)
    gx = cx[:, None, None] + offs[None, None, :]  # [n, 1, p]: pixel columns
    gy = cy[:, None, None] + offs[None, :, None]  # [n, p, 1]: pixel rows
    dx, dy = gx - x[:, None, None], gy - y[:, None, None]
    c, s = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (dx * c + dy * s) / aspect[:, None, None]
    v = -dx * s + dy * c
    t = np.clip((r[:, None, None] + 0.6 - np.hypot(u, v)) / 1.2, 0, 1)  # a soft edge a pixel wide
    val = (a[:, None, None] * t * t * (3 - 2 * t)).astype(np.float32)
    gx, gy = np.broadcast_to(gx, val.shape), np.broadcast_to(gy, val.shape)
    keep = (val > 0) & (gx >= 0) & (gy >= 0) & (gx < shape[1]) & (gy < shape[0])
    np.maximum.at(mask, (gy[keep].astype(int), gx[keep].astype(int)), val[keep])
    return mask
