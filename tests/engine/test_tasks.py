import math

import pytest
import torch

from maml_studio.config_sections import TaskConfig
from maml_studio.errors import ConfigError
from maml_studio.tasks import FAMILY_NAMES, build_family, family_summaries, generator_for


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_every_family_samples_deterministic_batches_of_the_right_shape(name):
    family = build_family(TaskConfig(family=name))
    a = family.sample(7, 5, 9, generator_for(3))
    b = family.sample(7, 5, 9, generator_for(3))
    c = family.sample(7, 5, 9, generator_for(4))
    per_task = family.num_classes if family.kind == "classification" else 1  # K per class
    assert a.support_x.shape == (7, 5 * per_task, family.dim_in)
    assert a.support_y.shape == (7, 5 * per_task, family.target_dim)
    assert a.query_x.shape == (7, 9 * per_task, family.dim_in)
    assert a.query_y.shape == (7, 9 * per_task, family.target_dim)
    assert torch.equal(a.support_y, b.support_y) and torch.equal(a.query_x, b.query_x)
    assert not torch.equal(a.support_x, c.support_x)
    if family.kind == "regression":  # class labels come grouped by class, the same every time
        assert not torch.equal(a.support_y, c.support_y)
    assert torch.isfinite(a.support_y).all()


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_ground_truth_reproduces_noise_free_observations_on_any_x(name):
    family = build_family(TaskConfig(family=name))
    batch = family.sample(6, 4, 4, generator_for(0))
    assert torch.allclose(family.truth(batch.params, batch.support_x), batch.support_y)
    low, high = family.x_range
    if name not in ("moons", "blobs"):  # these draw inputs from their own distributions
        assert batch.support_x.min() >= low and batch.support_x.max() <= high
    far_x = torch.full((6, 3, family.dim_in), 100.0)
    assert family.truth(batch.params, far_x).shape == (6, 3, family.target_dim)
    assert family.describe(batch.params[0])


def test_sine_uses_the_paper_ranges_and_respects_user_ranges():
    family = build_family(TaskConfig())
    assert family.ranges == {"amplitude": (0.1, 5.0), "phase": (0.0, math.pi)}
    assert family.x_range == (-5.0, 5.0)
    wide = build_family(TaskConfig(ranges={"amplitude": [5.0, 10.0]}, x_range=[-8.0, 8.0]))
    params = wide.sample_params(500, generator_for(1))
    assert params[:, 0].min() >= 5.0 and params[:, 0].max() <= 10.0
    assert wide.sample_x(10, 50, generator_for(1)).abs().max() > 5.0
    x = torch.linspace(-5, 5, 11).reshape(1, 11, 1)
    expected = 2.0 * torch.sin(x - 0.5)
    assert torch.allclose(family.truth(torch.tensor([[2.0, 0.5]]), x), expected)


def test_observation_noise_is_added_only_when_asked():
    noisy = build_family(TaskConfig(noise_std=0.3))
    batch = noisy.sample(50, 10, 10, generator_for(0))
    residual = batch.support_y - noisy.truth(batch.params, batch.support_x)
    assert 0.25 < residual.std() < 0.35


def test_sine_line_mixture_draws_both_members_and_evaluates_each_correctly():
    family = build_family(TaskConfig(family="sine_line"))
    params = family.sample_params(400, generator_for(0))
    which = params[:, 0]
    assert 150 < (which == 0).sum() < 250
    x = torch.full((400, 1, 1), 1.0)
    y = family.truth(params, x)[:, 0, 0]
    sine = params[:, 1] * torch.sin(1.0 - params[:, 2])
    line = params[:, 1] * 1.0 + params[:, 2]
    assert torch.allclose(y, torch.where(which == 0, sine, line))
    assert family.describe(params[0]).split(":")[0] in ("Sine wave", "Line")


def test_multimodal_takes_any_subset_and_member_ranges():
    family = build_family(TaskConfig(family="multimodal", members=["cubic", "tanh"],
                                     ranges={"tanh.scale": [1.0, 2.0]}))
    assert [m.name for m in family.members] == ["cubic", "tanh"]
    params = family.sample_params(300, generator_for(0))
    tanh_rows = params[params[:, 0] == 1]
    assert tanh_rows[:, 1].min() >= 1.0 and tanh_rows[:, 1].max() <= 2.0
    assert len(build_family(TaskConfig(family="multimodal")).members) == 5


def test_linear_family_maps_d_inputs_to_m_outputs():
    family = build_family(TaskConfig(family="linear", dim_in=10, dim_out=5))
    batch = family.sample(3, 20, 5, generator_for(0))
    assert batch.support_x.shape == (3, 20, 10) and batch.support_y.shape == (3, 20, 5)
    weights, biases = family.split_params(batch.params)
    expected = torch.einsum("tmd,tnd->tnm", weights, batch.support_x) + biases[:, None]
    assert torch.allclose(batch.support_y, expected, atol=1e-5)


@pytest.mark.parametrize("task, message", [
    (TaskConfig(family="spiral"), "unknown family 'spiral'"),
    (TaskConfig(ranges={"frequency": [1.0, 2.0]}), "no parameter 'frequency'"),
    (TaskConfig(family="multimodal", members=["sine", "nope"]), "task.members"),
    (TaskConfig(family="sine", members=["line"]), "only the 'multimodal'"),
    (TaskConfig(family="sine", dim_in=3), "only the 'linear'"),
])
def test_bad_task_settings_are_refused_with_the_field_named(task, message):
    with pytest.raises(ConfigError, match=message):
        build_family(task)


def test_family_summaries_list_every_family_with_parameters():
    summaries = {s["name"]: s for s in family_summaries()}
    assert set(summaries) == set(FAMILY_NAMES)
    assert summaries["sine"]["parameters"]["amplitude"]["range"] == [0.1, 5.0]
    assert len(summaries) >= 13
