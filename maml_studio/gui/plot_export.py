"""Export a plot as PNG (at twice the on-screen resolution) or SVG (vector, for slides)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem, QWidget


@contextmanager
def uncached(widget) -> Iterator[None]:
    """Every item of ``widget``'s scene drawn afresh while exporting: an item cached as a
    screen bitmap (the loss plot's overlays are) would land in an SVG as a picture, and in a
    larger PNG blurred."""
    scene = widget.scene() if hasattr(widget, "scene") else None
    cached = [(item, item.cacheMode()) for item in (scene.items() if scene is not None else [])
              if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    for item, _ in cached:
        item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        yield
    finally:
        for item, mode in cached:
            item.setCacheMode(mode)


def export_plot(plot: pg.PlotWidget, path: str | Path) -> None:
    """Write ``plot`` to ``path``; the suffix picks the format. Raises OSError on failure."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise OSError(f"unknown image type '{path.suffix}': use .png or .svg")

    def write(temp: str) -> None:
        if suffix == ".svg":
            _write_svg(plot, temp)
        else:
            exporter = pyqtgraph.exporters.ImageExporter(plot.getPlotItem())
            exporter.parameters()["width"] = max(1200, 2 * plot.width())
            with uncached(plot):
                exporter.export(temp)

    atomic_image_write(path, write)


def atomic_image_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write`` on a temporary file beside ``path`` and rename it into place if it is not
    empty; the temporary file never stays. Raises OSError on failure."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix.lower(),
                                dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        write(temp)
        if os.path.getsize(temp) == 0:
            raise OSError("the image came out empty")
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def _write_svg(plot: pg.PlotWidget, filename: str) -> None:
    write_widget_svg(plot, filename, "MAML Studio plot")


@contextmanager
def legends_scaled(widget) -> Iterator[None]:
    """Legends drawn at the scale of the rest while exporting: pyqtgraph's legends ignore the
    view's transformations (they keep their size when a plot is zoomed), so a slide drawn larger
    than the screen had them at their on-screen size."""
    scene = widget.scene() if hasattr(widget, "scene") else None
    legends = [item for item in (scene.items() if scene is not None else [])
               if isinstance(item, pg.LegendItem)
               and item.flags() & QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations]
    for legend in legends:
        legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, False)
    try:
        yield
    finally:
        for legend in legends:
            legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)


def write_widget_svg(widget, filename: str, title: str) -> None:
    """``widget`` drawn as vectors. pyqtgraph's SVGExporter cannot parse the paths current Qt
    writes; Qt's own SVG generator renders the same scene."""
    area = QRect(0, 0, widget.width(), widget.height())
    _write_svg_of(area, filename, title, lambda painter: widget.render(painter), [widget])


def write_plots_svg(view: QWidget, plots: list, area: QRect, filename: str, title: str) -> None:
    """The ``plots`` inside ``view`` drawn as vectors where they lie in its ``area``."""
    _write_svg_of(area, filename, title,
                  lambda painter: draw_plots(painter, view, plots, area, QPointF(0, 0), 1.0), plots)


def _write_svg_of(area: QRect, filename: str, title: str, draw: Callable[[QPainter], None],
                  plots: list) -> None:
    generator = QSvgGenerator()
    generator.setFileName(filename)
    generator.setSize(area.size())
    generator.setViewBox(QRect(0, 0, area.width(), area.height()))
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        with ExitStack() as stack:
            for plot in plots:
                stack.enter_context(uncached(plot))
            draw(painter)
    finally:
        painter.end()


def draw_plots(painter: QPainter, view: QWidget, plots: list, area: QRect, origin: QPointF,
               scale: float) -> None:
    """Each visible plot of ``view`` drawn where it lies in ``area``, that area placed at
    ``origin`` and scaled ``scale`` times: the plots alone, not the widgets between them."""
    for plot in plots:
        if plot is not view and not plot.isVisibleTo(view):
            continue
        corner = QPoint(0, 0) if plot is view else plot.mapTo(view, QPoint(0, 0))
        target = QRectF(origin.x() + (corner.x() - area.x()) * scale,
                        origin.y() + (corner.y() - area.y()) * scale,
                        plot.width() * scale, plot.height() * scale)
        plot.render(painter, target, QRect(0, 0, plot.width(), plot.height()),
                    Qt.AspectRatioMode.IgnoreAspectRatio)
