"""Axes that stay readable: a log axis over a narrow range, whole-number axes."""

import math

import numpy as np
import pytest

from maml_studio.gui.plot_axes import IntegerAxis, LogAxis, nice_step


def labels(axis, low, high, size):
    """The (value, text) of every labelled tick the axis draws over [low, high] in its units."""
    out = []
    for spacing, values in axis.tickValues(low, high, size):
        for value, text in zip(values, axis.tickStrings(values, 1.0, spacing), strict=True):
            if text:
                out.append((value, text))
    return out


def test_a_log_axis_over_less_than_a_decade_labels_plain_evenly_spaced_values(qtbot):
    axis = LogAxis("left")
    axis.setLogMode(True)
    shown = labels(axis, math.log10(2.9), math.log10(3.5), 300)
    values = [float(text) for _, text in shown]
    # pyqtgraph's own axis labels only "3" here; these are 2.9 … 3.5 in even steps.
    assert len(values) >= 3 and all(2.9 - 1e-9 <= v <= 3.5 + 1e-9 for v in values)
    assert np.allclose(np.diff(values), values[1] - values[0])
    for position, text in shown:  # each label sits at the log10 of what it says
        assert position == pytest.approx(math.log10(float(text)))
    # A short axis gets fewer of them, so they never run into one another.
    assert 2 <= len(labels(axis, math.log10(2.9), math.log10(3.5), 80)) < len(values)


def test_a_log_axis_panned_beyond_what_a_float_holds_still_ticks(qtbot):
    axis = LogAxis("left")
    axis.setLogMode(True)
    for low, high in ((308.1, 308.4), (-400.0, -399.8), (5.0, 5.0)):
        axis.tickValues(low, high, 300)  # no OverflowError, no math domain error


def test_a_log_axis_over_decades_keeps_its_decade_labels(qtbot):
    axis = LogAxis("left")
    axis.setLogMode(True)
    assert {"0.01", "0.1", "1"} <= {text for _, text in labels(axis, -2.2, 1.3, 300)}
    # Three of 1, 2 and 5 × 10^k in range: labelled as on any log axis.
    assert [text for _, text in labels(axis, math.log10(0.15), math.log10(1.1), 300)] == ["0.2", "0.5", "1"]


def test_an_integer_axis_never_labels_fractions(qtbot):
    axis = IntegerAxis("bottom")
    for low, high, size in ((-0.2, 1.2, 400), (1.6, 2.4, 300), (0, 40, 500)):
        values = [v for _, vs in axis.tickValues(low, high, size) for v in vs]
        assert values and all(float(v).is_integer() for v in values), (low, high, values)
    assert {0.0, 1.0} <= {v for _, vs in axis.tickValues(-0.2, 1.2, 400) for v in vs}


@pytest.mark.parametrize(("rough", "step"), [(0.07, 0.1), (0.1, 0.1), (0.11, 0.2), (3, 5), (6, 10)])
def test_nice_steps(rough, step):
    assert nice_step(rough) == pytest.approx(step)
