"""A legend under a plot's axes, in the plot's own layout: it never covers data or a click."""

from __future__ import annotations

import pyqtgraph as pg


def legend_below(plot: pg.PlotItem, columns: int = 3) -> pg.LegendItem:
    legend = pg.LegendItem(colCount=columns, brush=(255, 255, 255, 0), labelTextColor=(40, 40, 40))
    plot.layout.addItem(legend, 4, 1)  # rows: title, top axis, view, bottom axis, legend
    plot.legend = legend  # where the theme finds it
    return legend
