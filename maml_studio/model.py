"""A functional MLP: parameters are a plain dict of tensors, the forward pass a pure function.

``forward`` accepts parameters with or without a leading task dimension: with
weights ``[T, out, in]`` and inputs ``[T, N, in]`` every task runs through its
own weights in one batched matmul.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from maml_studio.config_sections import ModelConfig

Params = dict[str, torch.Tensor]

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


@dataclass(frozen=True)
class MLP:
    dim_in: int
    dim_out: int
    hidden: tuple[int, ...]
    activation: str = "relu"

    @classmethod
    def from_config(cls, config: ModelConfig, dim_in: int, dim_out: int) -> MLP:
        return cls(dim_in, dim_out, tuple(config.hidden), config.activation)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.dim_in, *self.hidden, self.dim_out)

    @property
    def num_layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def head_names(self) -> tuple[str, str]:
        """The last layer's parameters: what ANIL adapts."""
        last = self.num_layers - 1
        return (f"layer{last}.weight", f"layer{last}.bias")

    def shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            shapes[f"layer{i}.weight"] = (fan_out, fan_in)
            shapes[f"layer{i}.bias"] = (fan_out,)
        return shapes

    def init_params(self, generator: torch.Generator) -> Params:
        """The initialisation of ``torch.nn.Linear``: U(±1/√fan_in) for weights and biases."""
        params = {}
        for name, shape in self.shapes().items():
            fan_in = self.sizes[int(name[5:name.index(".")])]
            bound = 1.0 / math.sqrt(fan_in)
            params[name] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
        return params

    def forward(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        act = _ACTIVATIONS[self.activation]
        h = x
        for i in range(self.num_layers):
            weight, bias = params[f"layer{i}.weight"], params[f"layer{i}.bias"]
            h = torch.matmul(h, weight.transpose(-1, -2)) + bias.unsqueeze(-2)
            if i < self.num_layers - 1:
                h = act(h)
        return h

    def num_parameters(self) -> int:
        return sum(math.prod(s) for s in self.shapes().values())
