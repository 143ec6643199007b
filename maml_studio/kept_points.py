"""The support points on show at quit, kept for the next start.

Saved with the task family they were placed for (its whole `[task]` config), and
restored only for a model of that same family: points of a sine mean nothing on
another curve, nor a circle's classes in another plane. Restoring is one edit of
the session, so Undo removes the points again. Up to MAX_KEPT_POINTS are kept:
a larger set came from a file, which can be imported again, and would make the
settings slow to write and read.
"""

from __future__ import annotations

import json

from maml_studio.adaptation_session import AdaptationSession

RESTORE_TEXT = "Restore points"
MAX_KEPT_POINTS = 5_000


def kept_points(session: AdaptationSession) -> str | None:
    """The session's points as text to keep, or None when there are none to keep."""
    if session.checkpoint is None or not 0 < len(session.points) <= MAX_KEPT_POINTS:
        return None
    return json.dumps({"task": _task(session), "plane": session.plane,
                       "points": session.points.tolist()})


def restore_kept_points(session: AdaptationSession, text: str | None) -> tuple[int, str | None]:
    """Show the points kept in ``text`` if they were placed for the model on show's family:
    (how many were restored, why the text could not be read or None)."""
    if not text or session.checkpoint is None or len(session.points):
        return 0, None
    try:
        kept = json.loads(text)
        task, plane = kept["task"], bool(kept["plane"])
    except (ValueError, KeyError, TypeError) as exc:
        return 0, f"the kept support points could not be read ({exc})"
    if task != json.loads(json.dumps(_task(session))) or plane != session.plane:
        return 0, None  # placed for another family
    try:  # checked as a session file's points are
        points = session.check_view({"points": kept.get("points", [])}).points
    except ValueError as exc:
        return 0, f"the kept support points are unusable: {exc}"
    session.set_points(points, text=RESTORE_TEXT, task=None)
    return len(points), None


def _task(session: AdaptationSession) -> dict:
    return session.checkpoint.config.to_dict()["task"]
