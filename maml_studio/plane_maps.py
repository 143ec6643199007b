"""Classifier planes as arrays: class colours and symbols, heat images, boundary lines.

Pure numpy and contourpy (matplotlib's contouring library: compiled, about
0.5 ms for a 100×100 grid, twenty times quicker than pyqtgraph's Python
marching squares), so the adaptation thread prepares everything and the GUI
thread only hands arrays to long-lived items.
Grids are ``[rows, columns]`` with rows along y and columns along x, sampled
at `numpy.linspace` points of the x range on both axes.
"""

from __future__ import annotations

import numpy as np
from contourpy import LineType, contour_generator

# Okabe–Ito colours (distinguishable with colour-blindness), then a few more; a symbol per class
# (pyqtgraph's symbol names, plain strings here).
CLASS_COLORS = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0),
                (86, 180, 233), (120, 120, 120), (150, 75, 0), (240, 228, 66), (0, 0, 0)]
CLASS_SYMBOLS = ["o", "s", "t", "d", "star", "p", "h", "t1", "+", "x"]


def class_name(index: int) -> str:
    return chr(ord("A") + index)


def contour_lines(values: np.ndarray, level: float, x_range, y_range=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Where ``values`` cross ``level``, as x and y arrays with NaN between separate lines."""
    y_range = y_range or x_range
    rows, columns = values.shape
    xs = np.linspace(x_range[0], x_range[1], columns)
    ys = np.linspace(y_range[0], y_range[1], rows)
    generator = contour_generator(xs, ys, np.asarray(values, dtype=np.float64),
                                  line_type=LineType.ChunkCombinedNan)
    chunks = [chunk for chunk in generator.lines(level)[0] if chunk is not None]
    if not chunks:
        return np.zeros(0), np.zeros(0)
    points = np.concatenate(chunks)
    return points[:, 0], points[:, 1]


def boundary_lines(probabilities: np.ndarray, x_range, y_range=None) -> tuple[np.ndarray, np.ndarray]:
    """Decision boundaries of ``probabilities [rows, columns, classes]``.

    Two classes: the 0.5 contour of class B. More: where each class stops being
    the most probable, the zero contour of its margin over the best other class.
    """
    classes = probabilities.shape[-1]
    if classes == 2:
        return contour_lines(probabilities[..., 1], 0.5, x_range, y_range)
    xs, ys = [], []
    for cls in range(classes):
        others = np.delete(probabilities, cls, axis=-1).max(axis=-1)
        x, y = contour_lines(probabilities[..., cls] - others, 0.0, x_range, y_range)
        xs += [x, [np.nan]]  # a break, so that one class's lines do not join the next's
        ys += [y, [np.nan]]
    return np.concatenate(xs), np.concatenate(ys)


def label_boundaries(labels: np.ndarray, classes: int, x_range, y_range=None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Boundaries of a labelling ``labels [rows, columns]`` (integers), such as a task's truth."""
    one_hot = (labels[..., None] == np.arange(classes)).astype(float)
    return boundary_lines(one_hot, x_range, y_range)


def heat_image(probabilities: np.ndarray, strength: float = 0.55) -> np.ndarray:
    """An RGB image ``[rows, columns, 3]`` (uint8): each class's colour, as strong as it is sure.

    White where the model cannot tell the classes apart, tending to the colour
    of the most probable class as its probability grows.
    """
    classes = probabilities.shape[-1]
    colors = np.asarray(CLASS_COLORS[:classes], dtype=float)
    mixed = probabilities @ colors  # the classes' colours weighted by their probabilities
    certainty = (probabilities.max(axis=-1, keepdims=True) - 1 / classes) / (1 - 1 / classes)
    weight = strength * np.clip(certainty, 0, 1)
    image = 255 * (1 - weight) + mixed * weight
    return np.clip(image, 0, 255).astype(np.uint8)
