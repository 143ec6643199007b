"""The loss plot reads at a glance: its range follows the curves that matter, its legend lists
only what is drawn and sits outside the data."""

import numpy as np

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

    qtbot.waitUntil(below_the_data, timeout=3000)


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
