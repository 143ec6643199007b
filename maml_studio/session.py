"""Session files: a checkpoint plus the app's view state, in one safetensors file.

A session restores the form (config), the loss curves (history), the model
(parameters) and how the window showed them (for example the log scale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maml_studio.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from maml_studio.inputs import DocumentError, parse_json

SESSION_SUFFIX = ".mamlsession"
VIEW_KEY = "session_view"


def save_session(path: str | Path, checkpoint: Checkpoint, view: dict[str, Any]) -> None:
    info = {**checkpoint.info, VIEW_KEY: json.dumps(view)}
    save_checkpoint(Checkpoint(checkpoint.config, checkpoint.state, checkpoint.baseline_state,
                               checkpoint.history, info), path)


def load_session(path: str | Path) -> tuple[Checkpoint, dict[str, Any]]:
    """A session or a plain checkpoint (which has an empty view)."""
    checkpoint = load_checkpoint(path)
    try:
        view = parse_json(checkpoint.info.get(VIEW_KEY, "{}"))
    except DocumentError as exc:
        raise CheckpointError(f"{path}: its view state is corrupt ({exc})") from None
    if not isinstance(view, dict):
        raise CheckpointError(f"{path}: its view state is corrupt")
    return checkpoint, view
