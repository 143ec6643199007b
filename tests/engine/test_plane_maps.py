"""Classifier planes as arrays: boundary lines, heat images and class colours, without Qt."""

import numpy as np

from maml_studio.plane_maps import (
    CLASS_COLORS,
    CLASS_SYMBOLS,
    boundary_lines,
    class_name,
    contour_lines,
    heat_image,
    label_boundaries,
)

AXIS = np.linspace(-1, 1, 40)  # an even count: 0 lies halfway between two samples
SPACING = AXIS[1] - AXIS[0]
XS, YS = np.meshgrid(AXIS, AXIS)  # rows along y, columns along x


def two_classes(class_b: np.ndarray) -> np.ndarray:
    """Probabilities ``[rows, columns, 2]`` that are sure of class B where ``class_b`` holds."""
    p = class_b.astype(float)
    return np.stack([1 - p, p], axis=-1)


def test_a_boundary_where_x1_turns_positive_is_the_vertical_line_x1_0():
    x, y = boundary_lines(two_classes(XS > 0), (-1, 1))
    assert len(x) == len(y) > 10 and not np.isnan(x).any()
    np.testing.assert_allclose(x, 0, atol=SPACING / 2)
    assert y.min() < -0.95 and y.max() > 0.95  # from the bottom of the plane to the top


def test_rows_run_along_y_and_the_y_range_is_its_own():
    x, y = boundary_lines(two_classes(YS > 0.5), (-1, 1), (-4, 4))  # rows span y in [-4, 4]
    np.testing.assert_allclose(y, 4 * 0.5, atol=4 * SPACING)
    assert x.min() < -0.95 and x.max() > 0.95


def test_contour_lines_interpolate_between_samples_and_are_empty_without_a_crossing():
    x, y = contour_lines(XS + YS, 0.3, (-1, 1))  # the line x + y = 0.3
    assert len(x) > 10
    np.testing.assert_allclose(x + y, 0.3, atol=1e-9)
    x, y = contour_lines(XS, 5.0, (-1, 1))
    assert x.shape == y.shape == (0,)


def test_three_classes_give_each_class_its_own_boundaries():
    labels = np.select([XS < -0.5, YS > 0.5], [0, 1], default=2)
    x, y = label_boundaries(labels, 3, (-1, 1))
    lines = np.isnan(x)
    assert lines.sum() >= 3  # a break after each class's lines
    points = ~lines
    near_vertical = np.abs(x[points] + 0.5) < SPACING
    near_horizontal = np.abs(y[points] - 0.5) < SPACING
    assert (near_vertical | near_horizontal).all()
    assert near_vertical.any() and near_horizontal.any()


def test_boundaries_of_separate_lines_never_join_across_the_plane():
    axis = np.linspace(-3, 3, 120)
    xs, ys = np.meshgrid(axis, axis)
    labels = np.select([xs < -1, ys > 1], [0, 1], default=2)  # three regions
    x, y = label_boundaries(labels, 3, (-3, 3))
    steps = np.hypot(np.diff(x), np.diff(y))
    assert np.nanmax(steps) < 0.2  # consecutive points of one line are neighbours on the grid


def test_heat_image_is_white_where_unsure_and_tends_to_the_class_colour_where_sure():
    probabilities = np.zeros((2, 3, 3))
    probabilities[0] = 1 / 3  # cannot tell the classes apart
    probabilities[1, :, 2] = 1.0  # sure of class C
    image = heat_image(probabilities, strength=0.5)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    assert (image[0] == 255).all()
    expected = np.floor(255 * 0.5 + np.asarray(CLASS_COLORS[2]) * 0.5 + 1e-9)
    np.testing.assert_array_equal(image[1], np.broadcast_to(expected, (3, 3)))


def test_every_class_has_a_colour_a_symbol_and_a_letter():
    assert len(CLASS_COLORS) == len(CLASS_SYMBOLS) == len(set(CLASS_SYMBOLS))
    assert [class_name(i) for i in range(3)] == ["A", "B", "C"]
