"""Checks and settings the commands share: where a result may be written, the engine's threads."""

from __future__ import annotations

import os
from pathlib import Path

from maml_studio.errors import UsageError


def check_writable(path: Path, overwrite: bool = False) -> None:
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"--out {path} exists; give another name, or --overwrite to replace it "
                         f"when the run completes")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--out {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--out {path}: the folder {folder} is not writable")


def engine_threads() -> None:
    """Compute with the training threads the machine's settings give (see `devices`)."""
    import torch

    from maml_studio.devices import training_threads

    torch.set_num_threads(training_threads(0))
