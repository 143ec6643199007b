"""The 'tasks' family: users' own tasks from CSV folders and NPZ files."""

import numpy as np
import pytest
import torch

from maml_studio.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.errors import ConfigError
from maml_studio.experiment import Experiment
from maml_studio.tasks import build_family, generator_for
from maml_studio.tasks.regression import Sine


def sine_tasks(count: int, points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    batch = Sine().sample(count, points, 0, generator_for(seed))
    return batch.support_x.numpy(), batch.support_y.numpy()


def tasks_config(path, **task) -> ExperimentConfig:
    config = ExperimentConfig()
    config.set("task.family", "tasks")
    config.set("task.path", str(path))
    for key, value in task.items():
        config.set(f"task.{key}", value)
    config.check()
    return config


def write_csv(path, x, y, header="x,y"):
    rows = "".join(",".join(f"{v:.6g}" for v in (*xi, *yi)) + "\n" for xi, yi in zip(x, y, strict=True))
    path.write_text(header + "\n" + rows)


@pytest.fixture
def npz(tmp_path):
    x, y = sine_tasks(50, 30)
    path = tmp_path / "sines.npz"
    np.savez(path, x=x, y=y)
    return path


def test_npz_tasks_split_into_training_and_held_out_tasks(npz):
    config = tasks_config(npz, held_out=0.2, split_seed=3)
    family = build_family(config.task)
    assert (config.task.dim_in, config.task.dim_out) == (1, 1)  # recorded for the checkpoint
    assert len(family.held_tasks) == 10 and len(family.train_tasks) == 40
    assert not set(family.held_tasks.tolist()) & set(family.train_tasks.tolist())
    again = build_family(tasks_config(npz, held_out=0.2, split_seed=3).task)
    assert torch.equal(again.held_tasks, family.held_tasks)
    other = build_family(tasks_config(npz, held_out=0.2, split_seed=4).task)
    assert not torch.equal(other.held_tasks, family.held_tasks)
    train = family.sample(200, 10, 20, generator_for(0)).params[:, 0].long()
    held = family.evaluation_family().sample(200, 10, 20, generator_for(0)).params[:, 0].long()
    assert set(train.tolist()) <= set(family.train_tasks.tolist())
    assert set(held.tolist()) <= set(family.held_tasks.tolist())


def test_support_and_query_are_distinct_points_of_the_task(npz):
    family = build_family(tasks_config(npz).task)
    x, y = np.load(npz)["x"], np.load(npz)["y"]
    batch = family.sample(30, 12, 18, generator_for(1))
    for task, sx, sy, qx in zip(batch.params[:, 0].long(), batch.support_x, batch.support_y,
                                batch.query_x, strict=True):
        drawn = torch.cat([sx, qx])[:, 0].numpy()
        assert len(set(drawn.tolist())) == 30  # all 30 points, none twice
        assert set(drawn.tolist()) == set(x[task, :, 0].tolist())
        index = [x[task, :, 0].tolist().index(v) for v in sx[:, 0].tolist()]
        np.testing.assert_allclose(sy[:, 0].numpy(), y[task, index, 0])


def test_a_folder_of_csv_files_and_an_npz_with_a_task_column(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    x, y = sine_tasks(6, 25)
    for i in range(6):
        write_csv(folder / f"task{i}.csv", x[i], y[i])
    family = build_family(tasks_config(folder).task)
    assert family.data.num_tasks == 6 and family.data.names[0] == "task0.csv"
    assert "task" in family.describe(torch.tensor([0.0]))
    sizes = [20, 25, 30]
    task = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    points = np.random.default_rng(0).normal(size=(sum(sizes), 2))
    path = tmp_path / "ragged.npz"
    np.savez(path, x=points, y=points[:, :1] * 2, task=task)
    config = tasks_config(path, held_out=0.34)
    family = build_family(config.task)
    assert family.data.counts.tolist() == sizes and family.dim_in == 2
    batch = family.sample(8, 10, 10, generator_for(0))
    torch.testing.assert_close(batch.support_y, batch.support_x[..., :1] * 2)


def test_classification_tasks_draw_k_points_of_every_class(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, size=(20, 80, 2))
    labels = (x[..., 0] > 0).astype(np.int64)
    path = tmp_path / "classes.npz"
    np.savez(path, x=x, y=labels)
    family = build_family(tasks_config(path, num_classes=2).task)
    batch = family.sample(10, 3, 5, generator_for(0))
    assert family.kind == "classification"
    assert batch.support_y[..., 0].sum(1).eq(3).all() and batch.query_y[..., 0].sum(1).eq(5).all()
    assert torch.equal((batch.query_x[..., 0] > 0).float(), batch.query_y[..., 0])


def test_checkpoint_records_the_source_and_opens_without_the_files(npz, tmp_path):
    config = tasks_config(npz)
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(generator_for(0))
    save_checkpoint(Checkpoint(config, state), tmp_path / "model.safetensors")
    digest = build_family(config.task).digest
    loaded = load_checkpoint(tmp_path / "model.safetensors")
    assert loaded.info["task_files_sha256"] == digest and loaded.info["task_files"] == str(npz)
    npz.unlink()
    away = load_checkpoint(tmp_path / "model.safetensors")
    family = away.experiment().family
    assert family.missing and (family.dim_in, family.dim_out) == (1, 1)
    with pytest.raises(ConfigError, match=r"sampling tasks needs the task files .* still adapts"):
        family.sample(1, 5, 0, generator_for(0))
    points = torch.tensor([[[0.0], [1.0]]])
    adapted = list(away.experiment().learner.adapt_steps(away.state, points, points, 2))
    assert len(adapted) == 3  # clicked points still adapt
    save_checkpoint(away, tmp_path / "again.safetensors")  # re-saving keeps the recorded hash
    assert load_checkpoint(tmp_path / "again.safetensors").info["task_files_sha256"] == digest


def _bad_npz(tmp_path, name="bad.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "nothing.npz", "no such file or folder"),
    (lambda p: p, "needs .csv files, found none"),
    (lambda p: (p / "a.txt").write_text("x") and p / "a.txt", "an .npz file"),
    (lambda p: (p / "a.npz").write_bytes(b"junk") and p / "a.npz", "not a readable NPZ"),
    (lambda p: _bad_npz(p, x=np.zeros((3, 5, 1))), "needs arrays 'x' and 'y'"),
    (lambda p: _bad_npz(p, x=np.zeros((3, 5)), y=np.zeros((3, 4))), "expected x [tasks, points, d]"),
    (lambda p: _bad_npz(p, x=np.full((3, 30, 1), np.nan), y=np.zeros((3, 30, 1))), "NaN"),
    (lambda p: _bad_npz(p, x=np.array([["a"]]), y=np.zeros((1, 1, 1))), "must hold real numbers"),
    (lambda p: _bad_npz(p, x=np.zeros((1, 30, 1)), y=np.zeros((1, 30, 1))), "at least 2 are needed"),
    (lambda p: _bad_npz(p, x=np.zeros((4, 12, 1)), y=np.zeros((4, 12, 1))),
     "bad.npz task 1 has 12 points; a task needs support + query = 20"),
    (lambda p: _bad_npz(p, x=np.zeros((10, 2)), y=np.zeros(10), task=np.linspace(0, 1, 10)),
     "integer task numbers"),
])
def test_bad_task_files_get_one_clear_message(tmp_path, make, message):
    with pytest.raises(ConfigError) as refused:
        tasks_config(make(tmp_path))
    assert message in str(refused.value) and "task.path" in str(refused.value), str(refused.value)


def test_bad_csv_folders_name_the_file(tmp_path):
    folder = tmp_path / "tasks"
    folder.mkdir()
    x, y = sine_tasks(3, 25)
    write_csv(folder / "a.csv", x[0], y[0])
    write_csv(folder / "b.csv", np.concatenate([x[1], x[1]], 1), y[1], header="x1,x2,y")
    with pytest.raises(ConfigError, match=r"b.csv: 2 inputs columns, a.csv has 1"):
        tasks_config(folder)
    (folder / "b.csv").write_text("x,y\n1,oops\n")
    with pytest.raises(ConfigError, match=r"b.csv, line 2: not a number"):
        tasks_config(folder)


@pytest.mark.parametrize(("task", "message"), [
    ({"ranges": {"a": [0.0, 1.0]}}, "task.ranges: the 'tasks' family"),
    ({"noise_std": 0.5}, "task.noise_std"),
    ({"num_classes": 2}, "is not a class 0 to 1"),
    ({"dim_in": 3}, "task.dim_in: the task files have 1"),
    ({"held_out": 0.0}, "task.held_out"),
])
def test_options_that_do_not_fit_task_files_are_refused(npz, task, message):
    if "num_classes" in task:
        x, y = sine_tasks(5, 30)
        np.savez(npz, x=x, y=y)
    with pytest.raises(ConfigError) as refused:
        tasks_config(npz, **task)
    assert message in str(refused.value), str(refused.value)
