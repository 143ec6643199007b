"""What a task family is: parameter ranges, an x range, noise, and a ground truth.

A family samples task parameters (a tensor ``[tasks, P]``), evaluates the
ground truth of each task on any inputs, and draws support/query batches
shaped ``[tasks, points, dim]``. Sampling uses an explicit ``torch.Generator``
on the CPU, so a seed determines every batch whatever the training device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from maml_studio.errors import ConfigError

# Parameter and input ranges beyond this make float32 losses overflow.
MAX_MAGNITUDE = 1e4


@dataclass(frozen=True)
class ParamSpec:
    """One task parameter, drawn uniformly from [low, high] unless the family says otherwise."""

    name: str
    symbol: str
    low: float
    high: float
    description: str


@dataclass
class TaskBatch:
    """Support and query sets of a batch of tasks, each ``[tasks, points, dim]``."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    params: torch.Tensor

    @property
    def num_tasks(self) -> int:
        return self.support_x.shape[0]

    def to(self, device: torch.device | str) -> TaskBatch:
        return TaskBatch(*(t.to(device) for t in (
            self.support_x, self.support_y, self.query_x, self.query_y, self.params)))

    def split(self, num_tasks: int) -> list[TaskBatch]:
        """Cut a large batch into consecutive batches of ``num_tasks`` tasks."""
        parts = zip(*(t.split(num_tasks) for t in (
            self.support_x, self.support_y, self.query_x, self.query_y, self.params)), strict=True)
        return [TaskBatch(*p) for p in parts]


class TaskFamily:
    """Base class: subclasses set the class attributes and implement `truth`."""

    name: str = ""
    title: str = ""
    description: str = ""
    kind: str = "regression"
    dim_in: int = 1
    dim_out: int = 1
    default_x_range: tuple[float, float] = (-5.0, 5.0)
    param_specs: tuple[ParamSpec, ...] = ()
    has_truth: bool = True  # False where tasks are measured points without a function

    def __init__(
        self,
        ranges: dict[str, list[float]] | None = None,
        x_range: list[float] | tuple[float, float] | None = None,
        noise_std: float = 0.0,
    ) -> None:
        self.ranges = {p.name: (p.low, p.high) for p in self.param_specs}
        for name, bounds in (ranges or {}).items():
            if name not in self.ranges:
                allowed = ", ".join(self.ranges) or "none"
                raise ConfigError(
                    f"task.ranges: family '{self.name}' has no parameter '{name}' "
                    f"(its parameters: {allowed})"
                )
            low, high = float(bounds[0]), float(bounds[1])
            if not (abs(low) <= MAX_MAGNITUDE and abs(high) <= MAX_MAGNITUDE and low <= high):
                raise ConfigError(f"task.ranges.{name}: expected low <= high within "
                                  f"±{MAX_MAGNITUDE:g}, got {bounds}")
            self.ranges[name] = (low, high)
        self.x_range = tuple(float(v) for v in (x_range or self.default_x_range))
        if not (self.x_range[0] < self.x_range[1] and max(map(abs, self.x_range)) <= MAX_MAGNITUDE):
            raise ConfigError(f"task.x_range: expected low < high within ±{MAX_MAGNITUDE:g}, "
                              f"got {list(self.x_range)}")
        if not (math.isfinite(noise_std) and noise_std >= 0):
            raise ConfigError(f"task.noise_std: must be >= 0, got {noise_std}")
        self.noise_std = float(noise_std)

    # -- what subclasses provide ------------------------------------------------------------
    def truth(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Noise-free outputs ``[T, N, dim_out]`` of tasks ``params [T, P]`` at ``x [T, N, dim_in]``."""
        raise NotImplementedError

    def sample_params(self, num_tasks: int, generator: torch.Generator) -> torch.Tensor:
        low = torch.tensor([self.ranges[p.name][0] for p in self.param_specs])
        high = torch.tensor([self.ranges[p.name][1] for p in self.param_specs])
        u = torch.rand(num_tasks, len(self.param_specs), generator=generator)
        return low + (high - low) * u

    def describe(self, params: torch.Tensor) -> str:
        """One task's parameters in words, e.g. ``A = 3.20, φ = 1.10``."""
        return ", ".join(
            f"{p.symbol} = {float(v):.2f}" for p, v in zip(self.param_specs, params, strict=True)
        )

    # -- shared machinery ---------------------------------------------------------------------
    def evaluation_family(self) -> TaskFamily:
        """The family validation, evaluation and Sample task draw from (held-out tasks)."""
        return self

    @property
    def num_params(self) -> int:
        return len(self.param_specs)

    @property
    def target_dim(self) -> int:
        """Columns of y in a task's points (class indices take one)."""
        return self.dim_out

    def sample_x(self, num_tasks: int, num_points: int, generator: torch.Generator) -> torch.Tensor:
        low, high = self.x_range
        u = torch.rand(num_tasks, num_points, self.dim_in, generator=generator)
        return low + (high - low) * u

    def observe(self, params: torch.Tensor, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        y = self.truth(params, x)
        if self.noise_std > 0:
            y = y + self.noise_std * torch.randn(y.shape, generator=generator)
        return y

    def sample(
        self,
        num_tasks: int,
        support_size: int,
        query_size: int,
        generator: torch.Generator,
    ) -> TaskBatch:
        params = self.sample_params(num_tasks, generator)
        x = self.sample_x(num_tasks, support_size + query_size, generator)
        y = self.observe(params, x, generator)
        return TaskBatch(
            x[:, :support_size], y[:, :support_size],
            x[:, support_size:], y[:, support_size:], params,
        )

    def grid(self, num_points: int = 200) -> torch.Tensor:
        """Evenly spaced inputs ``[num_points, 1]`` over the x range (1-D families)."""
        return torch.linspace(*self.x_range, num_points).unsqueeze(-1)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "kind": self.kind,
            "dim_in": self.dim_in,
            "dim_out": self.dim_out,
            "x_range": list(self.x_range),
            "noise_std": self.noise_std,
            "parameters": {
                p.name: {"symbol": p.symbol, "range": list(self.ranges[p.name]),
                         "description": p.description}
                for p in self.param_specs
            },
        }


def generator_for(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
