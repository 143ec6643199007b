"""Checkpoints: one safetensors file with the parameters, the config and the loss history.

safetensors holds only tensors and a string table, so loading a file never
runs code from it. Writes go to a temporary file that is renamed into place,
so a crash mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from maml_studio import __version__
from maml_studio.config import ConfigError, ExperimentConfig
from maml_studio.experiment import Experiment
from maml_studio.history import History
from maml_studio.model import Params

FORMAT = "maml-studio-checkpoint"
_UMASK = os.umask(0)
os.umask(_UMASK)
FORMAT_VERSION = 1
META_PREFIX = "meta."
BASELINE_PREFIX = "baseline."


class CheckpointError(ValueError):
    """A file that is not a usable MAML Studio checkpoint; the message says why."""


@dataclass
class Checkpoint:
    config: ExperimentConfig
    state: Params
    baseline_state: Params | None = None
    history: History = field(default_factory=History)
    info: dict[str, str] = field(default_factory=dict)

    def experiment(self) -> Experiment:
        return Experiment.from_config(self.config)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> None:
    tensors = {META_PREFIX + k: v.detach().cpu().contiguous() for k, v in checkpoint.state.items()}
    if checkpoint.baseline_state is not None:
        tensors.update({BASELINE_PREFIX + k: v.detach().cpu().contiguous()
                        for k, v in checkpoint.baseline_state.items()})
    tensors.update(checkpoint.history.to_tensors())
    metadata = {
        **checkpoint.info,
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": checkpoint.config.to_json(),
        "maml_studio_version": __version__,
        "torch_version": torch.__version__,
        "iterations": str(checkpoint.history.last_iteration),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors reports truncation and corruption in several types
        raise CheckpointError(
            f"{path}: not a MAML Studio checkpoint, or the file is truncated or corrupt ({exc})"
        ) from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a safetensors file, but not a MAML Studio checkpoint")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path}: unreadable checkpoint format version") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer MAML Studio (format {version}, this version reads up to "
            f"{FORMAT_VERSION}, written by {metadata.get('maml_studio_version', '?')}); update the app")
    try:
        config = ExperimentConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f"{path}: its stored config is unusable ({exc})") from None

    state = _as_float32(_strip(tensors, META_PREFIX))
    baseline = _as_float32(_strip(tensors, BASELINE_PREFIX)) or None
    experiment = Experiment.from_config(config)
    _check_shapes(path, "meta-learned", state, experiment.learner.init_state(torch.Generator()))
    if baseline is not None:
        _check_shapes(path, "baseline", baseline, experiment.baseline.init_state(torch.Generator()))
    info = {k: v for k, v in metadata.items() if k != "config"}
    try:
        history = History.from_tensors(tensors)
    except ValueError as exc:
        raise CheckpointError(f"{path}: its loss history is unusable ({exc})") from None
    return Checkpoint(config, state, baseline, history, info)


def _as_float32(params: Params) -> Params:
    """Parameters in the engine's precision (files from elsewhere may hold float64 or bf16)."""
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in params.items()}


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> Params:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _check_shapes(path: Path, what: str, state: Params, expected: Params) -> None:
    if set(state) != set(expected):
        raise CheckpointError(
            f"{path}: the {what} parameters do not match its config "
            f"(expected {sorted(expected)}, found {sorted(state)})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape or not tensor.is_floating_point():
            raise CheckpointError(
                f"{path}: parameter {name} has shape {tuple(tensor.shape)}, its config needs "
                f"{tuple(expected[name].shape)}")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: parameter {name} holds NaN or infinite values")
