"""Reading a user's own tasks: a folder of CSV files (one task each) or one NPZ file.

CSV columns are those `maml-studio adapt` reads (``x`` or ``x1..xd``, then
``y`` or ``y1..ym``). An NPZ holds ``x [T, N, d]`` and ``y [T, N, m]`` (or
``y [T, N]``), or, for tasks of different sizes, ``x [P, d]``, ``y [P, m]``
and an integer ``task [P]`` naming each point's task. Tasks of different
sizes are padded; ``counts`` says how many points of each are real. Loaded
data is cached by path, size and modification time, so rebuilding a family
from the same config does not read the files again.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maml_studio.errors import ConfigError
from maml_studio.pointsets import PointFileError, _read_csv

MAX_TASKS = 200_000
MAX_VALUES = 50_000_000  # floats in x and y together, padded
MAX_CSV_FILES = 20_000
_cache: dict[tuple, TaskData] = {}


@dataclass
class TaskData:
    x: torch.Tensor  # [T, N_max, d], padded with zeros
    y: torch.Tensor  # [T, N_max, m]
    counts: torch.Tensor  # [T] real points of each task
    names: list[str]  # a file name (CSV) or "task i" (NPZ) per task
    digest: str  # SHA-256 of the files' bytes

    @property
    def num_tasks(self) -> int:
        return self.x.shape[0]


def load_task_data(path: str | Path) -> TaskData:
    """The tasks at ``path``; every failure is a `ConfigError` naming the file."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"task.path: {path}: no such file or folder")
    files = _csv_files(path) if path.is_dir() else [path]
    try:
        signature = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError as exc:
        raise ConfigError(f"task.path: {path}: cannot read ({exc})") from None
    if signature not in _cache:
        data = _read_folder(path, files) if path.is_dir() else _read_npz(path)
        if len(_cache) >= 2:
            _cache.pop(next(iter(_cache)))
        _cache[signature] = data
    return _cache[signature]


def task_source(config, info: dict[str, str]) -> dict[str, str]:
    """Where a 'tasks' family's data came from (path and SHA-256), for a checkpoint's header.

    The data itself is not stored. Without the files the previously recorded hash is kept.
    """
    if config.family != "tasks":
        return {}
    try:
        digest = load_task_data(config.path).digest
    except ConfigError:
        digest = info.get("task_files_sha256", "")
    return {"task_files": config.path, "task_files_sha256": digest}


def _csv_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        raise ConfigError(f"task.path: {folder}: a folder of tasks needs .csv files, found none")
    if len(files) > MAX_CSV_FILES:
        raise ConfigError(f"task.path: {folder}: {len(files):,} CSV files, at most {MAX_CSV_FILES:,}")
    return files


def _read_folder(folder: Path, files: list[Path]) -> TaskData:
    digest = hashlib.sha256()
    xs, ys = [], []
    for file in files:
        try:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
            x, y = _read_csv(file, need_y=True)
        except PointFileError as exc:
            raise ConfigError(f"task.path: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"task.path: {file}: cannot read ({exc})") from None
        for what, tensors, tensor in (("inputs", xs, x), ("targets", ys, y)):
            if tensors and tensor.shape[-1] != tensors[0].shape[-1]:
                raise ConfigError(f"task.path: {file.name}: {tensor.shape[-1]} {what} columns, "
                                  f"{files[0].name} has {tensors[0].shape[-1]}; every task needs "
                                  f"the same columns")
            tensors.append(tensor[0])
    return _padded(xs, ys, [f.name for f in files], digest.hexdigest(), folder)


def _read_npz(path: Path) -> TaskData:
    if path.suffix.lower() != ".npz":
        raise ConfigError(f"task.path: {path}: give a folder of CSV files or an .npz file")
    raw = path.read_bytes()
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"task.path: {path}: not a readable NPZ file ({exc})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ConfigError(f"task.path: {path}: a single array, not an NPZ with 'x' and 'y'")
    with loaded as archive:
        if "x" not in archive.files or "y" not in archive.files:
            raise ConfigError(f"task.path: {path}: needs arrays 'x' and 'y', found "
                              f"{sorted(archive.files)}")
        try:
            arrays = {k: archive[k] for k in ("x", "y", "task") if k in archive.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"task.path: {path}: unreadable array ({exc})") from None
    for key, array in arrays.items():
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ConfigError(f"task.path: {path}: '{key}' must hold real numbers, got {array.dtype}")
        if array.size == 0:
            raise ConfigError(f"task.path: {path}: '{key}' is empty {array.shape}")
    x, y = arrays["x"], arrays["y"]
    digest = hashlib.sha256(raw).hexdigest()
    if "task" in arrays:
        return _from_task_column(path, x, y, arrays["task"], digest)
    if y.ndim == 2 and x.ndim == 3:
        y = y[..., None]
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise ConfigError(f"task.path: {path}: expected x [tasks, points, d] and y [tasks, points, m] "
                          f"(or a 'task' column), got x {x.shape} and y {y.shape}")
    _check_size(path, x.shape[0], x.size + y.size)
    xs = torch.from_numpy(x.astype(np.float32))
    ys = torch.from_numpy(y.astype(np.float32))
    _check_finite(path, xs, ys)
    counts = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
    return TaskData(xs, ys, counts, [f"{path.name} task {i + 1}" for i in range(x.shape[0])], digest)


def _from_task_column(path: Path, x, y, task, digest: str) -> TaskData:
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or y.ndim != 2 or task.ndim != 1 or not len(x) == len(y) == len(task):
        raise ConfigError(f"task.path: {path}: with a 'task' column, x is [points, d], y [points, m] "
                          f"and task [points]; got x {x.shape}, y {y.shape}, task {task.shape}")
    if not np.issubdtype(task.dtype, np.integer):
        raise ConfigError(f"task.path: {path}: 'task' must hold integer task numbers")
    ids, inverse = np.unique(task, return_inverse=True)
    _check_size(path, len(ids), len(ids) * np.bincount(inverse).max() * (x.shape[1] + y.shape[1]))
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse))[:-1]
    xs = [torch.from_numpy(part.astype(np.float32)) for part in np.split(x[order], bounds)]
    ys = [torch.from_numpy(part.astype(np.float32)) for part in np.split(y[order], bounds)]
    return _padded(xs, ys, [f"{path.name} task {int(i)}" for i in ids], digest, path)


def _padded(xs, ys, names, digest, source: Path | None = None) -> TaskData:
    counts = torch.tensor([len(t) for t in xs])
    size = int(counts.max())
    _check_size(source or Path(names[0]), len(xs), len(xs) * size * (xs[0].shape[1] + ys[0].shape[1]))
    x = torch.zeros(len(xs), size, xs[0].shape[1])
    y = torch.zeros(len(ys), size, ys[0].shape[1])
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        x[i, : len(xi)], y[i, : len(yi)] = xi, yi
    _check_finite(source or Path(names[0]), x, y)
    return TaskData(x, y, counts, names, digest)


def _check_size(path: Path, tasks: int, values: int) -> None:
    if tasks > MAX_TASKS or values > MAX_VALUES:
        raise ConfigError(f"task.path: {path}: {tasks:,} tasks and {values:,} values; at most "
                          f"{MAX_TASKS:,} tasks and {MAX_VALUES:,} values")


def _check_finite(path: Path, x: torch.Tensor, y: torch.Tensor) -> None:
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ConfigError(f"task.path: {path}: contains NaN or infinite values")
