"""The MAML++ options in the experiment form: a field each, with its tooltip; disabled, and
left at their defaults, for algorithms that do not have them."""

from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import field_help
from maml_studio.gui.experiment_panel import MAML_PLUS_PLUS_KEYS, ExperimentPanel


def test_maml_plus_plus_options_are_fields_with_tooltips_that_reach_the_config(qtbot):
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    for key in MAML_PLUS_PLUS_KEYS:
        editor = panel.editors[key]
        assert editor.widget.isEnabled() and editor.widget.toolTip() == field_help(key)
        assert "MAML++" in editor.label
    assert panel.config().to_dict() == ExperimentConfig().to_dict()  # the defaults: plain MAML
    panel.editors["algorithm.multi_step_loss_iterations"].set_value(500)
    panel.editors["algorithm.learned_step_rates"].set_value(True)
    panel.editors["algorithm.first_order_iterations"].set_value(200)
    panel.editors["training.lr_decay"].set_value("cosine")
    config = panel.config()
    assert config.algorithm.multi_step_loss_iterations == 500
    assert config.algorithm.learned_step_rates and config.algorithm.first_order_iterations == 200
    assert config.training.lr_decay == "cosine"
    panel.set_config(config)  # and back from a config (a checkpoint's, a preset's)
    assert panel.editors["algorithm.learned_step_rates"].value() is True


def test_options_an_algorithm_lacks_are_disabled_say_why_and_keep_their_defaults(qtbot):
    panel = ExperimentPanel()
    qtbot.addWidget(panel)
    panel.editors["algorithm.learned_step_rates"].set_value(True)
    panel.editors["algorithm.first_order_iterations"].set_value(100)
    panel.editors["algorithm.name"].set_value("reptile")
    for key in MAML_PLUS_PLUS_KEYS:
        widget = panel.editors[key].widget
        assert not widget.isEnabled() and "not for reptile" in widget.toolTip()
    config = panel.config()  # refused options of MAML do not block a Reptile run
    assert not config.algorithm.learned_step_rates and config.algorithm.first_order_iterations == 0
    panel.editors["algorithm.name"].set_value("fomaml")
    assert panel.editors["algorithm.learned_step_rates"].widget.isEnabled()
    assert not panel.editors["algorithm.first_order_iterations"].widget.isEnabled()
    assert panel.config().algorithm.learned_step_rates
