"""Support points kept at quit and restored at the next start, for the same family only."""

import copy
import json

import numpy as np
import pytest

from maml_studio.adaptation_session import AdaptationSession
from maml_studio.kept_points import kept_points, restore_kept_points


def session_of(checkpoint) -> AdaptationSession:
    session = AdaptationSession()
    assert session.set_model(checkpoint) is None
    return session


def test_points_come_back_for_the_same_family_and_undo_removes_them(sine):
    before = session_of(sine)
    assert kept_points(before) is None  # nothing to keep
    for x, y in [(-3.0, 1.0), (0.5, -2.0), (2.25, 0.125)]:
        before.add_point(x, y)
    text = kept_points(before)
    after = session_of(sine)
    assert restore_kept_points(after, text) == (3, None)
    np.testing.assert_array_equal(after.points, before.points)
    assert after.task is None and after.undo_text == "Restore points"
    after.undo()
    assert len(after.points) == 0


def test_points_of_another_family_or_task_range_are_not_restored(sine, circle):
    before = session_of(sine)
    before.add_point(1.0, 1.0)
    text = kept_points(before)
    assert restore_kept_points(session_of(circle), text) == (0, None)
    wider = copy.deepcopy(sine)
    wider.config = copy.deepcopy(sine.config)
    wider.config.task.ranges = {"amplitude": [0.1, 3.0], "phase": [0.0, 3.0]}
    assert restore_kept_points(session_of(wider), text) == (0, None)
    busy = session_of(sine)
    busy.add_point(0.0, 0.0)  # points already on show are never replaced
    assert restore_kept_points(busy, text) == (0, None) and len(busy.points) == 1


def test_classes_come_back_in_the_plane(circle):
    before = session_of(circle)
    before.add_point(0.5, -0.5, 1)
    before.add_point(-1.0, 0.25, 0)
    after = session_of(circle)
    assert restore_kept_points(after, kept_points(before)) == (2, None)
    np.testing.assert_array_equal(after.points, [[0.5, -0.5, 1], [-1.0, 0.25, 0]])


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "could not be read"),
    ('{"points": [[1, 2]]}', "could not be read"),
    ('{"task": TASK, "plane": false, "points": [[1, 2, 3]]}', "have shape (1, 3)"),
    ('{"task": TASK, "plane": false, "points": [[1, NaN]]}', "NaN or infinite"),
])
def test_damaged_kept_points_are_refused_with_a_reason_and_nothing_changes(sine, text, says):
    session = session_of(sine)
    count, problem = restore_kept_points(session, text.replace("TASK", json.dumps(
        sine.config.to_dict()["task"])))
    assert count == 0 and says in problem and len(session.points) == 0


def test_classes_a_model_does_not_have_are_refused(circle):
    session = session_of(circle)
    text = json.dumps({"task": circle.config.to_dict()["task"], "plane": True,
                       "points": [[0.0, 0.0, 7]]})
    count, problem = restore_kept_points(session, text)
    assert count == 0 and "class labels are whole numbers 0 to 1" in problem and len(session.points) == 0


def test_a_point_set_read_from_a_file_is_too_large_to_keep(sine):
    from maml_studio.kept_points import MAX_KEPT_POINTS

    session = session_of(sine)
    session.set_points(np.zeros((MAX_KEPT_POINTS, 2)))
    assert kept_points(session) is not None
    session.set_points(np.zeros((MAX_KEPT_POINTS + 1, 2)))
    assert kept_points(session) is None
