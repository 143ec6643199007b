"""Meta-learning algorithms behind one interface (`MetaLearner`)."""

from __future__ import annotations

import dataclasses

from maml_studio.algorithms.anil import ANIL
from maml_studio.algorithms.base import MetaLearner
from maml_studio.algorithms.maml import MAML
from maml_studio.algorithms.maml_plus_plus import MAMLPlusPlus
from maml_studio.algorithms.metasgd import MetaSGD
from maml_studio.algorithms.pretrained import Pretrained
from maml_studio.algorithms.reptile import Reptile
from maml_studio.config_sections import MAML_PLUS_PLUS, AlgorithmConfig
from maml_studio.losses import LossFn
from maml_studio.model import MLP

__all__ = ["ALGORITHM_CLASSES", "MAMLPlusPlus", "MetaLearner", "Pretrained", "build_learner"]

ALGORITHM_CLASSES: dict[str, type[MetaLearner]] = {
    "maml": MAML, "fomaml": MAML, "reptile": Reptile, "metasgd": MetaSGD, "anil": ANIL,
    "pretrained": Pretrained,
}


def build_learner(name: str, model: MLP, loss_fn: LossFn, config: AlgorithmConfig) -> MetaLearner:
    if name == "fomaml":
        config = dataclasses.replace(config, first_order=True)
    if name in ("maml", "fomaml") and any(getattr(config, option) for option in MAML_PLUS_PLUS):
        return MAMLPlusPlus(model, loss_fn, config)  # only then: the defaults are plain MAML
    return ALGORITHM_CLASSES[name](model, loss_fn, config)
