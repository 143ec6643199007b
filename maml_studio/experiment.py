"""The objects a config describes: task family, model, algorithm and baseline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from maml_studio.algorithms import MetaLearner, Pretrained, build_learner
from maml_studio.config import ExperimentConfig
from maml_studio.losses import loss_for
from maml_studio.model import MLP
from maml_studio.tasks import TaskFamily, build_family


@dataclass
class Experiment:
    config: ExperimentConfig
    family: TaskFamily
    model: MLP
    learner: MetaLearner
    baseline: MetaLearner

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> Experiment:
        family = build_family(config.task)
        model = MLP.from_config(config.model, family.dim_in, family.dim_out)
        loss = loss_for(family.kind)
        learner = build_learner(config.algorithm.name, model, loss, config.algorithm)
        baseline = Pretrained(model, loss, config.algorithm)
        return cls(config, family, model, learner, baseline)


def seed_stream(seed: int, stream: str) -> torch.Generator:
    """An independent generator per purpose (init, data, validation) for one seed."""
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return generator
