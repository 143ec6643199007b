"""d-dimensional linear regression with m outputs: y = W·x + b."""

from __future__ import annotations

import torch

from maml_studio.errors import ConfigError
from maml_studio.tasks.base import ParamSpec, TaskFamily


class LinearRegression(TaskFamily):
    name = "linear"
    title = "Linear regression (d → m)"
    description = "y = W·x + b with W of shape m×d and b of size m drawn uniformly."
    default_x_range = (-1.0, 1.0)
    param_specs = (
        ParamSpec("weight", "W", -1.0, 1.0, "Range of every weight"),
        ParamSpec("bias", "b", -1.0, 1.0, "Range of every bias"),
    )

    def __init__(self, dim_in: int = 10, dim_out: int = 1, ranges=None, x_range=None,
                 noise_std: float = 0.0) -> None:
        if not (1 <= dim_in <= 1000 and 1 <= dim_out <= 1000):
            raise ConfigError(f"task.dim_in/dim_out: must be 1 to 1000, got {dim_in} → {dim_out}")
        self.dim_in, self.dim_out = dim_in, dim_out
        super().__init__(ranges, x_range, noise_std)

    @property
    def num_params(self) -> int:
        return self.dim_out * self.dim_in + self.dim_out

    def sample_params(self, num_tasks, generator):
        u = torch.rand(num_tasks, self.num_params, generator=generator)
        n_weights = self.dim_out * self.dim_in
        (w_low, w_high), (b_low, b_high) = self.ranges["weight"], self.ranges["bias"]
        weights = w_low + (w_high - w_low) * u[:, :n_weights]
        biases = b_low + (b_high - b_low) * u[:, n_weights:]
        return torch.cat([weights, biases], dim=1)

    def split_params(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n_weights = self.dim_out * self.dim_in
        weights = params[..., :n_weights].reshape(*params.shape[:-1], self.dim_out, self.dim_in)
        return weights, params[..., n_weights:]

    def truth(self, params, x):
        weights, biases = self.split_params(params)
        return x @ weights.transpose(-1, -2) + biases[:, None, :]

    def describe(self, params):
        weights, biases = self.split_params(params)
        return (f"W: {self.dim_out}×{self.dim_in}, |W| mean {weights.abs().mean():.2f}; "
                f"b = [{', '.join(f'{v:.2f}' for v in biases[:4].tolist())}"
                f"{', …' if self.dim_out > 4 else ''}]")

    def grid(self, num_points: int = 200):
        raise ValueError("the linear family has no 1-D grid; give query inputs explicitly")
