import json

import pytest
import safetensors.torch
import torch

from maml_studio.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.history import History


@pytest.fixture
def checkpoint(small_config):
    experiment = Experiment.from_config(small_config)
    state = experiment.learner.init_state(seed_stream(0, "init"))
    baseline = experiment.baseline.init_state(seed_stream(0, "baseline"))
    history = History([3.0, 2.0, 1.5], [3.25, 2.5, 2.75], [(2, 2.5, 0.9, 2.6, 2.0, 0.5, 0.875, 0.5, 0.625)])
    return Checkpoint(small_config, state, baseline, history)


def test_round_trip_restores_parameters_config_and_history(tmp_path, checkpoint):
    path = tmp_path / "run.safetensors"
    save_checkpoint(checkpoint, path)
    loaded = load_checkpoint(path)
    assert loaded.config.to_dict() == checkpoint.config.to_dict()
    for key, value in checkpoint.state.items():
        assert torch.equal(loaded.state[key], value)
    assert loaded.baseline_state.keys() == checkpoint.baseline_state.keys()
    assert loaded.history == checkpoint.history
    assert loaded.info["maml_studio_version"] and loaded.info["torch_version"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]  # no temp file left


def test_a_checkpoint_without_baseline_loads(tmp_path, checkpoint):
    checkpoint.baseline_state = None
    save_checkpoint(checkpoint, tmp_path / "a.safetensors")
    assert load_checkpoint(tmp_path / "a.safetensors").baseline_state is None


def test_truncated_and_corrupt_files_are_refused(tmp_path, checkpoint):
    path = tmp_path / "run.safetensors"
    save_checkpoint(checkpoint, path)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"\x00garbage" * 100)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for name in ("cut", "junk", "empty"):
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            load_checkpoint(tmp_path / f"{name}.safetensors")
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_foreign_and_newer_files_are_refused(tmp_path, checkpoint):
    foreign = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a MAML Studio checkpoint"):
        load_checkpoint(foreign)
    path = tmp_path / "run.safetensors"
    save_checkpoint(checkpoint, path)
    with safetensors.safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    safetensors.torch.save_file(tensors, tmp_path / "new.safetensors",
                                metadata={**meta, "format_version": "99"})
    with pytest.raises(CheckpointError, match="newer MAML Studio"):
        load_checkpoint(tmp_path / "new.safetensors")


def test_parameters_that_do_not_fit_the_stored_config_are_refused(tmp_path, checkpoint):
    checkpoint.state["layer1.weight"] = torch.zeros(3, 3)
    save_checkpoint(checkpoint, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match=r"layer1\.weight has shape"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_a_broken_stored_config_is_refused(tmp_path, checkpoint):
    path = tmp_path / "run.safetensors"
    save_checkpoint(checkpoint, path)
    with safetensors.safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    meta["config"] = json.dumps({"training": {"outer_lr": "fast"}})
    safetensors.torch.save_file(tensors, path, metadata=meta)
    with pytest.raises(CheckpointError, match="stored config is unusable"):
        load_checkpoint(path)


def test_a_history_without_accuracies_loads_with_nan_accuracies():
    import math

    old = {"history.train_loss": torch.tensor([1.0]),
           "history.validation": torch.tensor([[1.0, 2.0, 0.5, 2.1, 1.9]], dtype=torch.float64)}
    row = History.from_tensors(old).validation[0]
    assert row[:5] == (1.0, 2.0, 0.5, 2.1, 1.9) and all(math.isnan(v) for v in row[5:])


def test_a_validation_that_blew_up_is_saved_as_no_value_and_loads(tmp_path, checkpoint):
    """Adaptation that diverges on a validation task makes its loss infinite: the run must
    still be kept and reopened, with that value read as NaN (drawn as a gap)."""
    import math

    checkpoint.history = History([3.0, 2.0], [3.1, 2.9],
                                 [(1, 2.5, math.inf, 2.6, 2.0), (2, -math.inf, 0.9, math.inf, 2.0)])
    path = tmp_path / "run.safetensors"
    save_checkpoint(checkpoint, path)
    rows = load_checkpoint(path).history.validation
    assert [row[0] for row in rows] == [1, 2]
    assert rows[0][1] == 2.5 and math.isnan(rows[0][2]) and rows[0][3] == 2.6
    assert math.isnan(rows[1][1]) and rows[1][2] == 0.9 and math.isnan(rows[1][3])
