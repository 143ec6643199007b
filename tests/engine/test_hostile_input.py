"""Hostile or careless input: each case ends in one clear line, never a traceback or lost work."""

import json
import os
import re
import tracemalloc

import numpy as np
import pytest
import safetensors.torch
import torch

from maml_studio.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from maml_studio.cli import main
from maml_studio.config import ExperimentConfig, load_config
from maml_studio.errors import ConfigError
from maml_studio.pointsets import PointFileError, read_points
from maml_studio.resources import bundled_checkpoint
from maml_studio.session import load_session, save_session

SINE = str(bundled_checkpoint("sine-finn2017"))


def one_line_error(capsys, argv, *fragments) -> str:
    """Run the CLI; it must fail with exactly one stderr line holding every fragment."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"maml-studio {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def train_argv(config, out):
    return ["train", "--config", str(config), "--out", str(out), "--quiet", "--compile", "off"]


def stored_checkpoint(tmp_path, name="model.safetensors", **changes):
    """The bundled sine model re-saved with changed tensors or metadata."""
    with safetensors.safe_open(SINE, framework="pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    tensors.update(changes.pop("tensors", {}))
    metadata.update(changes.pop("metadata", {}))
    path = tmp_path / name
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    return path


# -- 1. nesting without end ----------------------------------------------------------------------
def test_1_deeply_nested_json_and_toml_configs_are_one_line(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"task": {"ranges": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    one_line_error(capsys, train_argv(deep, tmp_path / "o.safetensors"), "nested too deeply")
    toml = tmp_path / "deep.toml"
    toml.write_text("[task]\nmembers = " + "[" * 100_000 + "]" * 100_000 + "\n")
    one_line_error(capsys, train_argv(toml, tmp_path / "o.safetensors"), "nested too deeply")
    shallow_but_deep = tmp_path / "deep40.json"  # parses, but deeper than any config
    shallow_but_deep.write_text('{"task": {"ranges": {"a": ' + "[" * 40 + "]" * 40 + "}}}")
    one_line_error(capsys, train_argv(shallow_but_deep, tmp_path / "o.safetensors"), "nested")
    assert not (tmp_path / "o.safetensors").exists()


def test_1_deeply_nested_stored_config_or_view_is_refused(tmp_path, capsys):
    nested = '{"task": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = stored_checkpoint(tmp_path, metadata={"config": nested})
    one_line_error(capsys, ["eval", str(path), "--tasks", "5"], "stored config", "nested too deeply")
    session = stored_checkpoint(tmp_path, "s.mamlsession",
                                metadata={"session_view": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(CheckpointError, match=r"view state is corrupt.*nested too deeply"):
        load_session(session)


# -- 2. numbers of thousands of digits ------------------------------------------------------------
def test_2_five_thousand_digit_integers(tmp_path, capsys):
    big = "9" * 5000
    config = tmp_path / "big.json"
    config.write_text('{"training": {"seed": ' + big + "}}")
    one_line_error(capsys, train_argv(config, tmp_path / "o.safetensors"), "4300 digits")
    toml = tmp_path / "big.toml"
    toml.write_text(f"[training]\nseed = {big}\n")
    one_line_error(capsys, train_argv(toml, tmp_path / "o.safetensors"), "4300 digits")
    one_line_error(capsys, ["train", "--preset", "sine-finn2017", "--set", f"training.seed={big}",
                            "--out", str(tmp_path / "o.safetensors")], "4300 digits")
    session = stored_checkpoint(tmp_path, "s.mamlsession",
                                metadata={"session_view": '{"step": ' + big + "}"})
    with pytest.raises(CheckpointError, match="4300 digits"):
        load_session(session)
    long_value = tmp_path / "long.json"  # 4000 digits parse; the message shows a short form
    long_value.write_text('{"training": {"seed": ' + "9" * 4000 + "}}")
    line = one_line_error(capsys, train_argv(long_value, tmp_path / "o.safetensors"), "training.seed")
    assert len(line) < 300


# -- 3. CSV fields and lines without end -------------------------------------------------------------
def test_3_csv_field_over_128_kb(tmp_path, capsys):
    support = tmp_path / "s.csv"
    support.write_text("x,y\n1," + "5" * 200_000 + "\n")
    one_line_error(capsys, ["adapt", SINE, "--support", str(support), "--steps", "1",
                            "--out", str(tmp_path / "p.csv")], "line 2", "longer than 131,072")
    quoted = tmp_path / "q.csv"  # a quoted field spanning many short lines
    quoted.write_text('x,y\n1,"' + "5\n" * 80_000 + '"\n')
    with pytest.raises(PointFileError, match=r"not a readable CSV|not a number"):
        read_points(quoted, 1, 1, need_y=True)


def test_3_huge_sparse_csv_fails_at_once_with_bounded_memory(tmp_path):
    sparse = tmp_path / "sparse.csv"
    with sparse.open("wb") as handle:
        handle.truncate(1_000_000_000)  # 1 GB of zero bytes, no disk used
    tracemalloc.start()
    try:
        with pytest.raises(PointFileError, match="line 1: longer than"):
            read_points(sparse, 1, 1, need_y=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_3_too_many_points_fail_early(tmp_path, monkeypatch):
    import maml_studio.pointsets as pointsets

    monkeypatch.setattr(pointsets, "MAX_VALUES", 100)
    many = tmp_path / "many.csv"
    many.write_text("x,y\n" + "1,2\n" * 1000)
    with pytest.raises(PointFileError, match="more than 100 values"):
        read_points(many, 1, 1, need_y=True)


# -- 4. NPZ object and truncated arrays ---------------------------------------------------------------
def test_4_npz_object_and_truncated_arrays(tmp_path, capsys):
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([[[1.0]]], dtype=object), y=np.zeros((1, 1, 1)))
    one_line_error(capsys, ["adapt", SINE, "--support", str(objects), "--steps", "1",
                            "--out", str(tmp_path / "p.npz")], "'x' holds Python objects")
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((3, 50, 1)), y=np.zeros((3, 50, 1)))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    one_line_error(capsys, ["adapt", SINE, "--support", str(truncated), "--steps", "1",
                            "--out", str(tmp_path / "p.npz")], "not a readable NPZ")
    import zipfile

    short = tmp_path / "short.npz"  # a whole archive whose array data stops early
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(short, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name)[:-40])
    one_line_error(capsys, ["adapt", SINE, "--support", str(short), "--steps", "1",
                            "--out", str(tmp_path / "p.npz")], "is truncated")


# -- 5. predictions non-finite before any step -------------------------------------------------------
def test_5_query_far_outside_the_range(tmp_path, capsys):
    support = tmp_path / "s.csv"
    support.write_text("x,y\n1,0.5\n2,0.1\n")
    query = tmp_path / "q.csv"
    query.write_text("x\n3.4e38\n")
    one_line_error(capsys, ["adapt", SINE, "--support", str(support), "--query", str(query),
                            "--steps", "3", "--out", str(tmp_path / "p.csv")], "before any step")
    assert not (tmp_path / "p.csv").exists()


# -- 7. runs that cannot fit in memory; validation in chunks ---------------------------------------
def test_7_run_needing_more_memory_than_exists_is_refused_before_it_starts(tmp_path, capsys):
    config = tmp_path / "huge.toml"
    config.write_text("[algorithm]\nsupport_size = 10000\nquery_size = 10000\n"
                      "[training]\nmeta_batch_size = 100000\n")
    line = one_line_error(capsys, train_argv(config, tmp_path / "o.safetensors"),
                          "needs about", "TB of memory", "lower training.meta_batch_size (now 100000)")
    assert "available" in line
    assert not (tmp_path / "o.safetensors").exists()


def test_7_memory_check_compares_with_what_is_available():
    from maml_studio.memory import check_memory

    config = ExperimentConfig()
    config.training.validation_tasks = 20_000
    config.algorithm.test_inner_steps = 300
    assert check_memory(config, available=8 * 2**30).total < 2**30  # chunked: fits in 8 GB
    with pytest.raises(ConfigError, match="needs about"):
        check_memory(config, available=2**20)


def test_7_validation_runs_in_chunks_with_the_same_scores(small_config, monkeypatch):
    import maml_studio.training as training

    trainer = training.Trainer(small_config)
    tasks = trainer._validation_tasks()
    whole = trainer._validate(1, tasks)
    sizes = []
    learner = trainer.experiment.learner
    original = type(learner).adapt_steps

    def recording(self, state, support_x, *args, **kwargs):
        sizes.append(support_x.shape[0])
        return original(self, state, support_x, *args, **kwargs)

    monkeypatch.setattr(training, "tasks_per_chunk", lambda config, points: 6)
    monkeypatch.setattr(type(learner), "adapt_steps", recording)
    chunked = trainer._validate(1, tasks)
    assert max(sizes) == 6 and sum(sizes[:4]) == 20  # 6 + 6 + 6 + 2 tasks
    assert chunked.after == pytest.approx(whole.after, rel=1e-5)
    assert chunked.before == pytest.approx(whole.before, rel=1e-5)


def test_7_evaluation_runs_in_chunks_sized_by_memory_with_the_same_scores(monkeypatch):
    import maml_studio.evaluation as evaluation
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint("sine-finn2017"))
    whole = evaluation.evaluate(checkpoint, tasks=30, steps=[0, 1], tasks_per_batch=30)
    asked = []

    def chunk(config, points):
        asked.append(points)
        return 7

    monkeypatch.setattr(evaluation, "tasks_per_chunk", chunk)
    chunked = evaluation.evaluate(checkpoint, tasks=30, steps=[0, 1])
    assert asked == [5 + 100]  # sized for these points: K = 5 support, 100 query
    for name in whole:
        for a, b in zip(whole[name], chunked[name], strict=True):
            assert b.mean == pytest.approx(a.mean, rel=1e-5)


def test_7_stop_is_honoured_inside_a_validation(small_config, monkeypatch):
    import maml_studio.training as training

    small_config.training.iterations = 5
    small_config.training.validate_every = 5
    trainer = training.Trainer(small_config)
    learner = trainer.experiment.learner
    original = type(learner).adapt_steps

    def stopping(self, *args, **kwargs):
        trainer.stop()  # as the window's Reset would, mid-validation
        return original(self, *args, **kwargs)

    monkeypatch.setattr(training, "tasks_per_chunk", lambda config, points: 4)
    monkeypatch.setattr(type(learner), "adapt_steps", stopping)
    events = list(trainer.run())
    assert not any(isinstance(e, training.Validation) for e in events)
    assert trainer.history.validation == []
    # Stopped at iteration 5 of 5 while validating: the run ends without a validation.
    assert isinstance(events[-1], training.Finished)


# -- 8. adapted losses that are not finite are divergence -----------------------------------------
def test_8_inner_rate_blow_up_stops_the_run_and_keeps_finite_parameters(small_config):
    from maml_studio.training import Finished, Trainer

    small_config.algorithm.inner_lr = 100.0
    small_config.training.validate_every = 50
    trainer = Trainer(small_config)
    finished = next(e for e in trainer.run() if isinstance(e, Finished))
    assert finished.status == "diverged"
    assert "algorithm.inner_lr" in finished.message and finished.iteration == 50
    assert all(torch.isfinite(v).all() for v in trainer.snapshot()["state"].values())


def test_8_cli_exits_non_zero_on_inner_divergence(tmp_path, capsys):
    out = tmp_path / "o.safetensors"
    assert main(["train", "--preset", "sine-finn2017", "--iterations", "60", "--compile", "off",
                 "--set", "algorithm.inner_lr=100", "--set", "training.validate_every=30",
                 "--set", "training.validation_tasks=10", "--set", "training.threads=1",
                 "--quiet", "--out", str(out)]) == 1
    assert "inner learning rate" in capsys.readouterr().err
    assert load_checkpoint(out).history.iterations == 30


# -- 9, 10. an existing --out is never replaced by a partial run; SIGTERM; stale temporaries --------
def test_9_existing_out_is_refused_without_overwrite(tmp_path, capsys):
    precious = tmp_path / "precious.safetensors"
    precious.write_bytes(b"a long run")
    one_line_error(capsys, ["train", "--preset", "sine-finn2017", "--iterations", "5",
                            "--out", str(precious)], "exists", "--overwrite")
    assert precious.read_bytes() == b"a long run"


def test_9_10_sigterm_saves_the_partial_run_beside_an_existing_file(tmp_path):
    import select
    import signal
    import subprocess
    import sys
    import time

    precious = tmp_path / "precious.safetensors"
    precious.write_bytes(b"a long run")
    process = subprocess.Popen(
        [sys.executable, "-m", "maml_studio", "train", "--preset", "sine-finn2017",
         "--iterations", "10000000", "--compile", "off", "--set", "training.threads=1",
         "--overwrite", "--out", str(precious)],
        stderr=subprocess.PIPE)
    try:
        seen, deadline = b"", time.monotonic() + 180
        # Iterations counted on the progress bar: the run, and its signal handlers, have started.
        while not re.search(rb"\| *[1-9][0-9]*/10000000", seen):
            ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "no progress in 180 s: " + seen.decode(errors="replace")
            chunk = os.read(process.stderr.fileno(), 4096)
            assert chunk, seen.decode(errors="replace")
            seen += chunk
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        err = err.decode()
        code = process.returncode
    finally:
        process.kill()
        process.wait()
    assert code == 128 + signal.SIGTERM, err
    assert precious.read_bytes() == b"a long run"
    partial = [p for p in tmp_path.iterdir() if p.name.startswith("precious.partial-")]
    assert len(partial) == 1
    assert f"kept the existing {precious}" in err and str(partial[0]) in err
    assert load_checkpoint(partial[0]).config.task.family == "sine"


def test_10_stale_temporary_files_of_our_own_are_removed_on_the_next_save(tmp_path):
    out = tmp_path / "model.safetensors"
    dead = tmp_path / ".model.safetensors.999999999-abcd1234.tmp"  # no such process
    old = tmp_path / ".model.safetensors.abcd1234.tmp"  # written before names carried a pid
    live = tmp_path / f".model.safetensors.{os.getpid()}-zz.tmp"  # a write in progress
    other = tmp_path / ".other.safetensors.999999999-abcd1234.tmp"  # another file's
    for path in (dead, old, live, other):
        path.write_bytes(b"x" * 100)
    os.utime(old, (1, 1))
    save_checkpoint(load_checkpoint(SINE), out)
    assert not dead.exists() and not old.exists()
    assert live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == \
        sorted([live.name, other.name])


# -- 14. smaller ----------------------------------------------------------------------------------
def test_14_control_characters_in_user_strings_are_escaped(tmp_path, capsys):
    config = tmp_path / "forged.toml"
    config.write_text('[task]\nfamily = "sine\\nmaml-studio train: finished OK"\n')
    line = one_line_error(capsys, train_argv(config, tmp_path / "o.safetensors"), "sine\\n")
    assert "\r" not in line and "\x1b" not in line
    config.write_text('[task]\nfamily = "\\u001b[2Jsine\\r"\n')
    line = one_line_error(capsys, train_argv(config, tmp_path / "o.safetensors"), "\\x1b", "\\r")


def test_14_duplicate_csv_header_is_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("x,x,y\n1,2,3\n")
    with pytest.raises(PointFileError, match="column x appears more than once"):
        read_points(path, 1, 1, need_y=True)


def test_14_folder_and_fifo_are_named_for_what_they_are(tmp_path, capsys):
    one_line_error(capsys, ["adapt", SINE, "--support", str(tmp_path), "--steps", "1",
                            "--out", str(tmp_path / "p.csv")], "is a folder")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    one_line_error(capsys, ["adapt", SINE, "--support", str(fifo), "--steps", "1",
                            "--out", str(tmp_path / "p.csv")], "not a regular file")
    one_line_error(capsys, ["eval", str(fifo)], "not a regular file")
    fifo_config = tmp_path / "pipe.toml"
    os.mkfifo(fifo_config)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo_config)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(folder)


def test_14_integer_or_bool_weights_and_baseline_nan_are_named(tmp_path, capsys):
    ints = stored_checkpoint(tmp_path, "ints.safetensors",
                             tensors={"meta.layer0.weight": torch.zeros(40, 1, dtype=torch.int64)})
    one_line_error(capsys, ["eval", str(ints)], "layer0.weight is stored as I64", "floating-point")
    bools = stored_checkpoint(tmp_path, "bools.safetensors",
                              tensors={"meta.layer0.bias": torch.zeros(40, dtype=torch.bool)})
    one_line_error(capsys, ["eval", str(bools)], "stored as BOOL")
    nan = stored_checkpoint(tmp_path, "nan.safetensors",
                            tensors={"baseline.layer0.bias": torch.full((40,), float("nan"))})
    one_line_error(capsys, ["eval", str(nan)], "baseline parameter layer0.bias", "NaN")


def test_14_shapes_are_checked_from_the_header_before_any_tensor_is_made(tmp_path, monkeypatch):
    from maml_studio.model import MLP

    made = []
    original = MLP.init_params

    def recording(self, generator):
        params = original(self, generator)
        made.extend(v.device.type for v in params.values())
        return params

    monkeypatch.setattr(MLP, "init_params", recording)
    config = ExperimentConfig()
    config.model.hidden = [4096] * 16
    path = stored_checkpoint(tmp_path, metadata={"config": config.to_json()})
    assert path.stat().st_size < 50_000
    with pytest.raises(CheckpointError, match="parameters do not match its config"):
        load_checkpoint(path)
    config.model.hidden = [4096, 4096]  # the same names, far larger shapes
    path = stored_checkpoint(tmp_path, metadata={"config": config.to_json()})
    with pytest.raises(CheckpointError, match=r"parameter layer0\.\w+ has shape \(40.*\), its "
                                              r"config needs \(4096.*\)"):
        load_checkpoint(path)
    assert made and set(made) == {"meta"}


@pytest.mark.parametrize("version", ["-5", "0", "1e3", "", "٣", "99999999999"])
def test_14_format_version_must_be_sane(tmp_path, version):
    path = stored_checkpoint(tmp_path, metadata={"format_version": version})
    with pytest.raises(CheckpointError, match=r"format version|newer MAML Studio"):
        load_checkpoint(path)


def test_14_stored_history_with_broken_iterations_is_refused(tmp_path):
    for bad in (float("nan"), float("inf"), 2.5, -1.0):
        rows = torch.tensor([[bad, 1.0, 0.5, 1.0, 0.5]], dtype=torch.float64)
        path = stored_checkpoint(tmp_path, tensors={"history.validation": rows})
        with pytest.raises(CheckpointError, match="loss history is unusable"):
            load_checkpoint(path)
    inf_value = torch.tensor([[1.0, 1.0, float("inf"), 1.0, 0.5]], dtype=torch.float64)
    path = stored_checkpoint(tmp_path, tensors={"history.validation": inf_value})
    with pytest.raises(CheckpointError, match="infinite"):
        load_checkpoint(path)
    nan_value = torch.tensor([[1.0, 1.0, float("nan"), 1.0, 0.5]], dtype=torch.float64)
    path = stored_checkpoint(tmp_path, tensors={"history.validation": nan_value})
    assert load_checkpoint(path).history.last_iteration >= 1  # NaN: a value not measured


def test_14_many_npz_tasks_are_adapted_in_chunks(tmp_path, monkeypatch, capsys):
    import maml_studio.adaptation as adaptation

    tasks = 3000
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, (tasks, 2, 1)).astype(np.float32)
    np.savez_compressed(tmp_path / "s.npz", x=x, y=np.sin(x))
    sizes = []
    original = adaptation.adapt_and_predict

    def recording(learner, state, support_x, *args, **kwargs):
        sizes.append(support_x.shape[0])
        return original(learner, state, support_x, *args, **kwargs)

    monkeypatch.setattr(adaptation, "adapt_and_predict", recording)
    monkeypatch.setattr("maml_studio.memory.tasks_per_chunk", lambda config, points: 1000)
    out = tmp_path / "p.npz"
    assert main(["adapt", SINE, "--support", str(tmp_path / "s.npz"), "--steps", "1",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    assert sizes == [1000, 1000, 1000]
    with np.load(out) as data:
        assert data["y"].shape == (tasks, 200, 1)


def test_14_stored_view_is_checked_as_json(tmp_path):
    checkpoint = load_checkpoint(SINE)
    save_session(tmp_path / "s.mamlsession", checkpoint, {"log_scale": True})
    _, view = load_session(tmp_path / "s.mamlsession")
    assert view == {"log_scale": True}
    path = stored_checkpoint(tmp_path, "bad.mamlsession", metadata={"session_view": json.dumps([1])})
    with pytest.raises(CheckpointError, match="view state is corrupt"):
        load_session(path)


def test_step_lists_are_parsed_once_for_every_command():
    from maml_studio.inputs import parse_step_list

    assert parse_step_list("10, 1,0,1", 10) == [0, 1, 10]
    for bad, words in (("1,a", "comma-separated integers"), ("", "between 0 and 10"),
                       ("-1", "between 0 and 10"), ("11", "between 0 and 10")):
        with pytest.raises(ValueError, match=words):
            parse_step_list(bad, 10)
