"""Looks the three "inside MAML" views share beyond `theme.style_plot`: titles, extra axes and
legends in the theme's colours, and axes that show plain numbers."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

from maml_studio.gui.view_colors import FOREGROUND


def foreground(theme: str) -> str:
    return QColor(*FOREGROUND[theme]).name()


class LogAxis(pg.AxisItem):
    """A log axis whose 2…9 ticks are labelled only at 2 and 5, and not at all beyond a
    decade and a half: pyqtgraph labels all eight, which run into one another on a short axis."""

    _span = 0.0

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        self._span = maxVal - minVal
        return super().logTickValues(minVal, maxVal, size, stdTicks)

    def logTickStrings(self, values, scale, spacing):
        strings = super().logTickStrings(values, scale, spacing)
        if spacing is not None:  # the decades
            return strings
        keep = []
        for value, text in zip(values, strings, strict=True):
            leading = round(10 ** (value - math.floor(value + 1e-9)))
            keep.append(text if leading == 1 or (self._span <= 1.5 and leading in (2, 5)) else "")
        return keep


def plot_widget() -> pg.PlotWidget:
    """A plot for these views: a left axis that can be a readable log axis, plain numbers."""
    plot = pg.PlotWidget(axisItems={"left": LogAxis("left")})
    plain_axes(plot)
    return plot


def plain_axes(plot: pg.PlotWidget) -> None:
    """No "(×0.001)" beside a label: parameter coordinates and losses read as they are."""
    for name in ("left", "bottom", "right"):
        plot.getAxis(name).enableAutoSIPrefix(False)


def style_axis(axis: pg.AxisItem, theme: str, font_scale: float) -> None:
    """An axis `style_plot` does not reach (a right axis, a colour bar's)."""
    font = QFont()
    font.setPointSizeF(9 * font_scale)
    axis.setPen(foreground(theme))
    axis.setTextPen(foreground(theme))
    axis.setTickFont(font)
    axis.label.setFont(font)


def style_titles(plots: list[pg.PlotWidget], theme: str, font_scale: float) -> None:
    for plot in plots:
        title = plot.getPlotItem().titleLabel
        title.setText(title.text, color=foreground(theme), size=f"{10 * font_scale:.0f}pt")


def style_legends(plots: list[pg.PlotWidget], theme: str, font_scale: float) -> None:
    size = f"{9 * font_scale:.0f}pt"
    for plot in plots:
        legend = plot.getPlotItem().legend
        if legend is None:
            continue
        legend.setLabelTextColor(foreground(theme))
        legend.setLabelTextSize(size)
        for _, label in legend.items:
            label.setText(label.text, size=size, color=foreground(theme))
