"""Runs that differ only in their seed, gathered into groups, and a group's mean and band.

The loss plot draws a seed group as the mean of its runs' smoothed training losses with a
shaded band: ± one standard deviation, or min–max.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maml_studio.history import History
from maml_studio.inputs import shown
from maml_studio.run_store import RunInfo

SMOOTHING_WINDOW = 100  # the loss plot's running mean


def seed_groups(runs: Sequence[RunInfo]) -> list[list[RunInfo]]:
    """Runs whose configs are equal except ``training.seed``, in groups (a lone run is a group of one).

    Groups and the runs in them keep the order of ``runs``.
    """
    groups: dict[str, list[RunInfo]] = {}
    for run in runs:
        config = json.loads(json.dumps(run.config))
        config.get("training", {}).pop("seed", None)
        groups.setdefault(json.dumps(config, sort_keys=True), []).append(run)
    return list(groups.values())


@dataclass(frozen=True)
class Band:
    """Mean and spread of a group's smoothed training loss at each iteration (1-based)."""

    iterations: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int


def smoothed(values: Sequence[float], window: int = SMOOTHING_WINDOW) -> np.ndarray:
    """The running mean of the last ``window`` values at each index (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def seed_band(histories: Sequence[History], spread: str = "std",
              window: int = SMOOTHING_WINDOW) -> Band:
    """Mean ± one standard deviation (``spread="std"``, over the runs, n − 1) or min–max
    (``"range"``) of the histories' smoothed training loss, over their common length."""
    if spread not in ("std", "range"):
        raise ValueError(f"spread must be 'std' or 'range', got {shown(spread)}")
    if not histories:
        raise ValueError("a band needs at least one run")
    length = min(len(h.train_loss) for h in histories)
    curves = np.stack([smoothed(h.train_loss[:length], window) for h in histories])
    mean = curves.mean(axis=0)
    if spread == "range":
        low, high = curves.min(axis=0), curves.max(axis=0)
    else:
        std = curves.std(axis=0, ddof=1) if len(histories) > 1 else np.zeros(length)
        low, high = mean - std, mean + std
    return Band(np.arange(1, length + 1), mean, low, high, len(histories))
