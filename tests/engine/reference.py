"""Plain per-task reference meta-gradients written with torch.autograd.grad.

Deliberately naive (a Python loop over tasks, `create_graph` for second
order) so that the vectorised engine can be checked against it.
"""

from __future__ import annotations

import torch


def _forward(model, params, x):
    return model.forward(params, x)


def _loss(model, params, x, y):
    return ((_forward(model, params, x) - y) ** 2).mean()


def _classification_loss(model, params, x, y):
    """torch's own cross-entropy on class labels ``y [points, 1]``."""
    output = _forward(model, params, x)
    if output.shape[-1] == 1:
        return torch.nn.functional.binary_cross_entropy_with_logits(output, y)
    return torch.nn.functional.cross_entropy(output, y[:, 0].long())


def inner_adapt(model, params, rates, names, x, y, steps, second_order, loss_fn=_loss,
                trajectory=False):
    """Parameters after ``steps`` SGD steps (every step's with ``trajectory``).

    ``rates`` maps names to step sizes, or is a list of such maps, one per step (MAML++'s LSLR).
    """
    visited = []
    for step in range(steps):
        rate = rates[step] if isinstance(rates, list) else rates
        loss = loss_fn(model, params, x, y)
        grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=second_order)
        if not second_order:
            grads = [g.detach() for g in grads]
        params = {**params, **{n: params[n] - rate[n] * g for n, g in zip(names, grads, strict=True)}}
        visited.append(params)
    return visited if trajectory else params


def reference_meta_gradient(algorithm, state, batch, classification=False, step_weights=None):
    """Meta-gradient and loss for `algorithm` on `batch`, one task at a time.

    MAML++: with ``step_weights`` the meta-loss is Σ_j w_j · L_query(after step j); a state
    holding ``lslr.<name> [steps]`` takes step j with rate ``lslr.<name>[j]``.
    """
    loss_fn = _classification_loss if classification else _loss
    model, cfg = algorithm.model, algorithm.config
    leaf = {k: v.detach().clone().requires_grad_(True) for k, v in state.items()}
    net = {k: leaf[k] for k in model.shapes()}
    tasks = batch.support_x.shape[0]
    name = algorithm.name

    if name == "pretrained":
        x = torch.cat([batch.support_x, batch.query_x], 1)
        y = torch.cat([batch.support_y, batch.query_y], 1)
        total = sum(loss_fn(model, net, x[t], y[t]) for t in range(tasks)) / tasks
        grads = torch.autograd.grad(total, list(leaf.values()))
        return dict(zip(leaf, grads, strict=True)), total.detach()

    names = list(model.head_names) if name == "anil" else list(model.shapes())
    learned = name == "metasgd"
    rates = {n: leaf["lr." + n] if learned else cfg.inner_lr for n in names}
    if "lslr." + names[0] in leaf:
        rates = [{n: leaf["lslr." + n][step] for n in names} for step in range(cfg.inner_steps)]

    if name == "reptile":
        adapted_sum = {k: torch.zeros_like(v) for k, v in net.items()}
        total = 0.0
        for t in range(tasks):
            p = inner_adapt(model, net, rates, names, batch.support_x[t], batch.support_y[t],
                            cfg.inner_steps, second_order=False, loss_fn=loss_fn)
            for k in adapted_sum:
                adapted_sum[k] = adapted_sum[k] + p[k].detach()
            total += loss_fn(model, p, batch.query_x[t], batch.query_y[t]).item()
        grads = {k: state[k] - adapted_sum[k] / tasks for k in net}
        return grads, torch.tensor(total / tasks)

    total = 0.0
    for t in range(tasks):
        visited = inner_adapt(model, net, rates, names, batch.support_x[t], batch.support_y[t],
                              cfg.inner_steps, second_order=not cfg.first_order, loss_fn=loss_fn,
                              trajectory=True)
        if step_weights is None:
            total = total + loss_fn(model, visited[-1], batch.query_x[t], batch.query_y[t])
        else:
            for weight, p in zip(step_weights, visited, strict=True):
                total = total + float(weight) * loss_fn(model, p, batch.query_x[t], batch.query_y[t])
    total = total / tasks
    grads = torch.autograd.grad(total, list(leaf.values()), allow_unused=True)
    grads = {k: (g if g is not None else torch.zeros_like(leaf[k]))
             for k, g in zip(leaf, grads, strict=True)}
    return grads, total.detach()
