"""The loss plot reads at a glance: its range follows the curves that matter, its legend lists
only what is drawn and sits outside the data."""

import numpy as np
import pyqtgraph as pg
import pytest

from maml_studio.gui.loss_plot import LossPlot


def y_range(plot):
    return plot.getPlotItem().vb.viewRange()[1]


def test_range_follows_the_smoothed_curves_not_raw_noise(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    rng = np.random.default_rng(0)
    raw = 2.0 + rng.normal(0, 1.0, 2000) ** 2 * 3  # spikes up to ~50
    plot.run.append(raw, [])
    plot.refresh()
    low, high = y_range(plot)
    smoothed = plot.train.smoothed()
    assert low <= smoothed.min() and high >= smoothed.max()
    assert high < 0.5 * raw.max()  # the raw spikes are clipped, not fitted


def test_a_classifiers_unadapted_cross_entropy_does_not_flatten_the_rest(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.set_kind("classification")
    plot.run.append(np.full(500, 0.4), np.full(500, 0.5),
                [(250, 9.0, 0.35, 9.5, 0.45, 0.5, 0.9, 0.5, 0.8),
                 (500, 11.0, 0.3, 12.0, 0.4, 0.5, 0.92, 0.5, 0.82)])
    plot.refresh()
    low, high = y_range(plot)
    assert high < 1.0 and low < 0.3  # before-adaptation losses of 9–11 lie above the frame


def test_legend_lists_only_series_with_data_and_lies_below_the_axes(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.show()
    assert [sample.item.name() for sample, _ in plot.legend.items] == []
    plot.run.append([1.0, 0.9, 0.8], [])
    plot.refresh()
    names = [sample.item.name() for sample, _ in plot.legend.items]
    assert names == ["meta-train loss", "meta-train loss (smoothed)"]
    plot.run.append([0.7], [], [(4, 1.2, 0.5, float("nan"), float("nan"))])
    plot.refresh()
    names = [sample.item.name() for sample, _ in plot.legend.items]
    assert "validation: after adaptation" in names and "baseline validation: after adaptation" not in names
    qtbot.waitExposed(plot)

    def below_the_data():
        view = plot.getPlotItem().vb.sceneBoundingRect()
        return plot.legend.sceneBoundingRect().top() >= view.bottom() - 1  # never over the data

    qtbot.waitUntil(below_the_data, timeout=60_000)


def test_a_zoom_by_hand_stops_following_until_double_click(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.run.append(np.linspace(3, 1, 300), [])
    plot.refresh()
    plot.getPlotItem().vb.sigRangeChangedManually.emit([False, True])
    plot.getPlotItem().vb.setYRange(10, 20, padding=0)
    plot.run.append(np.linspace(1, 0.5, 300), [])
    plot.refresh()
    assert y_range(plot) == [10, 20]
    plot._resume_following()
    assert y_range(plot)[1] < 5


def test_other_runs_and_a_seed_band_are_drawn_over_the_plot_in_their_colours(qtbot):
    from maml_studio.gui.loss_overlays import BandOverlay, RunOverlay
    from maml_studio.history import History

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.run.append(np.linspace(2, 1, 400), [])
    validations = [(300, 2.0, 0.8, 2.1, 1.9), (600, 2.0, 0.6, 2.1, 1.8)]
    first = History(list(np.linspace(3, 0.5, 600)), [], validations)
    second = History(list(np.linspace(3, 0.2, 500)), [], [])
    mean = np.linspace(2.5, 0.4, 300)
    plot.set_overlays([RunOverlay("a", "reptile", "#1f77b4", first),
                       RunOverlay("b", "fomaml", "#2ca02c", second),
                       BandOverlay("g", "maml, 3 seeds", "#9467bd", mean, mean - 0.2, mean + 0.2)])
    names = [label.text for _, label in plot.legend.items]
    assert names[-3:] == ["reptile", "fomaml", "maml, 3 seeds"]
    drawn = {key: items for key, items in plot.overlays._items.items()}
    assert len(drawn["a"]) == 2 and len(drawn["b"]) == 1  # a validation line only where there is one
    assert drawn["a"][0].opts["pen"].color().name() == "#1f77b4"
    np.testing.assert_allclose(drawn["a"][1].getData()[1], [0.8, 0.6])
    assert isinstance(drawn["g"][1], pg.FillBetweenItem)
    assert max(y_range(plot)) >= 2.5  # the range takes in the overlays
    plot.set_overlays([RunOverlay("b", "fomaml", "#2ca02c", second)])
    assert set(plot.overlays._items) == {"b"}
    assert [label.text for _, label in plot.legend.items][-1] == "fomaml"
    assert "reptile" not in [label.text for _, label in plot.legend.items]


def test_a_long_runs_overlay_is_drawn_thinned_with_its_ends(qtbot):
    from maml_studio.gui.loss_overlays import MAX_POINTS, RunOverlay
    from maml_studio.history import History

    plot = LossPlot()
    qtbot.addWidget(plot)
    losses = np.linspace(3, 0.5, 70_000)
    plot.set_overlays([RunOverlay("a", "long run", "#1f77b4", History(list(losses), [], []))])
    x, y = plot.overlays._items["a"][0].getData()
    assert len(x) <= MAX_POINTS and x[0] == 1 and x[-1] == 70_000
    assert y[-1] == pytest.approx(np.mean(losses[-100:]))  # the smoothed curve's last value


def test_overlays_are_cached_on_screen_and_exported_as_vectors(qtbot, tmp_path):
    from PySide6.QtWidgets import QGraphicsItem

    from maml_studio.gui.loss_overlays import BandOverlay, RunOverlay
    from maml_studio.gui.plot_export import export_plot
    from maml_studio.history import History

    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    plot.run.append(np.linspace(2, 1, 400), [])
    mean = np.linspace(2.5, 0.4, 300)
    plot.set_overlays([RunOverlay("a", "reptile", "#1f77b4", History(list(np.linspace(3, 0.5, 600)), [], [])),
                       BandOverlay("g", "maml, 3 seeds", "#9467bd", mean, mean - 0.2, mean + 0.2)])
    cached = QGraphicsItem.CacheMode.DeviceCoordinateCache
    run_curve, band_fill = plot.overlays._items["a"][0].curve, plot.overlays._items["g"][1]
    assert run_curve.cacheMode() == cached and band_fill.cacheMode() == cached
    qtbot.wait(50)
    export_plot(plot, tmp_path / "plot.svg")
    svg = (tmp_path / "plot.svg").read_text()
    assert "<image" not in svg  # a cached bitmap would land in the SVG as a picture
    assert run_curve.cacheMode() == cached  # and the screen keeps its cache


def test_an_empty_plot_says_how_to_fill_it_and_the_first_losses_replace_the_hint(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.refresh()
    assert plot.hint.isVisible() and "Press Start" in plot.hint.textItem.toPlainText()
    (x_low, x_high), (y_low, y_high) = plot.getPlotItem().vb.viewRange()
    x, y = plot.hint.pos().x(), plot.hint.pos().y()
    assert x_low < x < x_high and y_low < y < y_high  # in the middle of the view
    plot.run.append(np.linspace(3, 1, 50), [])
    plot.refresh()
    assert not plot.hint.isVisible()
    plot.run.load(type(plot.run.history)())  # another, empty run: the hint is back
    assert plot.hint.isVisible()
