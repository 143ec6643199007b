"""Axes that stay readable where pyqtgraph's own do not: a log axis over less than a decade,
whole-number axes (trial numbers), and fixed 1-2-5 ticks for a logarithmic parameter."""

from __future__ import annotations

import math

import pyqtgraph as pg

PIXELS_PER_TICK = 45  # a labelled tick every ~45 px at most: labels never run into each other


class LogAxis(pg.AxisItem):
    """A log axis whose 2…9 ticks are labelled only at 2 and 5, and not at all beyond a
    decade and a half: pyqtgraph labels all eight, which run into one another on a short axis.
    Over a range holding fewer than three of 1, 2 and 5 × 10^k (losses between 2.9 and 3.5,
    say) it marks evenly spaced plain values instead, where pyqtgraph would label one."""

    _span = 0.0
    _step: float | None = None  # the plain values' step, when the ticks are plain values

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        self._span = maxVal - minVal
        self._step = None
        # Values a float holds (a view panned to 1e-400 or 1e309 gets pyqtgraph's own ticks).
        if -300 < minVal < maxVal < 300 and len(_one_two_five(minVal, maxVal)) < 3:
            low, high = 10.0 ** minVal, 10.0 ** maxVal
            self._step = nice_step((high - low) / max(2, size / PIXELS_PER_TICK))
            first = math.ceil(low / self._step)
            values = [k * self._step for k in range(first, math.floor(high / self._step) + 1)]
            return [(None, [math.log10(v) for v in values if v > 0])]
        return super().logTickValues(minVal, maxVal, size, stdTicks)

    def logTickStrings(self, values, scale, spacing):
        if self._step is not None:
            places = max(0, -math.floor(math.log10(self._step) + 1e-9))
            return [f"{10 ** value:.{places}f}" for value in values]
        strings = super().logTickStrings(values, scale, spacing)
        if spacing is not None:  # the decades
            return strings
        keep = []
        for value, text in zip(values, strings, strict=True):
            leading = round(10 ** (value - math.floor(value + 1e-9)))
            keep.append(text if leading == 1 or (self._span <= 1.5 and leading in (2, 5)) else "")
        return keep


class IntegerAxis(pg.AxisItem):
    """Ticks at whole numbers only (trial 3, never trial 2.5)."""

    def tickValues(self, minVal, maxVal, size):
        levels = [(spacing, values) for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if not levels and maxVal >= minVal:
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return [(spacing, [v for v in values if float(v).is_integer()]) for spacing, values in levels]


def nice_step(rough: float) -> float:
    """The smallest of 1, 2 and 5 × 10^k at least ``rough``."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough * (1 - 1e-9))


def _one_two_five(low: float, high: float) -> list[float]:
    """The values 1, 2 and 5 × 10^k whose log10 lies in [low, high]."""
    return [d + math.log10(m) for d in range(math.floor(low) - 1, math.ceil(high) + 1)
            for m in (1, 2, 5) if low <= d + math.log10(m) <= high]


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks of a log axis from ``low`` to ``high`` (positive): 1, 2 and 5 of each decade
    labelled, the other whole multiples marked; positions in log10, as the axis takes them."""
    labelled, marked = [], []
    for decade in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for multiple in range(1, 10):
            value = multiple * 10.0 ** decade
            if multiple in (1, 2, 5):
                labelled.append((math.log10(value), f"{value:g}"))
            else:
                marked.append((math.log10(value), ""))
    return [labelled, marked]
