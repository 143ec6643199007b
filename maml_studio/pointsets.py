"""Reading and writing users' point sets: CSV for one task, NPZ for many.

CSV columns are ``x`` or ``x1..xd`` followed by ``y`` or ``y1..ym`` (the ``y``
columns are optional for query files). NPZ files hold ``x [T, N, d]`` and,
for support sets, ``y [T, N, m]``. For classification ``y`` is one column of
integer class labels 0 … N−1, and predictions add the class probabilities.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maml_studio.checkpoint import atomic_write_bytes


class PointFileError(ValueError):
    """A point file that cannot be used; the message names the file and the problem."""


@dataclass
class PointSet:
    x: torch.Tensor  # [T, N, d]
    y: torch.Tensor | None  # [T, N, m]
    is_npz: bool


def read_points(path: str | Path, dim_in: int, dim_out: int, need_y: bool,
                num_classes: int | None = None) -> PointSet:
    """Points for a model with ``dim_in`` inputs; ``num_classes`` makes y class labels."""
    path = Path(path)
    if not path.is_file():
        raise PointFileError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        x, y = _read_npz(path, need_y, labels=num_classes is not None)
        is_npz = True
    else:
        x, y = _read_csv(path, need_y)
        is_npz = False
    if x.shape[-1] != dim_in:
        raise PointFileError(f"{path}: inputs have {x.shape[-1]} dimension(s), the model takes {dim_in}")
    if y is not None and num_classes is not None and y.shape[-1] != 1:
        raise PointFileError(f"{path}: a classifier takes one y column of class labels, "
                             f"found {y.shape[-1]}")
    if y is not None and y.shape[-1] != dim_out:
        raise PointFileError(f"{path}: targets have {y.shape[-1]} dimension(s), the model gives {dim_out}")
    if y is not None and y.shape[:2] != x.shape[:2]:
        raise PointFileError(f"{path}: x has shape {tuple(x.shape)} but y has {tuple(y.shape)}")
    if not torch.isfinite(x).all() or (y is not None and not torch.isfinite(y).all()):
        raise PointFileError(f"{path}: contains NaN or infinite values")
    if y is not None and num_classes is not None:
        bad = (y != y.round()) | (y < 0) | (y >= num_classes)
        if bad.any():
            task, point, _ = (int(i) for i in bad.nonzero()[0])
            where = f"task {task + 1}, point {point + 1}" if is_npz else f"point {point + 1}"
            raise PointFileError(f"{path}: y holds class labels, integers 0 to {num_classes - 1}; "
                                 f"{where} has {float(y[task, point, 0])!r}")
    return PointSet(x, y, is_npz)


def _read_npz(path: Path, need_y: bool, labels: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Arrays 'x' and 'y'; class ``labels`` may also come as ``y [T, N]``."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PointFileError(f"{path}: not a readable NPZ file ({exc})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise PointFileError(f"{path}: a single array, not an NPZ archive with 'x' and 'y'")
    with loaded as data:
        arrays = {k: data[k] for k in data.files}
    if "x" not in arrays or (need_y and "y" not in arrays):
        wanted = "'x' and 'y'" if need_y else "'x'"
        raise PointFileError(f"{path}: needs arrays {wanted}, found {sorted(arrays)}")
    tensors = {}
    for key in ("x", "y"):
        if key not in arrays:
            continue
        array = arrays[key]
        if key == "y" and labels and array.ndim == 2:
            array = array[..., None]
        real = np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
        if array.ndim != 3 or not real:
            raise PointFileError(
                f"{path}: '{key}' must be real numbers [tasks, points, dim], "
                f"got {array.dtype} {array.shape}")
        if 0 in array.shape:
            raise PointFileError(f"{path}: '{key}' is empty ({array.shape})")
        tensors[key] = torch.from_numpy(array.astype(np.float32))
    return tensors["x"], tensors.get("y") if need_y else None


_COLUMN = re.compile(r"^([xy])(\d*)$")


def _read_csv(path: Path, need_y: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PointFileError(f"{path}: cannot read ({exc})") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise PointFileError(f"{path}: empty file; expected a header such as 'x,y'")
    header = [cell.strip().lower() for cell in rows[0]]
    kinds = [_COLUMN.match(h) for h in header]
    if not all(kinds) or not header or kinds[0].group(1) != "x":
        raise PointFileError(
            f"{path}: header must be x or x1..xd, then y or y1..ym; got {','.join(rows[0])}")
    x_cols = _ordered_columns(path, kinds, "x")
    y_cols = _ordered_columns(path, kinds, "y")
    if need_y and not y_cols:
        raise PointFileError(f"{path}: support points need y columns; header is {','.join(rows[0])}")
    values = []
    for line_number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise PointFileError(f"{path}, line {line_number}: {len(row)} values, header has {len(header)}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            raise PointFileError(f"{path}, line {line_number}: not a number in {row}") from None
    if not values:
        raise PointFileError(f"{path}: a header but no points")
    table = torch.tensor(values, dtype=torch.float32).reshape(len(values), len(header))
    x = table[:, x_cols].unsqueeze(0)
    y = table[:, y_cols].unsqueeze(0) if y_cols and need_y else None
    return x, y


def _ordered_columns(path: Path, kinds: list, letter: str) -> list[int]:
    """Column indices of x1..xd (or y1..ym) in numeric order; a bare x or y stands alone."""
    found = {m.group(2): i for i, m in enumerate(kinds) if m.group(1) == letter}
    if not found:
        return []
    if "" in found:
        if len(found) > 1:
            raise PointFileError(f"{path}: use either '{letter}' or '{letter}1..{letter}n', not both")
        return [found[""]]
    numbers = sorted(int(n) for n in found)
    if numbers != list(range(1, len(numbers) + 1)):
        raise PointFileError(f"{path}: columns {letter}1..{letter}{len(numbers)} expected, "
                             f"found {', '.join(letter + str(n) for n in numbers)}")
    return [found[str(n)] for n in numbers]


def write_predictions(path: str | Path, x: torch.Tensor, y: torch.Tensor, as_npz: bool,
                      probabilities: torch.Tensor | None = None) -> None:
    """Predictions ``y [T, Q, m]`` at ``x [T, Q, d]``: NPZ with array 'y' (and 'x'), or CSV.

    A classifier's ``y`` is the predicted class; its ``probabilities [T, Q, N]``
    follow as columns p0 … p(N−1) (array 'probabilities' in an NPZ).
    """
    path = Path(path)
    if as_npz or path.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        arrays = {"x": x.numpy(), "y": y.numpy()}
        if probabilities is not None:
            arrays["probabilities"] = probabilities.numpy()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())
        return
    d, m = x.shape[-1], y.shape[-1]
    names = (["x"] if d == 1 else [f"x{i + 1}" for i in range(d)]) + \
            (["y"] if m == 1 else [f"y{i + 1}" for i in range(m)])
    columns = [x[0], y[0]]
    if probabilities is not None:
        names += [f"p{c}" for c in range(probabilities.shape[-1])]
        columns.append(probabilities[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in torch.cat(columns, dim=-1).tolist():
        writer.writerow([f"{v:.7g}" for v in row])
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))
