"""The face view: pyqtgraph image with zoom (wheel), pan (drag) and fit; a small render-time plot."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class FaceView(pg.GraphicsLayoutWidget):
    """Shows uint8 [H, W, 3] images in a fixed world rectangle, so a 512² preview and the 1024² render
    replace each other without the view jumping."""

    def __init__(self, world_size: int = 1024, parent=None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.item = pg.ImageItem()
        self.view.addItem(self.item)
        self.world_size = world_size
        self.image: np.ndarray | None = None
        self.setMinimumSize(320, 320)

    def set_world_size(self, size: int) -> None:
        self.world_size = size
        self.fit()

    def show_image(self, rgb: np.ndarray) -> None:
        first = self.image is None
        self.image = rgb
        # uint8 without levels is pyqtgraph's zero-copy path to a QImage; levels=(0, 255) would rescale
        # every pixel on the GUI thread (~4 ms a 1024² frame, during a drag too).
        self.item.setImage(np.ascontiguousarray(rgb, dtype=np.uint8), autoLevels=False, levels=None)
        self.item.setRect(QRectF(0, 0, self.world_size, self.world_size))
        if first:
            self.fit()

    def shown_pixels(self) -> float:
        """Device pixels across the image as it is shown now (window size and zoom); inf before layout."""
        px = self.view.viewPixelSize()
        if not px or px[0] <= 0:
            return float("inf")
        return self.world_size / px[0] * self.devicePixelRatioF()

    def fit(self) -> None:
        self.view.setRange(QRectF(0, 0, self.world_size, self.world_size), padding=0.01)

    def actual_pixels(self) -> None:
        """One image pixel per screen pixel, centred."""
        w, h = self.view.width(), self.view.height()
        if self.image is None or w <= 0:
            return
        scale = self.world_size / self.image.shape[1]
        cx = cy = self.world_size / 2
        self.view.setRange(QRectF(cx - w * scale / 2, cy - h * scale / 2, w * scale, h * scale), padding=0)


ZERO_MARGIN = 0.08  # of the plot's range, below 0: room for the lower half of the "0" label


class RenderTimePlot(pg.PlotWidget):
    """The last renders' times in ms: previews and full renders as two lines."""

    def __init__(self, history: int = 60, parent=None):
        super().__init__(parent)
        self.setFixedHeight(130)  # at 90 px the axis had room for two ticks ("0", "500") and nothing between
        self.setBackground(None)
        self.hideAxis("bottom")
        self.addLegend(offset=(-4, 2), labelTextSize="8pt")
        self.getAxis("left").setWidth(40)  # no axis title: the box says ms, and the title overlapped the ticks
        self.getAxis("left").setStyle(tickTextOffset=4)
        self.getAxis("left").setTextPen("#444")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.times = {"preview": deque(maxlen=history), "full": deque(maxlen=history)}
        self.curves = {"preview": self.plot(pen=pg.mkPen("#1a73e8", width=1.5), symbol="o", symbolSize=4,
                                             symbolBrush="#1a73e8", symbolPen=None, name="preview"),
                       "full": self.plot(pen=pg.mkPen("#d93025", width=1.5), symbol="o", symbolSize=4,
                                          symbolBrush="#d93025", symbolPen=None, name="full")}
        self.setToolTip("Render time, ms (blue: previews while dragging, red: full resolution)")

    def add(self, kind: str, ms: float) -> None:
        self.times[kind].append(ms)
        self.curves[kind].setData(np.asarray(self.times[kind], dtype=float))
        # From 0, so previews and full renders compare at a glance (auto-range spread one 189 ms render
        # over 189.0-189.8).
        # A little below 0: with the range ending at 0 the "0" tick label, centred on it, was cut in half.
        top = max(max(t, default=0.0) for t in self.times.values())
        high = max(top, 1.0) * 1.15
        self.setYRange(-ZERO_MARGIN * high, high, padding=0)
