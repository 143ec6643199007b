"""Draw adaptation figures offscreen at slide size: PNG, SVG and animated GIF.

One renderer for the command line's `figure` and the window's Export figure,
so both write the same image. The adaptation figure shows the true function,
the K points and each model's fits after the chosen steps; the paper figure
is Figure 2 of the MAML paper, two panels ("MAML", "pretrained") on the same
axes with the fits after 0, 1 and 10 steps in one colour ramp per panel.
Legends sit below the axes, never over the data; the frame is the family's
and curves beyond it are clipped.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QApplication

from maml_studio import figure_style as style
from maml_studio.figure_data import FigureData
from maml_studio.gui import mp4_writer
from maml_studio.gui.plot_export import atomic_image_write, write_widget_svg

FRAME_MS = 500  # GIF: time per step
LAST_FRAME_MS = 2000
ANIMATION_SUFFIXES = (".gif", ".mp4")


@dataclass
class FigureScene:
    """A drawn figure: its widget, its panels, and every colour it used (for contrast checks)."""

    widget: pg.GraphicsLayoutWidget
    panels: dict[str, pg.PlotItem]
    background: str
    colours: list[tuple[str, str]] = field(default_factory=list)  # (what, "#rrggbb")
    legend_texts: list[str] = field(default_factory=list)
    legend_px: int = 0

    def close(self) -> None:
        self.widget.close()
        self.widget.deleteLater()


class _Sample(pg.graphicsItems.LegendItem.ItemSample):
    """A legend sample as long and as thick as the figure's scale asks."""

    width_px = 60.0
    height_px = 30.0

    def __init__(self, item) -> None:
        super().__init__(item)
        self.setFixedWidth(self.width_px)
        self.setFixedHeight(self.height_px)

    def boundingRect(self):
        return QRectF(0, 0, self.width_px, self.height_px)

    def paint(self, p, *args):
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        if isinstance(self.item, pg.ScatterPlotItem):
            opts = self.item.opts
            p.translate(self.width_px / 2, self.height_px / 2)
            pg.graphicsItems.ScatterPlotItem.drawSymbol(
                p, opts["symbol"], opts["size"], pg.mkPen(opts["pen"]), pg.mkBrush(opts["brush"]))
            return
        p.setPen(pg.mkPen(self.item.opts["pen"]))
        p.drawLine(0, int(self.height_px / 2), int(self.width_px), int(self.height_px / 2))


def build_figure(data: FigureData, steps: list[int], *, paper: bool = False, theme: str = "light",
                 size: tuple[int, int] = (1920, 1080), max_position_step: int | None = None
                 ) -> FigureScene:
    """Lay out the figure of ``data`` after ``steps`` (the paper's two panels if ``paper``).

    ``max_position_step`` places each step on its model's colour ramp by step/max (used by
    animations, so a step keeps its colour from frame to frame); by default by rank.
    """
    pg.mkQApp()
    width, height = size
    scale = style.scale_for(min(height, width * 9 / 16))
    background, foreground = style.BACKGROUND[theme], style.FOREGROUND[theme]
    widget = pg.GraphicsLayoutWidget()
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    widget.setBackground(background)
    widget.resize(width, height)
    layout = widget.ci
    margin = int(24 * scale)
    layout.setContentsMargins(margin, margin, margin, margin)
    layout.setSpacing(int(28 * scale))
    scene = FigureScene(widget, {}, background, legend_px=max(int(style.LEGEND_TEXT_PX * scale), 12))
    names = [n for n in ("maml", "pretrained") if n in data.models]
    columns = len(names) if paper else 1
    title = _title(data)
    layout.addLabel(title, row=0, col=0, colspan=columns, color=foreground,
                    size=f"{max(int(style.TITLE_TEXT_PX * scale), 12)}px")
    scene.colours.append(("title", foreground))
    groups = [[n] for n in names] if paper else [names]
    for column, group in enumerate(groups):
        key = group[0] if paper else "figure"
        plot = layout.addPlot(row=1, col=column)
        scene.panels[key] = plot
        _style_axes(plot, data, foreground, scale, scene)
        if paper:
            plot.setTitle(style.PANEL_TITLES[group[0]], color=foreground,
                          size=f"{max(int(style.TITLE_TEXT_PX * scale), 12)}px")
        legend = _legend(scene, foreground, scale, columns=1 if paper else 2)
        layout.addItem(legend, row=2, col=column)
        _draw_panel(plot, legend, data, group, steps, theme, scale, scene, max_position_step,
                    with_model_name=not paper)
    layout.layout.setRowStretchFactor(1, 1)
    widget.show()  # laid out, never on screen
    for plot in scene.panels.values():
        plot.vb.setRange(xRange=data.x_range, yRange=data.y_range, padding=0)
    return scene


def _title(data: FigureData) -> str:
    count = len(data.points)
    what = f"{data.family} · {count} point{'s' if count != 1 else ''}"
    return f"{what} · task {data.description}" if data.description else f"{what} · your points"


def _font(px: int) -> QFont:
    font = QFont()
    font.setPixelSize(max(px, 8))
    return font


def _style_axes(plot: pg.PlotItem, data: FigureData, foreground: str, scale: float,
                scene: FigureScene) -> None:
    text_px = max(int(style.AXIS_TEXT_PX * scale), 10)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(foreground, width=max(2 * scale, 1)))
        axis.setTextPen(foreground)
        axis.setStyle(tickFont=_font(text_px), tickTextOffset=int(10 * scale),
                      tickLength=int(-14 * scale))
        axis.setLabel("x" if name == "bottom" else "y", color=foreground, **{"font-size": f"{text_px}px"})
    scene.colours.append(("axes", foreground))
    plot.setMouseEnabled(False, False)
    plot.hideButtons()
    plot.vb.disableAutoRange()
    plot.setMenuEnabled(False)


def _legend(scene: FigureScene, foreground: str, scale: float, columns: int) -> pg.LegendItem:
    sample = type("Sample", (_Sample,), {"width_px": 70 * scale, "height_px": scene.legend_px * 1.2})
    legend = pg.LegendItem(sampleType=sample, labelTextColor=foreground,
                           labelTextSize=f"{scene.legend_px}px", horSpacing=int(24 * scale),
                           verSpacing=int(2 * scale), pen=None, brush=None)
    legend.setColumnCount(columns)
    scene.colours.append(("legend text", foreground))
    return legend


def _draw_panel(plot, legend, data: FigureData, names: list[str], steps: list[int], theme: str,
                scale: float, scene: FigureScene, max_position_step: int | None,
                with_model_name: bool) -> None:
    if data.truth is not None:
        colour = style.TRUTH[theme]
        item = plot.plot(data.grid, data.truth,
                         pen=pg.mkPen(colour, width=style.TRUTH_WIDTH_PX * scale))
        _add(legend, scene, item, "true function", ("true function", colour))
    shown_steps = [s for s in steps if s <= data.max_step]
    colour = style.POINTS[theme]
    points = pg.ScatterPlotItem(data.points[:, 0], data.points[:, 1], symbol="t1",
                                size=style.POINT_SIZE_PX * scale, brush=pg.mkBrush(colour),
                                pen=pg.mkPen(colour, width=1))
    points.setZValue(10)
    plot.addItem(points)
    count = len(data.points)
    _add(legend, scene, points, f"{count} support point{'s' if count != 1 else ''}",
         ("support points", colour))
    # Entries row by row: with two models, one column per model.
    for step in shown_steps:
        for name in names:
            rank = shown_steps.index(step)
            if max_position_step:
                position = step / max_position_step
            else:
                position = rank / (len(shown_steps) - 1) if len(shown_steps) > 1 else 1.0
            colour = style.ramp_colour(name, theme, position)
            y, text = data.curve(name, step)
            dash = Qt.PenStyle.SolidLine if step == max(shown_steps) else \
                Qt.PenStyle.DotLine if step == 0 else Qt.PenStyle.DashLine
            pen = pg.mkPen(colour, width=style.FIT_WIDTH_PX * scale, style=dash)
            item = plot.plot(data.grid if y is not None else [], y if y is not None else [], pen=pen)
            label = f"{style.MODEL_LABELS[name]}, {text}" if with_model_name else text
            _add(legend, scene, item, label, (label, colour))


def _add(legend, scene: FigureScene, item, text: str, colour: tuple[str, str]) -> None:
    legend.addItem(item, text)
    scene.legend_texts.append(text)
    scene.colours.append(colour)


# -- writing ----------------------------------------------------------------------------------------
def render_image(scene: FigureScene) -> QImage:
    size = scene.widget.size()
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(QColor(scene.background))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        scene.widget.render(painter)
    finally:
        painter.end()
    return image


def _write_svg(scene: FigureScene, filename: str) -> None:
    write_widget_svg(scene.widget, filename, "MAML Studio figure")


def write_figure(data: FigureData, path: str | Path, steps: list[int], *, paper: bool = False,
                 theme: str = "light", size: tuple[int, int] = (1920, 1080)) -> None:
    """Write the figure to ``path``: PNG or SVG, or for .gif and .mp4 an animation of
    steps 0 … max(steps)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in ANIMATION_SUFFIXES:
        write_animation(data, path, max(steps), paper=paper, theme=theme, size=size)
        return
    scene = build_figure(data, steps, paper=paper, theme=theme, size=size)
    try:
        if suffix == ".svg":
            atomic_image_write(path, lambda temp: _write_svg(scene, temp))
        elif suffix == ".png":
            image = render_image(scene)
            atomic_image_write(path, lambda temp: _save_qimage(image, temp))
        else:
            raise OSError(f"unknown image type '{path.suffix}': use .png, .svg, .gif or .mp4")
    finally:
        scene.close()


def _save_qimage(image: QImage, filename: str) -> None:
    if not image.save(filename, "PNG"):
        raise OSError("the image could not be written")


def animation_frames(data: FigureData, last_step: int, *, paper: bool = False, theme: str = "light",
                     size: tuple[int, int] = (1920, 1080), progress=None) -> list[QImage]:
    """One image per step 0 … ``last_step``: the pre-update fit and the fit after that step."""
    frames = []
    for step in range(last_step + 1):
        scene = build_figure(data, sorted({0, step}), paper=paper, theme=theme, size=size,
                             max_position_step=max(last_step, 1))
        try:
            frames.append(render_image(scene))
        finally:
            scene.close()
        if progress is not None:
            progress(step)
    return frames


def write_animation(data: FigureData, path: str | Path, last_step: int, *, paper: bool = False,
                    theme: str = "light", size: tuple[int, int] = (1920, 1080), progress=None) -> None:
    """An animated GIF (looping) or an MP4 video of steps 0 … ``last_step``, a frame per step."""
    path = Path(path)
    if path.suffix.lower() == ".mp4" and (reason := mp4_writer.unavailable_reason()):
        raise OSError(reason)  # before drawing any frame
    frames = animation_frames(data, last_step, paper=paper, theme=theme, size=size, progress=progress)
    if path.suffix.lower() == ".mp4":
        atomic_image_write(path, lambda temp: mp4_writer.save_mp4(frames, temp, FRAME_MS, LAST_FRAME_MS))
    else:
        atomic_image_write(path, lambda temp: save_gif(frames, temp))


def save_gif(frames: list[QImage], filename: str) -> None:
    from PIL import Image

    pictures = [qimage_to_pil(frame).quantize(colors=255, method=Image.Quantize.MEDIANCUT,
                                              dither=Image.Dither.NONE) for frame in frames]
    durations = [FRAME_MS] * (len(pictures) - 1) + [LAST_FRAME_MS]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=0, disposal=1, optimize=False)
    with open(filename, "wb") as handle:
        handle.write(buffer.getvalue())


def qimage_to_pil(image: QImage):
    from PIL import Image

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    data = bytes(rgb.constBits())[: rgb.sizeInBytes()]
    return Image.frombuffer("RGB", (width, height), data, "raw", "RGB", rgb.bytesPerLine(), 1).copy()


def ensure_application() -> QApplication:
    """A QApplication for drawing offscreen where none runs (the command line)."""
    if QApplication.instance() is None and not os.environ.get("DISPLAY") and \
            not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return pg.mkQApp()

