import json

import pytest

from maml_studio.config import ExperimentConfig, load_config, load_preset, save_config
from maml_studio.config_sections import field_help
from maml_studio.errors import ConfigError
from maml_studio.resources import preset_names

REQUIRED_PRESETS = {"sine-finn2017", "sine-line", "multimodal", "reptile-sine", "linear-10-5"}


def test_defaults_are_the_paper_sine_setup():
    config = ExperimentConfig()
    assert config.task.family == "sine"
    assert config.model.hidden == [40, 40] and config.model.activation == "relu"
    assert config.algorithm.name == "maml" and not config.algorithm.first_order
    assert config.algorithm.inner_lr == 0.01 and config.training.meta_batch_size == 25
    assert config.training.outer_lr == 0.001


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_config_round_trips_through_files(tmp_path, suffix):
    config = ExperimentConfig()
    config.set("task.ranges", {"amplitude": [5, 10]})
    config.set("algorithm.name", "metasgd")
    config.set("training.seed", 42)
    path = tmp_path / f"run{suffix}"
    save_config(config, path)
    assert load_config(path).to_dict() == config.to_dict()


def test_a_partial_document_takes_defaults_for_the_rest(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[algorithm]\ninner_lr = 0.05\n')
    config = load_config(path)
    assert config.algorithm.inner_lr == 0.05 and config.training.iterations == 70000


@pytest.mark.parametrize("text, message", [
    ("[trainig]\nseed = 1\n", "unknown section 'trainig'"),
    ("[training]\nsed = 1\n", r"unknown field 'training.sed' \(allowed in \[training\]"),
    ("[training]\nseed = 'one'\n", "training.seed: expected an integer"),
    ("[training]\nouter_lr = -1.0\n", r"training.outer_lr: must be > 0.0"),
    ("[algorithm]\nname = 'mamal'\n", "algorithm.name: must be one of maml, fomaml"),
    ("[model]\nhidden = [40, 0]\n", "model.hidden"),
    ("[task]\nx_range = [5, -5]\n", "task.x_range"),
    ("[training]\nmeta_batch_size = true\n", "expected an integer"),
    ("[task\nfamily = 'sine'\n", "not valid TOML"),
])
def test_bad_documents_are_refused_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_json_documents_and_missing_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"training": {"iterations": 5}}))
    assert load_config(path).training.iterations == 5
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_command_line_assignments_are_parsed_as_toml_values():
    config = ExperimentConfig()
    config.set_from_string("algorithm.inner_lr=0.02")
    config.set_from_string("algorithm.name=reptile")
    config.set_from_string("model.hidden=[64, 64]")
    assert config.algorithm.inner_lr == 0.02 and config.algorithm.name == "reptile"
    assert config.model.hidden == [64, 64]
    with pytest.raises(ConfigError, match=r"expects section\.field=value"):
        config.set_from_string("algorithm.inner_lr")


def test_every_field_has_a_help_sentence():
    for section, values in ExperimentConfig().to_dict().items():
        for name in values:
            assert field_help(f"{section}.{name}").endswith(".")


def test_required_presets_ship_and_load():
    assert set(preset_names()) >= REQUIRED_PRESETS
    for name in preset_names():
        load_preset(name)
    paper = load_preset("sine-finn2017")
    assert paper.training.iterations == 70000 and paper.algorithm.inner_lr == 0.01
    assert load_preset("linear-10-5").task.dim_out == 5
    with pytest.raises(ConfigError, match="unknown preset"):
        load_preset("nope")
