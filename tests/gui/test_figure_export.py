"""Exported figures: `maml-studio figure` and the renderer behind File → Export figure."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGraphicsItem

from maml_studio.checkpoint import load_checkpoint
from maml_studio.cli import main
from maml_studio.figure_data import compute_figure, sample_task, view_frame
from maml_studio.figure_style import MIN_CONTRAST, contrast_ratio
from maml_studio.gui import figure_render
from maml_studio.gui.figure_render import build_figure
from maml_studio.resources import bundled_checkpoint

SINE = str(bundled_checkpoint("sine-finn2017"))
CIRCLE = str(bundled_checkpoint("circle-2d"))


@pytest.fixture(scope="module")
def sine_data():
    checkpoint = load_checkpoint(SINE)
    points, params, description = sample_task(checkpoint, 10, seed=1)
    return compute_figure(checkpoint, points, params, 10, description=description)


def _colours(image: Image.Image) -> int:
    return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


def test_figure_writes_png_at_slide_size(tmp_path, qapp):
    out = tmp_path / "fig.png"
    assert main(["figure", SINE, "--sample-task", "--seed", "2", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (1920, 1080)
        assert _colours(image) >= 6  # background, text, truth, points and the fits: not blank


def test_figure_honours_size(tmp_path, qapp):
    out = tmp_path / "small.png"
    assert main(["figure", SINE, "--size", "800x600", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (800, 600)


def test_figure_writes_svg_with_paths(tmp_path, qapp):
    out = tmp_path / "fig.svg"
    assert main(["figure", SINE, "--paper", "--out", str(out)]) == 0
    root = ET.parse(out).getroot()
    paths = [e for e in root.iter() if e.tag.endswith("path") or e.tag.endswith("polyline")]
    assert len(paths) >= 6


def test_figure_gif_has_one_frame_per_step(tmp_path, qapp):
    out = tmp_path / "anim.gif"
    assert main(["figure", SINE, "--steps", "0,3", "--theme", "dark", "--size", "640x360",
                 "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.n_frames == 4
        image.seek(3)
        assert image.size == (640, 360)
        assert _colours(image) >= 6


def test_paper_figure_has_two_panels_labelled_like_the_paper(sine_data, qapp):
    scene = build_figure(sine_data, [0, 1, 10], paper=True)
    try:
        assert set(scene.panels) == {"maml", "pretrained"}
        ranges = [tuple(map(tuple, plot.vb.viewRange())) for plot in scene.panels.values()]
        assert ranges[0] == ranges[1]  # the same axes
        texts = " | ".join(scene.legend_texts)
        for words in ("true function", "pre-update", "1 grad step", "10 grad steps", "support points"):
            assert words in texts
        assert scene.legend_px >= 24
    finally:
        scene.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("paper", [False, True])
def test_every_pen_has_contrast_against_the_background(sine_data, qapp, theme, paper):
    scene = build_figure(sine_data, [0, 1, 10], paper=paper, theme=theme)
    try:
        used = []
        for plot in scene.panels.values():
            for item in plot.items:
                if isinstance(item, pg.PlotDataItem):
                    used.append(pg.mkPen(item.opts["pen"]).color().name())
                elif isinstance(item, pg.ScatterPlotItem):
                    used.append(pg.mkBrush(item.opts["brush"]).color().name())
            used.append(plot.getAxis("left").textPen().color().name())
        used += [colour for _, colour in scene.colours]
        assert len(used) >= 8
        for colour in used:
            assert contrast_ratio(colour, scene.background) >= MIN_CONTRAST, colour
    finally:
        scene.close()


def test_a_diverging_curve_is_clipped_and_marked_in_a_fixed_frame(qapp):
    checkpoint = load_checkpoint(SINE)
    points = np.array([[-4.0, -1.3], [-2.0, 1.5], [3.0, 4.0]])
    data = compute_figure(checkpoint, points, None, 20, lr=50.0)
    assert (data.x_range, data.y_range) == view_frame(checkpoint.experiment().family, points)
    y, text = data.curve("maml", 20)
    assert "diverged at step" in text
    span = data.y_range[1] - data.y_range[0]
    assert y is None or (np.isfinite(y).all() and np.abs(y).max() <= max(map(abs, data.y_range)) + span)


@pytest.mark.parametrize("args", [
    ["--out", "fig.jpg"],
    ["--size", "huge", "--out", "fig.png"],
    ["--steps", "1,x", "--out", "fig.png"],
    ["--points", "missing.csv", "--out", "fig.png"],
    ["--points", "bad.csv", "--out", "fig.png"],
])
def test_bad_input_is_one_line_and_a_failure(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("x,y\n1,2\nfoo,3\n")
    assert main(["figure", SINE, *args]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("maml-studio figure: error:") and "\n" not in err


def test_a_classifier_is_refused_in_one_line(tmp_path, capsys):
    assert main(["figure", CIRCLE, "--out", str(tmp_path / "fig.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert "classifier" in err and "\n" not in err
    assert not (tmp_path / "fig.png").exists()


# -- the window ------------------------------------------------------------------------------------
def _window_actions(window) -> dict:
    return {action.objectName(): action for action in window.findChildren(QAction)}


def test_window_exports_the_adaptation_view_and_its_animation(window, qtbot, tmp_path):
    assert {"Export figure", "Export animation"} <= set(_window_actions(window))
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model is not None, timeout=60_000)
    panel.sample_task(5)
    panel.slider.setValue(2)
    assert window.export_figure(tmp_path / "view.png")
    with Image.open(tmp_path / "view.png") as image:
        assert image.size == (1920, 1080) and _colours(image) >= 6
    assert window.export_figure(tmp_path / "view.svg")
    assert ET.parse(tmp_path / "view.svg").getroot() is not None
    assert window.export_animation(tmp_path / "play.gif")
    with Image.open(tmp_path / "play.gif") as image:
        assert image.n_frames == 3  # steps 0, 1, 2
    if importlib.util.find_spec("imageio_ffmpeg"):
        assert window.export_animation(tmp_path / "play.mp4")
        assert (tmp_path / "play.mp4").stat().st_size > 1000


def test_window_exports_the_paper_figure_in_two_panels(window, qtbot, tmp_path, monkeypatch):
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model is not None, timeout=60_000)
    panel.paper_figure()
    drawn = {}
    original = figure_render.build_figure

    def spy(*args, **kwargs):
        scene = original(*args, **kwargs)
        drawn["panels"] = set(scene.panels)
        return scene

    monkeypatch.setattr(figure_render, "build_figure", spy)
    assert window.export_figure(tmp_path / "paper.png")
    assert drawn["panels"] == {"maml", "pretrained"}


def test_window_exports_the_training_tab(window, tmp_path):
    window.tabs.setCurrentWidget(window.loss_plot)
    assert window.export_figure(tmp_path / "loss.png")
    with Image.open(tmp_path / "loss.png") as image:
        assert image.size == (1920, 1080)
    assert window.export_figure(tmp_path / "loss.svg")
    assert window.export_plot(tmp_path / "loss-plot.png")  # the old action still works


@pytest.mark.parametrize("view", ["loss plot", "plane"])
def test_slides_of_the_loss_plot_and_the_plane_have_24_px_text(window, qtbot, tmp_path, view):
    from maml_studio.gui.figure_export import export_widget

    if view == "plane":
        window.open_file(CIRCLE)
        plot = window.adaptation.plot
        window.tabs.setCurrentWidget(window.adaptation)
    else:
        plot = window.loss_plot
        window.tabs.setCurrentWidget(plot)
    window.resize(1920, 1080)  # a plot as wide as on a full-HD screen: its text alone is ~14 px
    qtbot.waitUntil(lambda: plot.width() > 1000, timeout=60_000)
    if view == "plane":  # the maps arrive from the adaptation thread: drawn before the export
        panel = window.adaptation
        qtbot.waitUntil(lambda: panel.settled,
                        timeout=60_000)
        qtbot.wait(50)
    legend = plot.getPlotItem().legend
    before = [label.text for _, label in legend.items]
    on_screen = plot.getAxis("left").style.get("tickFont") or plot.getAxis("left").font()
    text_px = export_widget(plot, tmp_path / "slide.png", window.theme)
    assert text_px >= 24
    with Image.open(tmp_path / "slide.png") as image:
        assert image.size == (1920, 1080) and _colours(image) >= 6
    after_font = plot.getAxis("left").style.get("tickFont") or plot.getAxis("left").font()
    assert after_font.pointSizeF() == on_screen.pointSizeF()  # the window keeps its own text size
    assert [label.text for _, label in legend.items] == before


def test_figure_writes_an_mp4_video_of_the_steps(tmp_path, qapp):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "anim.mp4"
    assert main(["figure", SINE, "--steps", "0,3", "--size", "641x361", "--out", str(out)]) == 0
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = reader.__next__()
    frames = list(reader)
    assert meta["size"] == (640, 360)  # odd sides trimmed to what every player decodes
    assert len(frames) == 4 + 3  # steps 0 … 3, the last one held four frames
    first = np.frombuffer(frames[0], np.uint8)
    assert len(np.unique(first)) > 6  # drawn, not blank


def test_mp4_without_its_writer_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))
    assert main(["figure", SINE, "--out", str(tmp_path / "anim.mp4")]) != 0
    err = capsys.readouterr().err.strip()
    assert "maml-studio[video]" in err and "\n" not in err
    assert not (tmp_path / "anim.mp4").exists()


@pytest.mark.parametrize("tab", ["Meta-gradient", "Inner loop", "Parameter space", "Sweeps"])
def test_export_figure_writes_the_plots_of_the_tab_on_show(window, qtbot, tmp_path, monkeypatch, tab):
    """Each tab of several plots exports its own plots on one slide (it exported the loss plot),
    with slide-sized text, and leaves the window's text as it was."""
    from xml.etree import ElementTree

    from maml_studio.gui import figure_export

    view = next(window.tabs.widget(i) for i in range(window.tabs.count())
                if window.tabs.tabText(i) == tab)
    window.tabs.setCurrentWidget(view)
    window.resize(1920, 1080)
    qtbot.waitUntil(lambda: view.width() > 1000, timeout=60_000)
    exported = []
    original = figure_export.export_plots

    def recording(shown, plots, restyle, path, theme, font_scale=1.0):
        exported.append((shown, list(plots), original(shown, plots, restyle, path, theme, font_scale)))
        return exported[-1][2]
    monkeypatch.setattr(figure_export, "export_plots", recording)
    axis = view.plots()[0].getAxis("left")
    on_screen = (axis.style.get("tickFont") or axis.font()).pointSizeF()

    assert window.export_figure(tmp_path / "tab.png")
    (shown, plots, text_px), = exported
    assert shown is view and plots == view.plots()
    assert text_px >= 24
    with Image.open(tmp_path / "tab.png") as image:
        assert image.size == (1920, 1080) and _colours(image) >= 4
    assert (axis.style.get("tickFont") or axis.font()).pointSizeF() == on_screen

    assert window.export_figure(tmp_path / "tab.svg")
    root = ElementTree.parse(tmp_path / "tab.svg").getroot()
    area = figure_export._area(view, view.plots())
    assert (root.get("width"), root.get("height")) == (f"{area.width()}px", f"{area.height()}px") or \
        root.get("viewBox") == f"0 0 {area.width()} {area.height()}"
    assert area.height() < view.height()  # the tab's controls are left out


def test_a_slide_of_a_small_plot_fits_its_legend_and_leaves_the_plot_as_it_was(window, qtbot, tmp_path,
                                                                               monkeypatch):
    """Slide-sized text made the legend under a small plot wider than the plot: the slide was cut
    off at the right, and the plot on screen stayed too wide after the export."""
    from maml_studio.gui import figure_export

    window.resize(1366, 768)
    plot = window.loss_plot
    window.tabs.setCurrentWidget(plot)
    qtbot.waitUntil(lambda: 500 < plot.width() < 1000, timeout=60_000)
    item, legend = plot.getPlotItem(), plot.getPlotItem().legend
    columns = legend.columnCount
    at_draw = []
    draw = figure_export.draw_plots

    def ignores_zoom():  # pyqtgraph's legends keep their size when the view is scaled
        return bool(legend.flags() & QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def recording(painter, view, plots, *args):
        at_draw.append((item.geometry().width(), plot.width(), legend.columnCount, ignores_zoom()))
        return draw(painter, view, plots, *args)
    monkeypatch.setattr(figure_export, "draw_plots", recording)
    assert ignores_zoom()
    assert window.export_figure(tmp_path / "small.png")
    (drawn_width, widget_width, drawn_columns, fixed_size), = at_draw
    assert drawn_width <= widget_width and drawn_columns < columns  # the legend in fewer columns
    assert not fixed_size  # scaled up with the rest of the slide
    assert item.geometry().width() == plot.width() and legend.columnCount == columns
    assert ignores_zoom()
