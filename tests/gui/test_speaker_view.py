"""What a speaker needs of the adaptation view: a frame that holds still, a legend out of the
way, curves legible in both themes."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from maml_studio.gui.view_colors import BACKGROUND, FOREGROUND, MIN_CONTRAST, contrast_ratio
from tests.gui.test_adaptation_panel import click_at, settled, viewport_pos


@pytest.fixture
def view(window, qtbot):
    window.tabs.setCurrentWidget(window.adaptation)
    window.resize(1600, 1000)
    qtbot.waitExposed(window)
    qtbot.wait(50)
    return window.adaptation


def frame_of(panel):
    return [list(r) for r in panel.view_box.viewRange()]


def test_the_sine_frame_holds_every_task_and_stays_put_when_the_model_diverges(view, qtbot):
    before = frame_of(view)
    assert before[0] == pytest.approx([-5, 5]) and 5.0 < before[1][1] < 7.0 and -7.0 < before[1][0] < -5.0
    view.lr_box.setValue(2.0)  # a step size that makes the fit blow up
    targets = [(-4.0, -1.3), (-2.0, 1.5), (1.0, 4.5)]
    for x, y in targets:
        click_at(qtbot, view, x, y)
        settled(qtbot, view)
        assert frame_of(view) == before  # clicks and diverging curves never move the axes
    for (x, y), point in zip(targets, view.points, strict=True):  # each landed where it was aimed
        aimed, landed = viewport_pos(view, x, y), viewport_pos(view, *point)
        assert abs(aimed.x() - landed.x()) <= 1 and abs(aimed.y() - landed.y()) <= 1
    assert "diverged at step" in view.message.textItem.toPlainText()
    shown = view.curve_view.curve_items["maml"].getData()[1]
    assert np.all(np.abs(shown) < 1e4)  # clipped, never a 1e36 axis


def test_a_click_where_the_legend_used_to_be_adds_a_point(view, qtbot):
    view.sample_task(5)
    settled(qtbot, view)
    assert len(view.legend.items) > 2
    (x_low, _), (_, y_high) = view.view_box.viewRange()
    count = len(view.points)
    click_at(qtbot, view, x_low + 0.6, y_high - 0.5)  # top left, where the legend was drawn
    assert len(view.points) == count + 1

    def legend_below_the_data():  # once laid out (it is placed a moment after its entries change)
        return view.legend.sceneBoundingRect().top() >= view.view_box.sceneBoundingRect().bottom() - 1

    qtbot.waitUntil(legend_below_the_data, timeout=60_000)


def test_fit_view_brings_back_points_outside_the_frame(view, qtbot):
    view.set_points(np.array([[-4.0, 0.0], [4.0, 9.0]]))
    view.view_box.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    view.fit_view()
    (x_low, x_high), (y_low, y_high) = view.view_box.viewRange()
    assert x_low <= -4 and x_high >= 4 and y_low < 0 < 9 < y_high


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_curve_point_and_text_has_contrast_against_the_plot(window, theme):
    window.apply_theme(theme)
    panel = window.adaptation
    background = panel.plot.backgroundBrush().color().getRgb()[:3]
    assert background == BACKGROUND[theme]
    pens = {f"curve {name}": item.opts["pen"] for name, item in panel.curve_view.curve_items.items()}
    pens |= {f"boundary {name}": item.opts["pen"] for name, item in panel.plane_view.boundary_items.items()}
    pens |= {f"paper {key}": item.opts["pen"] for key, item in panel.curve_view.paper_items.items()}
    pens |= {"true function": panel.curve_view.truth_item.opts["pen"],
             "earlier steps": panel.curve_view.steps_item.opts["pen"],
             "true boundary": panel.plane_view.truth_boundary_item.opts["pen"]}
    colors = {name: pen.color().getRgb() for name, pen in pens.items()}
    colors["support points"] = panel.points_item.opts["brush"].color().getRgb()
    colors["message"] = panel.message.color.getRgb()
    colors["hint"] = panel.hint.color.getRgb()
    colors["axis text"] = panel.plot.getAxis("left").textPen().color().getRgb()
    colors["legend text"] = FOREGROUND[theme]
    for name, color in colors.items():
        ratio = contrast_ratio(color, background)
        assert ratio >= MIN_CONTRAST, f"{theme}: {name} {color} has contrast {ratio:.2f}"


def test_clicks_land_on_the_data_coordinate_under_the_mouse(view, qtbot):
    click_at(qtbot, view, 2.5, -3.0)
    point = view.points[-1]
    position = view.view_box.mapViewToScene(QPointF(*point))
    aimed = view.view_box.mapViewToScene(QPointF(2.5, -3.0))
    assert abs(position.x() - aimed.x()) <= 1 and abs(position.y() - aimed.y()) <= 1


def test_an_empty_plot_says_what_to_do_and_the_hint_takes_no_click(view, qtbot):
    assert len(view.points) == 0 and "Click to add support points" in view.hint.textItem.toPlainText()
    hint_at = view.hint.pos()
    click_at(qtbot, view, hint_at.x(), hint_at.y())  # right on the hint
    assert len(view.points) == 1 and view.hint.textItem.toPlainText() == ""
    view.clear_points()
    assert "Click to add support points" in view.hint.textItem.toPlainText()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_paper_figure_keeps_its_contrast_in_both_panels(window, qtbot, theme):
    window.apply_theme(theme)
    panel = window.adaptation
    panel.paper_figure()
    assert panel.paper_mode and panel.paper_plot.isVisible()
    background = BACKGROUND[theme]
    assert panel.paper_plot.backgroundBrush().color().getRgb()[:3] == background
    pens = [panel.curve_view.truth_item.opts["pen"], panel.curve_view.curve_items["maml"].opts["pen"],
            *[item.opts["pen"] for item in panel.curve_view.paper_items.values()],
            panel.paper_plot.truth_item.opts["pen"], *[i.opts["pen"] for i in panel.paper_plot.fit_items]]
    for pen in pens:
        assert contrast_ratio(pen.color().getRgb(), background) >= MIN_CONTRAST, pen.color().getRgb()
