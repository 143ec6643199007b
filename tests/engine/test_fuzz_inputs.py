"""Property-based fuzzing of what users feed the app: configs, point files, checkpoint metadata.

Every input either loads or fails with the reader's own error type and a
message of one line; nothing else escapes. Derandomized and bounded, so the
run is the same on every machine and takes seconds.
"""

import io
import json
import math
import tempfile
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maml_studio.checkpoint import CheckpointError
from maml_studio.config import load_config
from maml_studio.config_sections import SECTIONS
from maml_studio.errors import ConfigError
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.memory import check_memory
from maml_studio.pointsets import PointFileError, read_points
from maml_studio.resources import bundled_checkpoint
from maml_studio.session import load_session

FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=200,
                suppress_health_check=list(HealthCheck))
SCRATCH = Path(tempfile.mkdtemp(prefix="maml-fuzz-"))

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | \
    st.sampled_from(["sine", "maml", "relu", "adam", "auto", "cpu", "circle", "multimodal",
                     "sine\nmaml-studio: ok", "\x1b[2J", "", "x" * 500])
numbers = st.integers(-10**6, 10**6) | st.integers() | st.sampled_from(
    [0, 1, -1, 2**31, 2**63, 10**4000, 4096, 10001, 100000]) | st.floats(allow_nan=True)
leaves = numbers | texts | st.booleans() | st.none()
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(texts, inner, max_size=3), max_leaves=8)
FIELDS = {name: [f.name for f in fields(cls)] for name, cls in SECTIONS.items()}


@st.composite
def config_documents(draw):
    document = {}
    for section in draw(st.lists(st.sampled_from([*FIELDS, "extra"]), max_size=4, unique=True)):
        names = FIELDS.get(section, ["x"])
        keys = draw(st.lists(st.sampled_from(names) | texts, max_size=4, unique=True))
        document[section] = {key: draw(values) for key in keys}
    if draw(st.booleans()):
        return draw(values)  # not even a table
    return document


def assert_one_line(message: str) -> None:
    assert message and "\n" not in message and "\r" not in message, repr(message)
    assert len(message) < 2000, message[:200]


@FUZZ
@given(config_documents(), st.sampled_from([".json", ".toml"]))
def test_configs_load_or_fail_in_one_line(document, suffix):
    path = SCRATCH / f"config{suffix}"
    try:
        if suffix == ".json":
            text = json.dumps(document)
        else:
            import tomli_w

            text = tomli_w.dumps(document)
    except Exception:
        text = str(document)[:5000]  # not expressible: feed its repr as text
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
        check_memory(config, available=2**50)
        experiment = Experiment.from_config(config)
        experiment.family.sample(2, 2, 2, seed_stream(0, "fuzz"))
    except ConfigError as exc:
        assert_one_line(str(exc))


csv_cells = st.sampled_from(["1", "-2.5", "1e400", "nan", "inf", "", " ", "x", "0x10", "1_0",
                             '"3"', "\x00", "9" * 5000, "1e-400", "٣"]) | \
    st.floats().map(repr) | st.integers().map(str)
headers = st.lists(st.sampled_from(["x", "y", "x1", "x2", "y1", "y2", "x3", "X", " y ", "z", ""]),
                   min_size=0, max_size=4).map(",".join)


@FUZZ
@given(headers, st.lists(st.lists(csv_cells, max_size=4).map(",".join), max_size=6),
       st.sampled_from(["\n", "\r\n", "\r"]), st.sampled_from([1, 2]), st.booleans(),
       st.sampled_from([None, 2, 3]))
def test_csv_point_files_load_or_fail_in_one_line(header, rows, newline, dim_in, need_y, classes):
    path = SCRATCH / "points.csv"
    path.write_text(newline.join([header, *rows]), encoding="utf-8")
    try:
        points = read_points(path, dim_in, 1, need_y=need_y, num_classes=classes)
    except PointFileError as exc:
        assert_one_line(str(exc))
        return
    assert points.x.shape[-1] == dim_in and torch.isfinite(points.x).all()


dtypes = st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.bool_, np.complex64,
                          np.float16, "U3", object])
shapes = st.lists(st.integers(0, 3), min_size=0, max_size=4).map(tuple)


@st.composite
def npz_bytes(draw):
    arrays = {}
    for key in draw(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3, unique=True)):
        shape, dtype = draw(shapes), draw(dtypes)
        array = np.zeros(shape, dtype=dtype)
        if dtype is object:
            array = np.empty(shape, dtype=object)
        arrays[key] = array
    buffer = io.BytesIO()
    (np.savez_compressed if draw(st.booleans()) else np.savez)(buffer, **arrays)
    data = buffer.getvalue()
    cut = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        data = data[:cut]
    elif draw(st.booleans()) and arrays:  # an intact archive whose members are cut short
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
            for name in source.namelist():
                member = source.read(name)
                target.writestr(name, member[:draw(st.integers(0, len(member)))])
        data = out.getvalue()
    return data


@FUZZ
@given(npz_bytes(), st.booleans(), st.sampled_from([None, 2]))
def test_npz_point_files_load_or_fail_in_one_line(data, need_y, classes):
    path = SCRATCH / "points.npz"
    path.write_bytes(data)
    try:
        points = read_points(path, 1, 1, need_y=need_y, num_classes=classes)
    except PointFileError as exc:
        assert_one_line(str(exc))
        return
    assert points.x.ndim == 3


with safetensors.safe_open(str(bundled_checkpoint("sine-finn2017")), framework="pt") as _handle:
    BASE_METADATA = dict(_handle.metadata())
    BASE_TENSORS = {key: _handle.get_tensor(key) for key in _handle.keys()}  # noqa: SIM118


@st.composite
def metadata_changes(draw):
    changes = {}
    for key in draw(st.lists(st.sampled_from(["format", "format_version", "config", "session_view",
                                               "iterations"]), max_size=3, unique=True)):
        if key == "config" and draw(st.booleans()):
            config = json.loads(BASE_METADATA["config"])
            section = draw(st.sampled_from(list(config)))
            name = draw(st.sampled_from(list(config[section])))
            config[section][name] = draw(values)
            try:
                changes[key] = json.dumps(config)
            except (ValueError, RecursionError):
                changes[key] = "{"
        elif key == "session_view":
            try:
                changes[key] = json.dumps(draw(values))
            except (ValueError, RecursionError):
                changes[key] = "["
        else:
            changes[key] = draw(texts | numbers.map(str))
    return changes


@st.composite
def tensor_changes(draw):
    changes = {}
    names = sorted(BASE_TENSORS)
    for key in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        shape = draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))
        dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool,
                                      torch.float16]))
        fill = draw(st.sampled_from([0.0, 1.0, math.nan, math.inf]))
        changes[key] = torch.full(shape, fill).to(dtype)
    return changes


@FUZZ
@given(metadata_changes(), tensor_changes())
def test_checkpoint_metadata_and_tensors_load_or_fail_in_one_line(metadata, tensors):
    path = SCRATCH / "fuzz.mamlsession"
    try:
        data = safetensors.torch.save({**BASE_TENSORS, **tensors},
                                      metadata={**BASE_METADATA, **metadata})
    except Exception:
        return
    path.write_bytes(data)
    try:
        checkpoint, view = load_session(path)
    except CheckpointError as exc:
        assert_one_line(str(exc))
        return
    assert isinstance(view, dict)
    assert all(torch.isfinite(v).all() for v in checkpoint.state.values())


# -- whole training runs from fuzzed configs ---------------------------------------------------------
SMALL_RUN = {"task": {"family": "sine"}, "model": {"hidden": [8]},
             "algorithm": {"support_size": 3, "query_size": 3, "test_inner_steps": 2},
             "training": {"meta_batch_size": 2, "validate_every": 1, "validation_tasks": 3,
                          "threads": 1}}
hostile_numbers = st.sampled_from([-1, 0, 1, 2, 3, 1.5, -0.0, 1e-300, 1e30, 1e308, 10**9, 2**63,
                                   float("nan"), float("inf"), -float("inf"), True, "3", "", None])
choices = st.sampled_from(["maml", "fomaml", "reptile", "metasgd", "anil", "relu", "tanh", "adam",
                           "sgd", "none", "linear", "circle", "blobs", "halfplane", "multimodal",
                           "linear", "formula", "tasks", "sine", "MAML", " maml", "auto", "cpu"])
field_values = hostile_numbers | choices | st.lists(hostile_numbers, max_size=3) | \
    st.dictionaries(texts, hostile_numbers, max_size=2)
TRAINABLE = [(section, name) for section, names in FIELDS.items() for name in names
             if (section, name) not in {("training", "device"), ("training", "compile"),
                                        ("training", "iterations"), ("task", "path")}]


# Values at the edges of what each field accepts that still train in a moment: what a
# config within every range can do to a run (diverge, degenerate, mismatch its family).
EDGES = {
    ("task", "family"): ["sine", "line", "quadratic", "absolute", "multimodal", "linear",
                         "circle", "blobs", "halfplane"],
    ("task", "noise_std"): [0.0, 10.0, 1e6], ("task", "label_noise"): [0.0, 0.5],
    ("task", "x_range"): [[-5.0, 5.0], [0.0, 1e-6], [-1e6, 1e6]],
    ("task", "dim_in"): [0, 1, 3], ("task", "dim_out"): [0, 1, 2], ("task", "num_classes"): [0, 2, 5],
    ("model", "hidden"): [[1], [8, 8], [3, 3, 3]], ("model", "activation"): ["relu", "tanh"],
    ("algorithm", "name"): ["maml", "fomaml", "reptile", "metasgd", "anil"],
    ("algorithm", "first_order"): [True, False], ("algorithm", "inner_lr"): [1e-6, 0.5, 5.0, 100.0, 1e4],
    ("algorithm", "inner_steps"): [1, 3], ("algorithm", "test_inner_steps"): [1, 3],
    ("algorithm", "support_size"): [1, 2], ("algorithm", "query_size"): [1, 2],
    ("algorithm", "multi_step_loss_iterations"): [0, 1, 5],
    ("algorithm", "learned_step_rates"): [True, False], ("algorithm", "first_order_iterations"): [0, 2],
    ("training", "meta_batch_size"): [1, 3], ("training", "optimizer"): ["adam", "sgd"],
    ("training", "outer_lr"): [1e-6, 10.0, 1e4], ("training", "lr_decay"): ["none", "linear", "cosine"],
    ("training", "grad_clip"): [0.0, 1e-6, 1e6], ("training", "train_baseline"): [True, False],
    ("training", "validate_every"): [1, 2, 1000], ("training", "validation_tasks"): [1, 2],
}


@st.composite
def run_configs(draw):
    """A small run with one to five fields at the edge of their range, or set to hostile values."""
    document = json.loads(json.dumps(SMALL_RUN))
    for section, name in draw(st.lists(st.sampled_from(TRAINABLE), min_size=1, max_size=5,
                                       unique=True)):
        edges = EDGES.get((section, name))
        hostile = edges is None or draw(st.integers(0, 4)) == 0
        document.setdefault(section, {})[name] = draw(field_values if hostile else st.sampled_from(edges))
    return document


@settings(derandomize=True, deadline=None, database=None, max_examples=80,
          suppress_health_check=list(HealthCheck))
@given(run_configs())
def test_training_from_a_fuzzed_config_finishes_or_fails_in_one_line(document):
    """`train` on a config that loads: a finished run, or one line and an error status."""
    import contextlib

    from maml_studio.cli import main

    path, out = SCRATCH / "run.json", SCRATCH / "run.safetensors"
    path.write_text(json.dumps(document), encoding="utf-8")  # NaN and inf as JSON allows
    out.unlink(missing_ok=True)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        status = main(["train", "--config", str(path), "--out", str(out), "--iterations", "3",
                       "--compile", "off", "--device", "cpu", "--quiet"])
    lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
    for line in lines:
        assert_one_line(line)
    if status == 0:  # finished
        assert out.is_file() and lines[-1] == f"wrote {out}"
    elif status == 1:  # diverged: said so, and the last finite parameters were kept
        assert out.is_file() and lines[0].startswith("Training stopped at iteration"), lines
    else:  # refused: one line naming the problem, nothing written
        assert status == 2 and len(lines) == 1 and "error:" in lines[0], lines
        assert not out.exists()
