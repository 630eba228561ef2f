"""Conflict-aware multitask updates: gradient surgery on the shared parameters and learnt loss weights.

Each function takes one flattened gradient per task (rows of ``grads``, shape (K, P)) for the parameters
the tasks share and returns the one gradient to apply (P,). When no two task gradients conflict each
reduces to the plain sum, the gradient of the summed losses that the other schedules apply.

- PCGrad (Yu et al., 2020, "Gradient Surgery for Multi-Task Learning"): a task gradient that conflicts
  with another (negative dot product) loses its component along that other gradient.
- GradVac (Wang et al., 2021, "Gradient Vaccine"): pulls each pair's cosine similarity up to a running
  target (an exponential moving average of the pair's past similarities), not only up to zero.
- CAGrad (Liu et al., 2021, "Conflict-Averse Gradient Descent"): the update that maximises the worst
  task's improvement within a ball of radius c * |g0| around the average gradient g0.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn

METHODS = ("none", "pcgrad", "gradvac", "cagrad")


def plain_sum(grads: torch.Tensor) -> torch.Tensor:
    """The gradient of the summed losses: (K, P) -> (P,)."""
    return grads.sum(dim=0)


def pcgrad(grads: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PCGrad: project each task gradient off the gradients it conflicts with (in a random order), then sum."""
    projected = grads.clone()
    for i in range(len(grads)):
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j == i:
                continue
            dot = projected[i] @ grads[j]
            if dot < 0:
                projected[i] -= dot / grads[j].pow(2).sum().clamp_min(1e-20) * grads[j]
    return projected.sum(dim=0)


def gradvac(grads: torch.Tensor, targets: torch.Tensor, generator: torch.Generator, beta: float = 0.01) -> torch.Tensor:
    """GradVac: raise each pair's cosine similarity to its target; ``targets`` (K, K) is updated in place."""
    adjusted = grads.clone()
    for i in range(len(grads)):
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j == i:
                continue
            norm_i, norm_j = adjusted[i].norm(), grads[j].norm()
            if norm_i == 0 or norm_j == 0:
                continue
            cos = (adjusted[i] @ grads[j] / (norm_i * norm_j)).clamp(-1.0, 1.0)
            target = targets[i, j]
            if cos < target:
                scale = (target * (1 - cos**2).sqrt() - cos * (1 - target**2).sqrt()) / (1 - target**2).sqrt()
                adjusted[i] += norm_i * scale / norm_j * grads[j]
            targets[i, j] = (1 - beta) * target + beta * cos
    return adjusted.sum(dim=0)


def cagrad_weights(gram: np.ndarray, c: float) -> np.ndarray:
    """The task weights w on the simplex minimising w.G.1/K + c |g0| sqrt(w.G.w), for a Gram matrix G."""
    k = len(gram)
    g0_norm = np.sqrt(max(gram.sum() / k**2, 0.0))

    def objective(w: np.ndarray) -> float:
        return float(w @ gram.mean(axis=1) + c * g0_norm * np.sqrt(max(w @ gram @ w, 1e-20)))

    result = minimize(
        objective,
        np.full(k, 1.0 / k),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
    )
    return np.clip(result.x, 0.0, None) / max(np.clip(result.x, 0.0, None).sum(), 1e-12)


def cagrad(grads: torch.Tensor, c: float = 0.5) -> torch.Tensor:
    """CAGrad: d = g0 + c |g0| g_w / |g_w|, rescaled by 1 / (1 + c^2) and by K to the scale of the sum."""
    k = len(grads)
    g0 = grads.mean(dim=0)
    if c == 0:
        return g0 * k
    gram = (grads @ grads.T).double().cpu().numpy()
    w = torch.as_tensor(cagrad_weights(gram, c), dtype=grads.dtype, device=grads.device)
    gw = w @ grads
    d = g0 + c * g0.norm() / gw.norm().clamp_min(1e-20) * gw
    return d / (1 + c**2) * k


class UncertaintyWeights(nn.Module):
    """Kendall et al. (2018): one learnt log-variance s per task; loss = sum_t f_t exp(-s_t) L_t + s_t / 2.

    f_t is 1/2 for a regression (score) task and 1 for a classification task, as in the paper.
    """

    def __init__(self, tasks: list[str], regression: list[str]) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.factor = {t: 0.5 if t in regression else 1.0 for t in self.tasks}
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks)))

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        s = self.log_vars[self.tasks.index(task)]
        return self.factor[task] * torch.exp(-s) * loss + s / 2

    def weights(self) -> dict[str, float]:
        """Each task's current loss weight f_t exp(-s_t)."""
        log_vars = self.log_vars.detach()
        return {t: self.factor[t] * float(torch.exp(-s)) for t, s in zip(self.tasks, log_vars, strict=True)}
