"""A family made of the user's own tasks (``family = "tasks"``), split into two parts.

A seeded split (``task.split_seed``, share ``task.held_out``) divides the
tasks into meta-training tasks and held-out tasks; `sample` draws from the
first, `evaluation_family` gives a view that draws from the second (for
validation, ``eval`` and Sample task). Support and query points are drawn
without replacement from a task's points, K + Q of them (per class for
classification), in one batched operation. A task's parameters are its index.

Without its files (a checkpoint opened elsewhere) the family keeps the
recorded dimensions so the model still adapts clicked points, and sampling
says that it needs the files.
"""

from __future__ import annotations

from pathlib import Path

import torch

from maml_studio.errors import ConfigError
from maml_studio.tasks.base import TaskBatch, TaskFamily
from maml_studio.tasks.task_files import TaskData, load_task_data

TASK_FILES_HELP = """\
A folder of CSV files, one task each (columns x or x1..xd, then y or y1..ym, as
`adapt` reads them), or one NPZ with x [T, N, d] and y [T, N, m] (or x [P, d],
y [P, m] and an integer task [P] for tasks of different sizes). Set
task.num_classes for integer class labels in y. task.held_out of the tasks
(split by task.split_seed) are held out for validation, eval and Sample task;
support and query points are drawn without replacement from each task.
Example:
    [task]
    family = "tasks"
    path = "my_tasks.npz"
    held_out = 0.2"""


class TaskFileFamily(TaskFamily):
    name = "tasks"
    title = "Task files…"
    description = ("Your own tasks: a folder of CSV files, one task each, or an NPZ with "
                   "x [T, N, d] and y [T, N, m]; task.held_out of them are held out.")
    has_truth = False

    def __init__(self, path: str, held_out: float = 0.2, split_seed: int = 0,
                 num_classes: int = 0, dim_in: int = 0, dim_out: int = 0,
                 noise_std: float = 0.0) -> None:
        if not isinstance(path, str) or not path.strip():
            raise ConfigError("task.path: give a folder of CSV task files or an .npz file")
        if noise_std:
            raise ConfigError("task.noise_std: the 'tasks' family uses the measured values as "
                              "they are")
        self.path = path
        self.num_classes = num_classes
        self.kind = "classification" if num_classes else "regression"
        self.held_out = held_out
        self.label_noise, self.class_balance = 0.0, []  # measured labels are used as they are
        self.data: TaskData | None = None
        self.missing = ""
        self.digest = ""
        try:
            self.data = load_task_data(path)
        except ConfigError as exc:
            if not Path(path).expanduser().exists() and dim_in:
                self.missing = str(exc)  # a recorded family whose files are elsewhere
            else:
                raise
        if self.data is None:
            self.dim_in = dim_in
            self.dim_out = dim_out or (1 if num_classes in (0, 2) else num_classes)
            self.train_tasks = self.held_tasks = torch.zeros(0, dtype=torch.long)
            super().__init__(None, None, 0.0)
            return
        data = self.data
        self.digest = data.digest
        self.dim_in = data.x.shape[-1]
        self._check_targets(data, num_classes)
        self.dim_out = (1 if num_classes == 2 else num_classes) if num_classes else data.y.shape[-1]
        valid = torch.arange(data.x.shape[1]) < data.counts[:, None]
        self.class_counts = torch.stack(  # [T, classes]: points of each class in each task
            [((data.y[..., 0] == c) & valid).sum(1) for c in range(num_classes)], dim=1) \
            if num_classes else torch.zeros(data.num_tasks, 0, dtype=torch.long)
        for field, given, found in (("dim_in", dim_in, self.dim_in), ("dim_out", dim_out, self.dim_out)):
            if given and given != found:
                raise ConfigError(f"task.{field}: the task files have {found}, the config says "
                                  f"{given}")
        if data.num_tasks < 2:
            raise ConfigError(f"task.path: {path}: {data.num_tasks} task; at least 2 are needed "
                              f"(some to train on, some held out)")
        order = torch.randperm(data.num_tasks, generator=torch.Generator().manual_seed(split_seed))
        held = min(max(1, round(data.num_tasks * held_out)), data.num_tasks - 1)
        self.held_tasks, self.train_tasks = order[:held].sort().values, order[held:].sort().values
        low = float(data.x[valid].min())
        high = float(data.x[valid].max())
        super().__init__(None, [low, high] if low < high else [low - 1, low + 1], 0.0)

    @staticmethod
    def _check_targets(data: TaskData, num_classes: int) -> None:
        if not num_classes:
            return
        if data.y.shape[-1] != 1:
            raise ConfigError(f"task.path: a classifier's tasks need one y column of class labels, "
                              f"found {data.y.shape[-1]}")
        valid = torch.arange(data.x.shape[1]) < data.counts[:, None]
        labels = data.y[..., 0]
        bad = valid & ((labels != labels.round()) | (labels < 0) | (labels >= num_classes))
        if bad.any():
            task, point = (int(i) for i in bad.nonzero()[0])
            raise ConfigError(f"task.path: {data.names[task]}, point {point + 1}: label "
                              f"{float(labels[task, point])!r} is not a class 0 to {num_classes - 1}")

    # -- sampling -----------------------------------------------------------------------------------
    def evaluation_family(self) -> TaskFileFamily:
        """The same family drawing from the held-out tasks only."""
        view = object.__new__(TaskFileFamily)
        view.__dict__.update(self.__dict__)
        view.train_tasks = self.held_tasks
        return view

    def _need_data(self) -> TaskData:
        if self.data is None:
            raise ConfigError(f"sampling tasks needs the task files ({self.missing}); "
                              f"the model still adapts to points you give it")
        return self.data

    def sample_params(self, num_tasks, generator):
        pool = self.train_tasks
        if num_tasks <= len(pool):
            chosen = pool[torch.randperm(len(pool), generator=generator)[:num_tasks]]
        else:
            chosen = pool[torch.randint(len(pool), (num_tasks,), generator=generator)]
        return chosen.to(torch.float32).unsqueeze(-1)

    def sample(self, num_tasks, support_size, query_size, generator) -> TaskBatch:
        data = self._need_data()
        params = self.sample_params(num_tasks, generator)
        tasks = params[:, 0].long()
        if self.kind == "classification":
            return self._sample_classes(data, tasks, params, support_size, query_size, generator)
        wanted = support_size + query_size
        self._check_sizes(data, data.counts, wanted, "points")
        index = self._draw(data, tasks, None, wanted, generator)
        x, y = self._gather(data, tasks, index)
        return TaskBatch(x[:, :support_size], y[:, :support_size],
                         x[:, support_size:], y[:, support_size:], params)

    def _sample_classes(self, data, tasks, params, shots, query, generator) -> TaskBatch:
        parts = []
        for cls in range(self.num_classes):
            self._check_sizes(data, self.class_counts[:, cls], shots + query,
                              f"points of class {cls}")
            parts.append(self._draw(data, tasks, cls, shots + query, generator))
        support = torch.cat([p[:, :shots] for p in parts], dim=1)
        query_index = torch.cat([p[:, shots:] for p in parts], dim=1)
        sx, sy = self._gather(data, tasks, support)
        qx, qy = self._gather(data, tasks, query_index)
        return TaskBatch(sx, sy, qx, qy, params)

    @staticmethod
    def _valid(data: TaskData, tasks: torch.Tensor) -> torch.Tensor:
        return torch.arange(data.x.shape[1]) < data.counts[tasks, None]

    def _draw(self, data, tasks, cls, count, generator) -> torch.Tensor:
        """Indices ``[T, count]`` of distinct points of each task (of class ``cls`` if given)."""
        keys = torch.rand(len(tasks), data.x.shape[1], generator=generator)
        allowed = self._valid(data, tasks)
        if cls is not None:
            allowed &= data.y[tasks, :, 0] == cls
        keys = torch.where(allowed, keys, torch.full_like(keys, 2.0))
        return keys.topk(count, dim=1, largest=False).indices

    @staticmethod
    def _gather(data, tasks, index) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.gather(data.x[tasks], 1, index.unsqueeze(-1).expand(-1, -1, data.x.shape[-1]))
        y = torch.gather(data.y[tasks], 1, index.unsqueeze(-1).expand(-1, -1, data.y.shape[-1]))
        return x, y

    @staticmethod
    def _check_sizes(data, have, wanted, what) -> None:
        """Every task (meta-training and held out) must give ``wanted`` distinct points."""
        short = have < wanted
        if short.any():
            task = int(short.nonzero()[0, 0])
            raise ConfigError(f"task.path: {data.names[task]} has {int(have[task])} {what}; a "
                              f"task needs support + query = {wanted} (algorithm.support_size + "
                              f"algorithm.query_size{', per class' if 'class' in what else ''})")

    def largest_query(self, support_size: int) -> int:
        """Most query points (per class) every held-out task can give next to K support points."""
        if self.data is None or not len(self.held_tasks):
            return 0
        data, tasks = self.data, self.held_tasks
        if self.kind == "classification":
            return int(self.class_counts[tasks].min()) - support_size
        return int(data.counts[tasks].min()) - support_size

    # -- description --------------------------------------------------------------------------------
    def truth(self, params, x):
        raise ConfigError("a task from files has measured points only, no formula to draw")

    def labels(self, params, x):
        raise ConfigError("a task from files has measured labels only, no boundary to draw")

    def plane(self, resolution: int = 100) -> torch.Tensor:
        axis = torch.linspace(*self.x_range, resolution)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([xs.flatten(), ys.flatten()], dim=-1)

    @property
    def num_params(self) -> int:
        return 1

    @property
    def target_dim(self) -> int:
        return 1 if self.kind == "classification" else self.dim_out

    def describe(self, params: torch.Tensor) -> str:
        index = int(params[0])
        if self.data is None or not 0 <= index < self.data.num_tasks:
            return f"task {index + 1}"
        return f"{self.data.names[index]} ({int(self.data.counts[index])} points)"

    def summary(self) -> dict:
        info = {**super().summary(), "path": self.path, "sha256": self.digest,
                "held_out": self.held_out}
        if self.data is not None:
            info.update(tasks=self.data.num_tasks, training_tasks=len(self.train_tasks),
                        held_out_tasks=len(self.held_tasks))
        if self.kind == "classification":
            info["num_classes"] = self.num_classes
        return info
