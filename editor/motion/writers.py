"""Animation files: MP4 (H.264 through PyAV's FFmpeg), GIF (Pillow) and a folder of PNGs.

Every writer writes to a hidden partial file beside the target and renames it into place only once the
last frame is in, so a cancelled or failed export leaves neither a half file nor a damaged old one.
Use a writer as a context manager: a clean exit commits, an exception removes the partial file.
"""

from __future__ import annotations

import io as _io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import atomic_write_bytes

WRITER_SUFFIXES = {".mp4": "MP4 (H.264)", ".gif": "GIF", "": "folder of PNG frames"}
GIF_PALETTE_FRAMES = 16  # frames sampled to build a GIF's one shared palette
GIF_PALETTE_TILE = 128


class _Writer:
    def __init__(self, path: str | os.PathLike, size: int, fps: float):
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"frame size must be a positive integer, not {size!r}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, not {fps}")
        self.path, self.size, self.fps, self.count = Path(path), size, float(fps), 0
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")

    def write(self, rgb: np.ndarray) -> None:
        if rgb.dtype != np.uint8 or rgb.shape != (self.size, self.size, 3):
            raise ValueError(f"frame must be uint8 [{self.size}, {self.size}, 3], got {rgb.dtype} {rgb.shape}")
        self._write(rgb)
        self.count += 1

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if self.count == 0:
                self._abort()
                raise ValueError(f"{self.path}: no frames were written")
            self._commit()
        else:
            self._abort()
        return False

    def _abort(self) -> None:
        self.partial.unlink(missing_ok=True)


class Mp4Writer(_Writer):
    """H.264 in yuv420p (what every player and browser plays), which needs an even width and height."""

    def __init__(self, path, size, fps, crf: int = 18):
        super().__init__(path, size, fps)
        if size % 2:
            raise ValueError(f"MP4 (H.264, yuv420p) needs an even frame size, not {size}")
        try:
            import av  # imported here: GIF and PNG exports work without it
        except ImportError:
            raise ValueError("MP4 export needs PyAV (pip install av); GIF and PNG frames work without it") from None
        self.container = av.open(str(self.partial), mode="w", format="mp4")
        try:
            self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            self.stream.width = self.stream.height = size
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(int(crf)), "preset": "medium"}
        except Exception:
            self.container.close()
            self._abort()
            raise
        self._av = av

    def _write(self, rgb):
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _commit(self):
        for packet in self.stream.encode():  # flush the encoder's delayed frames
            self.container.mux(packet)
        self.container.close()
        os.replace(self.partial, self.path)

    def _abort(self):
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a half-written container may refuse to finalise; it is deleted
            pass
        super()._abort()


class GifWriter(_Writer):
    """An endlessly looping GIF with one palette for all frames, chosen from a sample of them (median cut):
    a per-frame palette makes the colours of a morph shimmer from frame to frame. Frames are kept until
    the end, since the palette needs them all; GIF is meant for small sizes."""

    def __init__(self, path, size, fps):
        super().__init__(path, size, fps)
        self.frames: list[np.ndarray] = []

    def _write(self, rgb):
        self.frames.append(rgb.copy())

    def palette(self) -> Image.Image:
        n = len(self.frames)
        picks = sorted({round(i * (n - 1) / max(1, GIF_PALETTE_FRAMES - 1)) for i in range(min(n, GIF_PALETTE_FRAMES))})
        tiles = [Image.fromarray(self.frames[i]).resize((GIF_PALETTE_TILE,) * 2, Image.Resampling.BOX) for i in picks]
        sheet = Image.new("RGB", (GIF_PALETTE_TILE * len(tiles), GIF_PALETTE_TILE))
        for k, tile in enumerate(tiles):
            sheet.paste(tile, (k * GIF_PALETTE_TILE, 0))
        return sheet.quantize(256, method=Image.Quantize.MEDIANCUT)

    def _commit(self):
        pal = self.palette()
        images = [Image.fromarray(f).quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG) for f in self.frames]
        buf = _io.BytesIO()
        # GIF delays are in hundredths of a second: 24 fps becomes 4/100 s a frame (25 fps).
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=max(20, round(1000 / self.fps)), optimize=False, disposal=1)
        atomic_write_bytes(self.path, buf.getvalue())

    def _abort(self):
        self.frames.clear()


class PngFolderWriter(_Writer):
    """frame_00000.png, ... in a folder (made if missing): for an editor or ffmpeg of your own."""

    def __init__(self, path, size, fps):
        super().__init__(path, size, fps)
        self.path.mkdir(parents=True, exist_ok=True)

    def _write(self, rgb):
        buf = _io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        atomic_write_bytes(self.path / f"frame_{self.count:05d}.png", buf.getvalue())

    def _commit(self):
        pass

    def _abort(self):
        pass  # frames already written stay: each is a whole file


def open_writer(path: str | os.PathLike, size: int, fps: float, crf: int = 18) -> _Writer:
    """A writer chosen by the file name: .mp4, .gif, or no suffix (a folder of PNGs)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        return Mp4Writer(path, size, fps, crf)
    if suffix == ".gif":
        return GifWriter(path, size, fps)
    if suffix == "" or path.is_dir():
        return PngFolderWriter(path, size, fps)
    raise ValueError(f"{path.name}: an animation is written as .mp4, .gif, or a folder of PNGs (no suffix)")
