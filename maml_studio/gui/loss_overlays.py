"""Other runs' losses over the loss plot: one colour per run, or a seed group's mean and band.

Each shown run adds its smoothed training loss (solid) and its validation loss
after adaptation (dashed, with points) in the run's colour. Runs that differ
only in their seed can be drawn as one group: the mean of their smoothed
training losses with a shaded band (± one standard deviation, or min–max).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem

from maml_studio.history import History
from maml_studio.run_groups import smoothed

BAND_ALPHA = 60
MAX_POINTS = 2_000  # a smoothed curve drawn at this many points looks the same and repaints fast


@dataclass(frozen=True)
class RunOverlay:
    key: str
    name: str
    colour: str  # "#rrggbb"
    history: History


@dataclass(frozen=True)
class BandOverlay:
    key: str
    name: str  # e.g. "MAML, 3 seeds"
    colour: str
    mean: np.ndarray  # smoothed training loss per iteration, from iteration 1
    low: np.ndarray
    high: np.ndarray


class LossOverlays:
    """The items of the overlays on a `LossPlot`, kept while their runs are shown."""

    def __init__(self, plot) -> None:
        self.plot = plot
        self._items: dict[str, list] = {}
        self.legend_entries: list[tuple[object, str]] = []
        self._bounds = np.zeros(0)  # what the y range must hold, found once per show()
        self.last_iteration = 0.0  # the longest shown run's last iteration (0: none shown)

    def show(self, overlays: list[RunOverlay | BandOverlay]) -> None:
        """Draw exactly these overlays (others are removed)."""
        wanted = {overlay.key for overlay in overlays}
        for key in [k for k in self._items if k not in wanted]:
            for item in self._items.pop(key):
                self.plot.removeItem(item)
        self.legend_entries = []
        for overlay in overlays:
            for item in self._items.pop(overlay.key, []):
                self.plot.removeItem(item)
            items = self._band(overlay) if isinstance(overlay, BandOverlay) else self._run(overlay)
            self._items[overlay.key] = items
            self.legend_entries.append((items[0], overlay.name))
        # From the data as given, not as drawn: drawn data is thinned, clipped to the view and,
        # on a log axis, log10 of the losses.
        given = [item.getOriginalDataset() for items in self._items.values() for item in items
                 if isinstance(item, pg.PlotDataItem)]
        given = [(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in given
                 if x is not None and y is not None and len(x)]
        self.last_iteration = max((float(np.nanmax(x)) for x, _ in given), default=0.0)
        values = np.concatenate([y for _, y in given]) if given else np.zeros(0)
        values = values[np.isfinite(values)]
        positive = values[values > 0]
        # The extremes are all the y range needs (the smallest positive one for a log axis):
        # the plot refreshes four times a second, and 5 runs of 70 000 values are 350 000.
        self._bounds = np.array([values.min(), values.max(), positive.min()]) if positive.size else \
            np.array([values.min(), values.max()]) if values.size else np.zeros(0)

    def values(self) -> list[np.ndarray]:
        """The values the plot's y range must hold for the overlays (their extremes)."""
        return [self._bounds]

    def _run(self, overlay: RunOverlay) -> list:
        curve = smoothed(overlay.history.train_loss)
        x, curve = _thinned(np.arange(1, len(curve) + 1, dtype=float), curve)
        train = self.plot.plot(x, curve, pen=pg.mkPen(overlay.colour, width=2))
        train.setClipToView(True)
        train.setDownsampling(auto=True, method="peak")
        items = [train]
        rows = [row for row in overlay.history.validation if len(row) > 2]
        if rows:
            table = np.array([tuple(row[:3]) for row in rows], dtype=float)
            items.append(self.plot.plot(
                table[:, 0], table[:, 2], symbol="o", symbolSize=5, symbolBrush=overlay.colour,
                symbolPen=None, pen=pg.mkPen(overlay.colour, width=1.5, style=Qt.PenStyle.DashLine)))
        return _cached(items)

    def _band(self, overlay: BandOverlay) -> list:
        x, mean_y, low_y, high_y = _thinned(np.arange(1, len(overlay.mean) + 1, dtype=float),
                                            overlay.mean, overlay.low, overlay.high)
        mean = self.plot.plot(x, mean_y, pen=pg.mkPen(overlay.colour, width=2))
        low = pg.PlotDataItem(x, low_y, pen=pg.mkPen(None))
        high = pg.PlotDataItem(x, high_y, pen=pg.mkPen(None))
        colour = QColor(overlay.colour)
        colour.setAlpha(BAND_ALPHA)
        fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush(colour))
        fill.setZValue(-5)
        self.plot.addItem(fill)
        return _cached([mean, fill, low, high])


def _thinned(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """At most MAX_POINTS evenly spaced samples (ends kept) of smoothed, static curves: the
    plot repaints them whenever the live run's curves change, four times a second."""
    if len(x) <= MAX_POINTS:
        return (x, *ys)
    keep = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int))
    return (x[keep], *[np.asarray(y)[keep] for y in ys])


def _cached(items: list) -> list:
    """Overlays are kept as screen bitmaps, redrawn only when the view's range or size changes:
    the live run's curves repaint the plot four times a second, and repainting every overlay
    each time held the GUI thread longest while training. Exports draw them afresh
    (`plot_export.uncached`)."""
    for item in items:
        for part in (getattr(item, "curve", None), getattr(item, "scatter", None)) \
                if isinstance(item, pg.PlotDataItem) else (item,):
            if part is not None:
                part.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return items
