"""Reading and writing users' point sets: CSV for one task, NPZ for many.

CSV columns are ``x`` or ``x1..xd`` followed by ``y`` or ``y1..ym`` (the ``y``
columns are optional for query files). NPZ files hold ``x [T, N, d]`` and,
for support sets, ``y [T, N, m]``. For classification ``y`` is one column of
integer class labels 0 … N−1, and predictions add the class probabilities.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
import zlib
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.inputs import file_problem, one_line, shown


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
    problem = file_problem(path)
    if problem:
        raise PointFileError(f"{path}: {problem}")
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
    """Arrays 'x' and 'y'; class ``labels`` may also come as ``y [T, N]``.

    Every array's header is checked (type, shape, size, that its data is all
    there) before any array is read.
    """
    wanted = ("x", "y") if need_y else ("x",)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
            headers = {key: _npy_header(path, archive, members[key], key)
                       for key in wanted if key in members}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        if _is_single_array(path):
            raise PointFileError(f"{path}: a single array, not an NPZ archive with 'x' and 'y'") from None
        raise PointFileError(f"{path}: not a readable NPZ file ({one_line(str(exc))[:200]})") from None
    if "x" not in headers or (need_y and "y" not in headers):
        names = "'x' and 'y'" if need_y else "'x'"
        raise PointFileError(f"{path}: needs arrays {names}, found {shown(sorted(members))}")
    total = sum(math.prod(shape) for _, shape in headers.values())
    if total > MAX_VALUES:
        raise PointFileError(f"{path}: {total:,} values; at most {MAX_VALUES:,} can be read")
    tensors = {}
    for key, (dtype, shape) in headers.items():
        real = np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
        ndim = len(shape) + (1 if key == "y" and labels and len(shape) == 2 else 0)
        if ndim != 3 or not real:
            raise PointFileError(
                f"{path}: '{key}' must be real numbers [tasks, points, dim], got {dtype} {shape}")
        if 0 in shape:
            raise PointFileError(f"{path}: '{key}' is empty ({shape})")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in headers}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise PointFileError(f"{path}: not a readable NPZ file ({one_line(str(exc))[:200]})") from None
    for key, stored in arrays.items():
        if key == "y" and labels and stored.ndim == 2:
            stored = stored[..., None]
        tensors[key] = torch.from_numpy(stored.astype(np.float32))
    return tensors["x"], tensors.get("y") if need_y else None


def _npy_header(path: Path, archive: zipfile.ZipFile, member: str, key: str
                ) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape of one array in an NPZ, checked to be complete and pickle-free."""
    info = archive.getinfo(member)
    with archive.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read(handle, max_header_size=10_000)
        header_bytes = handle.tell()
    if dtype.hasobject:
        raise PointFileError(f"{path}: '{key}' holds Python objects; only numbers can be read")
    needed = header_bytes + math.prod(shape) * dtype.itemsize
    if info.file_size < needed:
        raise PointFileError(f"{path}: '{key}' is truncated ({info.file_size:,} of {needed:,} bytes)")
    return dtype, tuple(shape)


def _is_single_array(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(6) == b"\x93NUMPY"
    except OSError:
        return False


_COLUMN = re.compile(r"^([xy])(\d*)$")
MAX_LINE = 131_072  # characters in one CSV line; a point file's lines are far shorter
MAX_VALUES = 20_000_000  # numbers in one point file (about 160 MB while it is read)


def _read_csv(path: Path, need_y: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read line by line: memory is bounded by MAX_VALUES, a runaway line fails at once."""
    values = array("d")
    header: list[str] = []
    raw_header: list[str] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(_bounded_lines(path, handle))
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                if not header:
                    raw_header, header = row, [cell.strip().lower() for cell in row]
                    x_cols, y_cols = _header_columns(path, header, raw_header, need_y)
                    continue
                if len(row) != len(header):
                    raise PointFileError(
                        f"{path}, line {reader.line_num}: {len(row)} values, header has {len(header)}")
                try:
                    values.extend(float(cell) for cell in row)
                except ValueError:
                    raise PointFileError(f"{path}, line {reader.line_num}: not a number in "
                                         f"{shown(row)}") from None
                if len(values) > MAX_VALUES:
                    raise PointFileError(f"{path}: more than {MAX_VALUES:,} values; "
                                         f"split the points into smaller files")
    except csv.Error as exc:
        raise PointFileError(f"{path}: not a readable CSV file ({one_line(str(exc))})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PointFileError(f"{path}: cannot read ({one_line(str(exc))[:200]})") from None
    if not header:
        raise PointFileError(f"{path}: empty file; expected a header such as 'x,y'")
    if not values:
        raise PointFileError(f"{path}: a header but no points")
    table = torch.from_numpy(np.frombuffer(values, dtype=np.float64).astype(np.float32))
    table = table.reshape(-1, len(header))
    x = table[:, x_cols].unsqueeze(0)
    y = table[:, y_cols].unsqueeze(0) if y_cols and need_y else None
    return x, y


def _bounded_lines(path: Path, handle):
    """The file's lines; one longer than MAX_LINE characters is refused before it is read whole."""
    number = 0
    while line := handle.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise PointFileError(f"{path}, line {number}: longer than {MAX_LINE:,} characters; "
                                 f"a point file has one point per line")
        yield line


def _header_columns(path: Path, header: list[str], raw: list[str], need_y: bool
                    ) -> tuple[list[int], list[int]]:
    kinds = [_COLUMN.match(h) for h in header]
    if not all(kinds) or kinds[0].group(1) != "x":
        raise PointFileError(
            f"{path}: header must be x or x1..xd, then y or y1..ym; got {shown(','.join(raw))}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise PointFileError(f"{path}: column {repeated[0]} appears more than once in the header")
    x_cols = _ordered_columns(path, kinds, "x")
    y_cols = _ordered_columns(path, kinds, "y")
    if need_y and not y_cols:
        raise PointFileError(f"{path}: support points need y columns; header is {shown(','.join(raw))}")
    return x_cols, y_cols


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
