"""Search spaces: what SPACE.toml may say, and every refusal naming its field."""

import json
import subprocess
import sys

import pytest

from maml_studio.config import ExperimentConfig, load_preset
from maml_studio.sweep_space import SweepError, load_space, parse_space


class FakeTrial:
    """Records what a space asks of a trial and answers with the low end or the first choice."""

    def __init__(self):
        self.asked = {}

    def suggest_float(self, name, low, high, *, log=False, step=None):
        self.asked[name] = ("float", low, high, log, step)
        return low

    def suggest_int(self, name, low, high, *, log=False, step=1):
        self.asked[name] = ("int", low, high, log, step)
        return high

    def suggest_categorical(self, name, choices):
        self.asked[name] = ("choice", tuple(choices))
        return choices[-1]


def write(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path


def test_the_three_kinds_of_range_and_what_a_trial_is_asked(tmp_path):
    space = load_space(write(tmp_path, '''
"algorithm.inner_lr" = { low = 0.001, high = 0.5, log = true }
"algorithm.name" = ["maml", "fomaml", "reptile"]
"training.seed" = { int = [0, 9] }
"model.hidden" = [[40, 40], [80, 80]]
'''))
    assert space.fields == ["algorithm.inner_lr", "algorithm.name", "training.seed", "model.hidden"]
    trial = FakeTrial()
    values = space.suggest(trial)
    assert trial.asked["algorithm.inner_lr"] == ("float", 0.001, 0.5, True, None)
    assert trial.asked["algorithm.name"] == ("choice", ("maml", "fomaml", "reptile"))
    assert trial.asked["training.seed"] == ("int", 0, 9, False, 1)
    # Lists are not values Optuna stores: the study records them as JSON text.
    assert trial.asked["model.hidden"] == ("choice", ("[40, 40]", "[80, 80]"))
    assert values == {"algorithm.inner_lr": 0.001, "algorithm.name": "reptile", "training.seed": 9,
                      "model.hidden": [80, 80]}
    config = space.apply(ExperimentConfig(), values)
    assert config.algorithm.inner_lr == 0.001 and config.model.hidden == [80, 80]
    assert config.training.seed == 9 and config.algorithm.name == "reptile"
    assert json.loads(json.dumps(space.to_json()))[3]["choices"] == [[40, 40], [80, 80]]


def test_tables_of_sections_say_the_same_as_dotted_keys(tmp_path):
    dotted = load_space(write(tmp_path, '"algorithm.inner_lr" = { low = 0.01, high = 0.1 }\n'))
    tabled = load_space(write(tmp_path, '[algorithm]\ninner_lr = { low = 0.01, high = 0.1 }\n'))
    assert dotted == tabled


def test_grid_values(tmp_path):
    space = parse_space({"algorithm.support_size": [5, 10], "training.seed": {"int": [0, 4], "step": 2},
                         "algorithm.inner_lr": {"low": 0.01, "high": 0.03, "step": 0.01}})
    assert space.grid() == {"algorithm.support_size": [5, 10], "training.seed": [0, 2, 4],
                            "algorithm.inner_lr": [0.01, 0.02, 0.03]}
    assert space.grid_size() == 18
    with pytest.raises(SweepError, match=r"^algorithm.inner_lr: a grid needs a step"):
        parse_space({"algorithm.inner_lr": {"low": 0.01, "high": 0.1}}).grid()


@pytest.mark.parametrize(("data", "message"), [
    ({"algorithm.inner_rate": {"low": 0.1, "high": 0.2}}, r"^'algorithm.inner_rate': unknown field"),
    ({"optimiser.lr": [1, 2]}, r"^'optimiser.lr': unknown field"),
    ({"algorithm": {"inner_rate": [0.1]}}, r"^'algorithm.inner_rate': unknown field"),
    ({"algorithm.inner_lr": {"low": 0.5, "high": 0.1}}, r"^algorithm.inner_lr: low must be below high"),
    ({"algorithm.inner_lr": {"low": 0.1, "high": 0.1}}, r"^algorithm.inner_lr: low must be below high"),
    ({"task.noise_std": {"low": 0.0, "high": 1.0, "log": True}},
     r"^task.noise_std: a log range must start above 0"),
    ({"training.seed": {"int": [0, 9], "log": True}}, r"^training.seed: a log range must start above 0"),
    ({"algorithm.name": []}, r"^algorithm.name: the list of values is empty"),
    ({"algorithm.name": ["maml", "maml"]}, r"^algorithm.name: 'maml' is listed twice"),
    ({"algorithm.name": ["maml", "fast"]}, r"^algorithm.name: must be one of"),
    ({"algorithm.inner_lr": {"low": "small", "high": 0.1}},
     r"^algorithm.inner_lr: low must be a finite number"),
    ({"algorithm.inner_lr": {"low": 0.01}}, r"^algorithm.inner_lr: a float range needs both low and high"),
    ({"algorithm.inner_lr": {"lo": 0.01, "high": 0.1}}, r"^algorithm.inner_lr: unknown range key 'lo'"),
    ({"algorithm.inner_lr": {"low": 0.01, "high": 0.1, "log": "yes"}},
     r"^algorithm.inner_lr: log must be true or false"),
    ({"algorithm.inner_lr": 0.01}, r"^algorithm.inner_lr: expected a list of values or a range"),
    ({"algorithm.inner_lr": {"low": -1.0, "high": 0.1}}, r"^algorithm.inner_lr: must be > 0"),
    ({"algorithm.inner_lr": {"int": [1, 2]}}, r"^algorithm.inner_lr: \{ int = \[a, b\] \} suits only"),
    ({"training.seed": {"low": 0, "high": 9}}, r"^training.seed: a float range suits only a number field"),
    ({"training.seed": {"int": [0, 9.5]}}, r"^training.seed: int expects two whole numbers"),
    ({"training.seed": {"int": [9, 0]}}, r"^training.seed: low must be below high"),
    ({"training.seed": {"int": [0, 9], "step": 0}}, r"^training.seed: step of a whole-number range"),
    ({"algorithm.support_size": [5, "ten"]}, r"^algorithm.support_size: expected an integer"),
    ({"algorithm.first_order": {"low": 0, "high": 1}}, r"^algorithm.first_order: a float range suits only"),
    ({"model.hidden": [[40, 40], [0]]}, r"^model.hidden: up to 16 layers of 1 to 4096 units"),
    ({}, r"names no field"),
])
def test_refusals_name_the_field(data, message):
    with pytest.raises(SweepError, match=message):
        parse_space(data)


def test_an_extreme_that_makes_the_config_unusable_is_refused_before_anything_runs():
    config = load_preset("circle-2d")
    space = parse_space({"task.num_classes": [2, 3]})  # the circle family has two classes only
    with pytest.raises(SweepError, match=r"^task.num_classes"):
        space.check_against(config)
    parse_space({"algorithm.support_size": [5, 10]}).check_against(config)


def test_files_that_are_not_spaces(tmp_path):
    with pytest.raises(SweepError, match=r"space.toml: not valid TOML"):
        load_space(write(tmp_path, '"algorithm.inner_lr" = { low = 0.1, high = \n'))
    with pytest.raises(SweepError, match=r"missing.toml: no such file"):
        load_space(tmp_path / "missing.toml")


def test_the_command_refuses_a_bad_space_in_one_line_before_anything_is_made(tmp_path):
    space = write(tmp_path, '"algorithm.inner_rate" = { low = 0.001, high = 0.5 }\n')
    workspace = tmp_path / "workspace-never-made"
    result = subprocess.run(
        [sys.executable, "-m", "maml_studio", "sweep", "--preset", "sine-finn2017", "--space", str(space),
         "--workspace", str(workspace)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'algorithm.inner_rate': unknown field" in lines[0], result.stderr
    assert not workspace.exists()


def test_without_optuna_the_command_says_how_to_get_it(tmp_path):
    space = write(tmp_path, '"algorithm.inner_lr" = { low = 0.001, high = 0.5 }\n')
    code = ("import sys; sys.modules['optuna'] = None\n"  # as if it were not installed
            "from maml_studio.cli import main\n"
            f"sys.exit(main(['sweep', '--preset', 'sine-finn2017', '--space', {str(space)!r}]))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'maml-studio[sweep]'" in lines[0], result.stderr
