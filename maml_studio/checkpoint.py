"""Checkpoints: one safetensors file with the parameters, the config and the loss history.

safetensors holds only tensors and a string table, so loading a file never
runs code from it. Writes go to a temporary file that is renamed into place,
so a crash mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from maml_studio import __version__
from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.config import ExperimentConfig
from maml_studio.errors import ConfigError
from maml_studio.experiment import Experiment
from maml_studio.history import History
from maml_studio.inputs import DocumentError, file_problem, one_line, parse_json, shown
from maml_studio.model import Params
from maml_studio.tasks.task_files import task_source

FORMAT = "maml-studio-checkpoint"
FORMAT_VERSION = 1
META_PREFIX = "meta."
BASELINE_PREFIX = "baseline."
HISTORY_PREFIX = "history."


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
        **task_source(checkpoint.config.task, checkpoint.info),
    }
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a whole checkpoint; every failure is a `CheckpointError`.

    The header (format, version, config and every tensor's shape and type) is
    checked before any tensor is read, so a small file cannot make the loader
    allocate what its stored config claims.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            header = {key: (handle.get_slice(key).get_dtype(), tuple(handle.get_slice(key).get_shape()))
                      for key in handle.keys()}  # noqa: SIM118
            config = _check_header(path, metadata, header)
            tensors = {key: handle.get_tensor(key) for key in header
                       if key.startswith((META_PREFIX, BASELINE_PREFIX, HISTORY_PREFIX))}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors reports truncation and corruption in several types
        raise CheckpointError(
            f"{path}: not a MAML Studio checkpoint, or the file is truncated or corrupt "
            f"({one_line(str(exc))[:200]})") from None

    state = _as_float32(_strip(tensors, META_PREFIX))
    baseline = _as_float32(_strip(tensors, BASELINE_PREFIX)) or None
    _check_finite(path, "meta-learned", state)
    if baseline is not None:
        _check_finite(path, "baseline", baseline)
    info = {k: v for k, v in metadata.items() if k != "config"}
    try:
        history = History.from_tensors(tensors)
    except ValueError as exc:
        raise CheckpointError(f"{path}: its loss history is unusable ({exc})") from None
    return Checkpoint(config, state, baseline, history, info)


def _check_header(path: Path, metadata: dict[str, str], header: dict) -> ExperimentConfig:
    """The stored config, once the format, version and tensor shapes in the header fit it."""
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: a safetensors file, but not a MAML Studio checkpoint")
    text = metadata.get("format_version", "")
    version = int(text) if text.isascii() and text.isdigit() and len(text) < 6 else None
    if version is None or version < 1:
        raise CheckpointError(f"{path}: unreadable checkpoint format version {shown(text)}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer MAML Studio (format {version}, this version reads up to "
            f"{FORMAT_VERSION}, written by {shown(metadata.get('maml_studio_version', '?'))}); "
            f"update the app")
    try:
        config = ExperimentConfig.from_dict(parse_json(metadata["config"]))
    except KeyError:
        raise CheckpointError(f"{path}: it holds no config") from None
    except (DocumentError, ConfigError) as exc:
        raise CheckpointError(f"{path}: its stored config is unusable ({exc})") from None
    experiment = Experiment.from_config(config)
    with torch.device("meta"):  # shapes only: nothing is allocated
        expected = experiment.learner.init_state(torch.Generator())
        expected_baseline = experiment.baseline.init_state(torch.Generator())
    _check_shapes(path, "meta-learned", _strip(header, META_PREFIX), expected)
    baseline = _strip(header, BASELINE_PREFIX)
    if baseline:
        _check_shapes(path, "baseline", baseline, expected_baseline)
    return config


def _as_float32(params: Params) -> Params:
    """Parameters in the engine's precision (files from elsewhere may hold float64 or bf16)."""
    return {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in params.items()}


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> Params:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


_FLOAT_TYPES = ("F16", "BF16", "F32", "F64")


def _check_shapes(path: Path, what: str, stored: dict[str, tuple[str, tuple[int, ...]]],
                  expected: Params) -> None:
    """``stored`` maps names to (safetensors dtype, shape), read from the file's header."""
    if set(stored) != set(expected):
        raise CheckpointError(
            f"{path}: the {what} parameters do not match its config "
            f"(expected {sorted(expected)}, found {shown(sorted(stored))})")
    for name, (dtype, shape) in stored.items():
        if dtype not in _FLOAT_TYPES:
            raise CheckpointError(f"{path}: {what} parameter {name} is stored as {dtype}; "
                                  f"parameters must be floating-point numbers")
        if shape != tuple(expected[name].shape):
            raise CheckpointError(
                f"{path}: {what} parameter {name} has shape {shape}, its config needs "
                f"{tuple(expected[name].shape)}")


def _check_finite(path: Path, what: str, state: Params) -> None:
    for name, tensor in state.items():
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: {what} parameter {name} holds NaN or infinite values")
