"""Checkpoints: one safetensors file with the parameters, the config and the loss history.

safetensors holds only tensors and a string table, so loading a file never
runs code from it. Writes go to a temporary file that is renamed into place,
so a crash mid-write never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

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
from maml_studio.inputs import DocumentError, file_problem, one_line, parse_json, shown
from maml_studio.model import Params
from maml_studio.tasks.task_files import task_source

FORMAT = "maml-studio-checkpoint"
_UMASK = os.umask(0)
os.umask(_UMASK)
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


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The temporary file is ``.NAME.PID-XXXX.tmp``; ones that a killed process left
    behind for the same name are removed first.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp",
                                    dir=path.parent)
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


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove ``.NAME.*.tmp`` files of ours beside ``path`` whose writer no longer runs.

    A name carries its writer's process id; one without (or unreadable) counts as
    stale once it is an hour old. Returns what was removed.
    """
    prefix, removed = f".{path.name}.", []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        middle = entry.name[len(prefix):-len(".tmp")]
        pid_text, dash, _ = middle.partition("-")
        try:
            if dash and pid_text.isdigit():
                if _process_alive(int(pid_text)):
                    continue
            elif time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_SECONDS:
                continue
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


STALE_SECONDS = 3600


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or cannot tell: leave the file alone
    return True


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
