"""File → Export figure and Export animation: the view on screen, at slide size.

The adaptation curves and the paper figure go through the same renderer as
`maml-studio figure`, so the window and the command line write the same
image. The classification plane, the loss plot and the tabs of several plots
(Meta-gradient, Inner loop, Parameter space, Sweeps) are drawn from their
widgets, scaled to slide size.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QGraphicsView, QProgressDialog, QWidget

from maml_studio.figure_data import FigureData, compute_figure
from maml_studio.gui.figure_render import ANIMATION_SUFFIXES, write_animation, write_figure
from maml_studio.gui.plot_export import (
    atomic_image_write,
    draw_plots,
    legends_scaled,
    uncached,
    write_plots_svg,
)
from maml_studio.gui.theme import style_plot

SLIDE_SIZE = (1920, 1080)
PAPER_STEPS = (0, 1, 10)
SLIDE_TEXT_PX = 26  # legend and axis text on an exported slide (24 px reads from the back row)
SLIDE_MARGIN_PX = 32  # around the plot, so that no tick label touches the slide's edge
BASE_POINTS = 9  # the plots' text size on screen, before presentation mode scales it


def export_view(window, path: str | Path) -> None:
    """Write the current view to ``path`` (.png at slide size, or .svg); OSError or ValueError
    with a message for the user when it cannot."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise OSError(f"unknown image type '{path.suffix}': use .png or .svg")
    panel, current = window.adaptation, window.tabs.currentWidget()
    theme, font_scale = window.theme, window.font_scale
    if current is window.evaluation:
        export_widget(window.evaluation.plot, path, theme, font_scale)
        return
    if current in window.inside_views() or current is window.sweeps_view:
        plots = current.plots()

        def restyle(scale: float) -> None:
            for plot in plots:
                style_plot(plot, theme, scale)
            if current is not window.sweeps_view:
                current.set_theme(theme, scale)  # titles and the axes style_plot does not reach
        export_plots(current, plots, restyle, path, theme, font_scale)
        return
    if current is not panel:
        export_widget(window.loss_plot, path, theme, font_scale)
        return
    if panel.plane_mode:
        export_widget(panel.plot, path, window.theme, window.font_scale)
        return
    data, steps = adaptation_figure(panel)
    write_figure(data, path, steps, paper=panel.paper_mode, theme=window.theme, size=SLIDE_SIZE)


def export_animation(window, path: str | Path) -> None:
    """Play as an animated GIF or MP4 video: the adaptation after steps 0 … the current step."""
    path = Path(path)
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise OSError(f"unknown animation type '{path.suffix}': use .gif or .mp4")
    panel = window.adaptation
    if panel.plane_mode:
        raise ValueError("Export animation draws regression curves; export the plane with "
                         "Export figure")
    data, _ = adaptation_figure(panel, at_least=1)
    last = data.max_step
    progress = QProgressDialog("Drawing the animation…", "", 0, last + 1, window)
    progress.setCancelButton(None)
    progress.setWindowModality(Qt.WindowModality.WindowModal)
    progress.setMinimumDuration(300)

    def advance(step: int) -> None:
        progress.setValue(step + 1)

    try:
        write_animation(data, path, last, paper=panel.paper_mode, theme=window.theme,
                        size=SLIDE_SIZE, progress=advance)
    finally:
        progress.close()
        progress.deleteLater()


def adaptation_figure(panel, at_least: int = 0) -> tuple[FigureData, list[int]]:
    """The panel's points, task, step size and step as a figure, and the steps it shows."""
    checkpoint = panel.model
    if checkpoint is None or panel.experiment is None:
        raise ValueError("no model to draw yet: train one or open a checkpoint")
    step = max(panel.step, at_least)
    steps = sorted({*PAPER_STEPS, step}) if panel.paper_mode else [step]
    task = panel.task
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        data = compute_figure(checkpoint, panel.points[:, :2], task.params if task else None,
                              max(steps), lr=float(panel.lr_box.value()),
                              description=task.description if task else "")
    finally:
        QApplication.restoreOverrideCursor()
    return data, steps


def _settle(view: QWidget, plots: list | None = None) -> None:
    """Lay the plots out for their current text size: axes measure their tick labels while they
    draw, so one throwaway drawing lets them take the room that larger text needs. Each plot is
    fitted to its widget again: a layout grown wider than the widget (larger text) is cut off,
    and stays wider once the text is smaller."""
    for round_ in range(3):
        if round_ == 1:
            for plot in plots or []:
                if isinstance(plot, pg.GraphicsView):
                    plot.resizeEvent(None)
        scratch = QImage(max(view.width(), 1), max(view.height(), 1), QImage.Format.Format_ARGB32)
        painter = QPainter(scratch)
        if isinstance(view, QGraphicsView):
            view.render(painter)
        else:
            view.render(painter, QPoint(0, 0))
        painter.end()
        QApplication.processEvents()


def _background(theme: str) -> str:
    return "#1f2023" if theme == "dark" else "#ffffff"


def export_widget(plot: QWidget, path: Path, theme: str, font_scale: float = 1.0) -> float | None:
    """One plot widget as SVG, or as a PNG of slide size; see `export_plots`."""
    return export_plots(plot, [plot], lambda scale: style_plot(plot, theme, scale), path, theme,
                        font_scale)


def export_plots(view: QWidget, plots: list, restyle: Callable[[float], None], path: Path,
                 theme: str, font_scale: float = 1.0) -> float | None:
    """The ``plots`` of ``view``, laid out as they are on screen (without the widgets between
    them), as SVG, or as a PNG of slide size scaled to fill the slide and its legend and axis text at least
    SLIDE_TEXT_PX high. ``restyle(scale)`` draws the plots' text ``scale`` times the usual size.
    Returns that text height in the PNG (pixels)."""
    area = _area(view, plots)
    if path.suffix.lower() == ".svg":
        atomic_image_write(path, lambda temp: write_plots_svg(view, plots, area, temp,
                                                               "MAML Studio plot"))
        return None
    width, height = SLIDE_SIZE
    margin = SLIDE_MARGIN_PX
    scale = min((width - 2 * margin) / max(area.width(), 1),
                (height - 2 * margin) / max(area.height(), 1))
    points_per_px = 72 / view.logicalDpiY()
    slide_scale = max(font_scale, SLIDE_TEXT_PX * points_per_px / (BASE_POINTS * scale))
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor(_background(theme)))
    columns: list[int | None] = []  # each plot's legend columns, to put back
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        restyle(slide_scale)  # larger text for the slide, laid out before drawing
        _settle(view)
        for plot in plots:  # once the larger text is laid out
            columns.append(_fit_legend(plot))
        _settle(view, plots)
        with ExitStack() as stack:
            for plot in plots:
                stack.enter_context(uncached(plot))
                stack.enter_context(legends_scaled(plot))
            origin = QPointF((width - area.width() * scale) / 2, (height - area.height() * scale) / 2)
            draw_plots(painter, view, plots, area, origin, scale)
    finally:  # the window as it was, whatever happened
        painter.end()
        restyle(font_scale)
        for plot, count in zip(plots, columns, strict=False):
            _fit_legend(plot, count)
        _settle(view, plots)

    def write(temp: str) -> None:
        if not image.save(temp, "PNG"):
            raise OSError("the image could not be written")

    atomic_image_write(path, write)
    return BASE_POINTS * slide_scale / points_per_px * scale


def _fit_legend(plot, columns: int | None = None) -> int | None:
    """Lay a legend under the axes out in ``columns`` columns, or in fewer than it has when the
    plot's larger text would make it wider than the plot. Returns the columns it had."""
    legend = plot.getPlotItem().legend if isinstance(plot, pg.PlotWidget) else None
    if legend is None:
        return None
    had = legend.columnCount
    if columns is not None:
        legend.setColumnCount(columns)
    else:
        while legend.columnCount > 1 and plot.getPlotItem().minimumWidth() > plot.width():
            legend.setColumnCount(legend.columnCount - 1)
    return had


def _area(view: QWidget, plots: list) -> QRect:
    """The rectangle of ``view`` that holds the visible ``plots``."""
    area = QRect()
    for plot in plots:
        if plot is view:
            return QRect(0, 0, view.width(), view.height())
        if plot.isVisibleTo(view):
            area = area.united(QRect(plot.mapTo(view, QPoint(0, 0)), plot.size()))
    if area.isEmpty():
        raise ValueError("nothing to export: the view shows no plot")
    return area
