"""File → Export figure and Export animation: the view on screen, at slide size.

The adaptation curves and the paper figure go through the same renderer as
`maml-studio figure`, so the window and the command line write the same
image. The classification plane and the loss plot are drawn from their
widgets, scaled to slide size.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QProgressDialog, QWidget

from maml_studio.figure_data import FigureData, compute_figure
from maml_studio.gui.figure_render import ANIMATION_SUFFIXES, write_animation, write_figure
from maml_studio.gui.plot_export import atomic_image_write, export_plot, uncached
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
    if current is window.evaluation:
        export_widget(window.evaluation.plot, path, window.theme, window.font_scale)
        return
    if current is not panel:
        export_widget(window.loss_plot, path, window.theme, window.font_scale)
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


def _settle(plot: QWidget) -> None:
    """Lay the plot out for its current text size: axes measure their tick labels while they
    draw, so one throwaway drawing lets them take the room that larger text needs."""
    for _ in range(2):
        scratch = QImage(max(plot.width(), 1), max(plot.height(), 1), QImage.Format.Format_ARGB32)
        painter = QPainter(scratch)
        plot.render(painter)
        painter.end()
        QApplication.processEvents()


def _background(theme: str) -> str:
    return "#1f2023" if theme == "dark" else "#ffffff"


def export_widget(plot: QWidget, path: Path, theme: str, font_scale: float = 1.0) -> float | None:
    """A plot widget as SVG, or as a PNG of slide size with the view scaled to fill it and its
    legend and axis text at least SLIDE_TEXT_PX high. Returns that height in the PNG (pixels)."""
    if path.suffix.lower() == ".svg":
        export_plot(plot, path)
        return None
    width, height = SLIDE_SIZE
    margin = SLIDE_MARGIN_PX
    scale = min((width - 2 * margin) / max(plot.width(), 1),
                (height - 2 * margin) / max(plot.height(), 1))
    points_per_px = 72 / plot.logicalDpiY()
    slide_scale = max(font_scale, SLIDE_TEXT_PX * points_per_px / (BASE_POINTS * scale))
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor(_background(theme)))
    style_plot(plot, theme, slide_scale)  # larger text for the slide, laid out before drawing
    _settle(plot)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        w, h = plot.width() * scale, plot.height() * scale
        with uncached(plot):
            plot.render(painter, QRectF((width - w) / 2, (height - h) / 2, w, h),
                        QRect(0, 0, plot.width(), plot.height()), Qt.AspectRatioMode.KeepAspectRatio)
    finally:
        painter.end()
        style_plot(plot, theme, font_scale)  # as it was on screen
        _settle(plot)

    def write(temp: str) -> None:
        if not image.save(temp, "PNG"):
            raise OSError("the image could not be written")

    atomic_image_write(path, write)
    return BASE_POINTS * slide_scale / points_per_px * scale
