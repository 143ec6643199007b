"""Families that mix other families: each task comes from one member, chosen uniformly."""

from __future__ import annotations

import torch

from maml_studio.errors import ConfigError
from maml_studio.tasks.base import ParamSpec, TaskFamily


class Mixture(TaskFamily):
    """Tasks drawn uniformly from member families; parameter names are ``member.param``.

    A task's parameter row is ``[member index, member parameters…, padding]``.
    """

    name = "mixture"
    title = "Mixture"
    description = "Each task comes from one of the member families, chosen uniformly."

    def __init__(
        self,
        members: list[TaskFamily],
        ranges: dict[str, list[float]] | None = None,
        x_range=None,
        noise_std: float = 0.0,
    ) -> None:
        if not members:
            raise ConfigError("task.members: a mixture needs at least one family")
        self.members = members
        self.param_specs = tuple(
            ParamSpec(f"{m.name}.{p.name}", p.symbol, *m.ranges[p.name], p.description)
            for m in members for p in m.param_specs
        )
        super().__init__(ranges, x_range, noise_std)
        for member in members:
            for p in member.param_specs:
                member.ranges[p.name] = self.ranges[f"{member.name}.{p.name}"]

    @property
    def num_params(self) -> int:
        return 1 + max(m.num_params for m in self.members)

    def sample_params(self, num_tasks, generator):
        which = torch.randint(0, len(self.members), (num_tasks,), generator=generator)
        params = torch.zeros(num_tasks, self.num_params)
        params[:, 0] = which.float()
        for index, member in enumerate(self.members):
            sampled = member.sample_params(num_tasks, generator)
            chosen = which == index
            params[chosen, 1:1 + member.num_params] = sampled[chosen]
        return params

    def truth(self, params, x):
        which = params[:, 0].round().long()
        y = torch.zeros(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)
        for index, member in enumerate(self.members):
            member_y = member.truth(params[:, 1:1 + member.num_params], x)
            y = torch.where((which == index)[:, None, None], member_y, y)
        return y

    def member_of(self, params: torch.Tensor) -> TaskFamily:
        return self.members[int(params[0].round())]

    def describe(self, params):
        member = self.member_of(params)
        return f"{member.title}: {member.describe(params[1:1 + member.num_params])}"

    def summary(self):
        info = super().summary()
        info["members"] = [m.name for m in self.members]
        return info
