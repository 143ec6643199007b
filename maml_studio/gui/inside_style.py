"""Looks the three "inside MAML" views share beyond `theme.style_plot`: titles, extra axes and
legends in the theme's colours, and axes that show plain numbers."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

from maml_studio.gui.plot_axes import LogAxis
from maml_studio.gui.view_colors import FOREGROUND


def foreground(theme: str) -> str:
    return QColor(*FOREGROUND[theme]).name()


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
