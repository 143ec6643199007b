"""The objects a config describes: task family, model, algorithm and baseline."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from maml_studio.algorithms import MetaLearner, Pretrained, build_learner
from maml_studio.config import ExperimentConfig
from maml_studio.losses import TaskKind, task_kind
from maml_studio.model import MLP
from maml_studio.tasks import TaskFamily, build_family


@dataclass
class Experiment:
    config: ExperimentConfig
    family: TaskFamily
    model: MLP
    learner: MetaLearner
    baseline: MetaLearner
    kind: TaskKind

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> Experiment:
        family = build_family(config.task)
        model = MLP.from_config(config.model, family.dim_in, family.dim_out)
        kind = task_kind(family.kind)
        learner = build_learner(config.algorithm.name, model, kind.loss, config.algorithm)
        baseline = Pretrained(model, kind.loss, config.algorithm)
        return cls(config, family, model, learner, baseline, kind)

    def query_scores(self, learner: MetaLearner, params, x, y) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-task query loss and, for classification, accuracy of adapted ``params``."""
        with torch.no_grad():
            output = self.model.forward(params, x)
            metric = None if self.kind.metric is None else self.kind.metric(output, y)
            return learner.loss_fn(output, y), metric


def seed_stream(seed: int, stream: str) -> torch.Generator:
    """An independent generator per purpose (init, data, validation) for one seed."""
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    generator = torch.Generator()
    generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return generator
