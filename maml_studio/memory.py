"""A run's peak memory, estimated from its config before anything is allocated.

Every field of a config may be within its range and the whole still need more
memory than the machine has (10 000 support points in each of 100 000 tasks).
`check_memory` refuses such a run with the estimate and the field to change;
`tasks_per_chunk` sizes the chunks that validation and evaluation run in, so
their memory does not grow with the number of tasks.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from maml_studio.config import ExperimentConfig
from maml_studio.errors import ConfigError
from maml_studio.tasks import build_family

FLOAT = 4  # bytes per float32
SAMPLE_CHUNK = 64  # meta-batches sampled at once (the trainer's constant)
CHUNK_BUDGET = 256 * 2**20  # bytes one chunk of validation or evaluation tasks may use
ACTIVATION_COPIES = 6  # forward values, their gradients and the second-order graph
BASE_BYTES = 64 * 2**20  # parameters, optimiser state and small buffers, generously


@dataclass(frozen=True)
class MemoryEstimate:
    total: int  # bytes at the peak
    parts: dict[str, int]  # what needs them, largest first
    fields: dict[str, tuple[str, ...]]  # the fields that drive each part

    @property
    def largest(self) -> str:
        return max(self.parts, key=self.parts.__getitem__)


def _shape(config: ExperimentConfig) -> tuple[int, int, int, int, int]:
    """Points per task (support, query), input and target width, and activations per point."""
    family = build_family(config.task)
    ways = family.num_classes if family.kind == "classification" else 1
    support = config.algorithm.support_size * ways
    query = config.algorithm.query_size * ways
    target = 1 if family.kind == "classification" else family.dim_out
    widths = family.dim_in + sum(config.model.hidden) + family.dim_out
    return support, query, family.dim_in, target, widths


def _parameters(config: ExperimentConfig, dim_in: int, dim_out: int) -> int:
    sizes = [dim_in, *config.model.hidden, dim_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def estimate(config: ExperimentConfig) -> MemoryEstimate:
    """Bytes the run needs at its peak: sampled data, one meta-step, one validation chunk."""
    support, query, dim_in, target, widths = _shape(config)
    alg, cfg = config.algorithm, config.training
    dim_out = build_family(config.task).dim_out
    params = _parameters(config, dim_in, dim_out)
    learners = 2 if cfg.train_baseline else 1
    point = (dim_in + target) * FLOAT
    per_task_step = (support + query) * widths * FLOAT * ACTIVATION_COPIES + 3 * params * FLOAT
    chunk = tasks_per_chunk(config, support + query)
    parts = {
        "sampled meta-batches": 2 * SAMPLE_CHUNK * cfg.meta_batch_size * (support + query) * point,
        "the meta-step": learners * cfg.meta_batch_size * per_task_step * alg.inner_steps,
        "validation": cfg.validation_tasks * (support + query) * point
        + chunk * ((support + query) * widths * FLOAT * 3 + 4 * params * FLOAT),
    }
    fields = {
        "sampled meta-batches": ("training.meta_batch_size", "algorithm.support_size",
                                 "algorithm.query_size"),
        "the meta-step": ("training.meta_batch_size", "algorithm.support_size",
                          "algorithm.inner_steps", "model.hidden"),
        "validation": ("training.validation_tasks", "algorithm.support_size"),
    }
    ordered = dict(sorted(parts.items(), key=lambda item: -item[1]))
    return MemoryEstimate(BASE_BYTES + sum(parts.values()), ordered, fields)


def tasks_per_chunk(config: ExperimentConfig, points: int, budget: int = CHUNK_BUDGET) -> int:
    """Tasks adapted together in validation or evaluation: as many as ``budget`` allows."""
    per_task = max(1, points * (sum(config.model.hidden) + 2) * FLOAT * 3)
    return max(1, min(1000, budget // per_task))


def available_memory() -> int | None:
    """Bytes of memory available to a new run now (None where it cannot be told)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: ExperimentConfig, available: int | None = None) -> MemoryEstimate:
    """The estimate; a `ConfigError` naming it and the field to lower if it does not fit."""
    result = estimate(config)
    available = available_memory() if available is None else available
    if available is not None and result.total > 0.8 * available:
        part = result.largest
        first, *others = result.fields[part]
        raise ConfigError(
            f"{first}: this run needs about {format_bytes(result.total)} of memory "
            f"({format_bytes(result.parts[part])} for {part}), {format_bytes(available)} is "
            f"available; lower {first} (now {_value(config, first)})"
            + (f" or {', '.join(others)}" if others else ""))
    return result


def _value(config: ExperimentConfig, dotted: str):
    section, _, name = dotted.partition(".")
    return getattr(getattr(config, section), name)


def format_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if count < 1024 or unit == "PB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} PB"
