"""A legend under a plot's axes, in the plot's own layout: it never covers data or a click;
its entries, and the plot items of compared runs that it lists."""

from __future__ import annotations

import pyqtgraph as pg


def legend_below(plot: pg.PlotItem, columns: int = 3) -> pg.LegendItem:
    legend = pg.LegendItem(colCount=columns, brush=(255, 255, 255, 0), labelTextColor=(40, 40, 40))
    plot.layout.addItem(legend, 4, 1)  # rows: title, top axis, view, bottom axis, legend
    plot.legend = legend  # where the theme finds it
    return legend


def show_entries(legend: pg.LegendItem, entries: list[tuple]) -> None:
    """Show these (item, text) entries; the same items on show are only relabelled, far cheaper
    than rebuilding every entry."""
    if [id(item) for item, _ in entries] == [id(sample.item) for sample, _ in legend.items]:
        for (_, text), (_, label) in zip(entries, legend.items, strict=True):
            if label.text != text:
                label.setText(text)
        return
    legend.clear()
    for item, text in entries:
        legend.addItem(item, text)


def sync_run_items(plot: pg.PlotWidget, items: dict, runs: list, width: float,
                   visible: bool = True, **options) -> None:
    """One plot item per compared run in ``items`` (by the run's key), drawn in the run's colour;
    the items of runs no longer compared are removed from ``plot``."""
    wanted = {run.key: run for run in runs}
    for key in [k for k in items if k not in wanted]:
        plot.removeItem(items.pop(key))
    for key, run in wanted.items():
        if key not in items:
            items[key] = plot.plot([], [], **options)
            items[key].setVisible(visible)
        items[key].setPen(pg.mkPen(run.colour, width=width))
