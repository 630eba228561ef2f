"""Per-task training regularisers and dropout control.

- R-Drop (Liang et al., 2021): two forward passes with independent dropout masks; the task loss of both
  plus ``weight`` x the divergence between them.
- SMART (Jiang et al., 2020): a smoothness-inducing adversarial term. The embedding output is perturbed
  by small Gaussian noise, the noise takes one normalised gradient-ascent step on the divergence from the
  clean prediction (dropout off in these adversarial passes), and ``weight`` x the divergence at the
  perturbed point joins the loss. SMART's Bregman proximal term is not implemented.

The divergence matches the task's output: symmetric KL between class distributions (``classes``) or
between Bernoulli distributions (``probability``), mean squared error between scores (``score``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from mtbert import tasks as task_registry
from mtbert.data import Batch
from mtbert.model import Embeddings, SelfAttention


def divergence(task: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric divergence between two raw outputs of ``task`` (gradients flow into both)."""
    output = task_registry.get(task).output
    if output == "score":
        return F.mse_loss(a, b)
    if output == "probability":  # two-class logits [0, x]
        a, b = torch.stack([torch.zeros_like(a), a], -1), torch.stack([torch.zeros_like(b), b], -1)
    log_p, log_q = F.log_softmax(a, -1), F.log_softmax(b, -1)
    kl_pq = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")  # KL(p || q)
    kl_qp = F.kl_div(log_p, log_q, log_target=True, reduction="batchmean")  # KL(q || p)
    return (kl_pq + kl_qp) / 2


def set_dropout(module: nn.Module, rate: float) -> None:
    """Set every dropout of ``module`` (hidden, attention, LoRA) to ``rate``."""
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = rate
        if isinstance(m, SelfAttention):
            m.attention_dropout = rate


@contextmanager
def dropout_rate(module: nn.Module, rate: float) -> Iterator[None]:
    """Every dropout of ``module`` at ``rate`` inside the block, restored after."""
    dropouts = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    attentions = [m for m in module.modules() if isinstance(m, SelfAttention)]
    saved = [m.p for m in dropouts], [m.attention_dropout for m in attentions]
    try:
        set_dropout(module, rate)
        yield
    finally:
        for m, p in zip(dropouts, saved[0], strict=True):
            m.p = p
        for m, p in zip(attentions, saved[1], strict=True):
            m.attention_dropout = p


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Dropout off inside the block; the model's training mode is restored after."""
    was_training = model.training
    model.train(False)
    try:
        yield
    finally:
        model.train(was_training)


def _outputs(model: nn.Module, task: str, batch: Batch) -> torch.Tensor:
    return model(task, batch.inputs).values


def rdrop_loss(
    model: nn.Module, task: str, batch: Batch, weight: float, smart: tuple[float, float, float] | None = None
) -> torch.Tensor:
    """R-Drop: the mean task loss of two dropout passes plus ``weight`` x their divergence.

    ``smart`` (weight, noise_std, step_size) adds SMART's term around the first pass.
    """
    assert batch.labels is not None
    spec = task_registry.get(task)
    first, second = _outputs(model, task, batch), _outputs(model, task, batch)
    labels = batch.labels.to(first.device)
    loss = (spec.loss(first, labels) + spec.loss(second, labels)) / 2 + weight * divergence(task, first, second)
    if smart is not None:
        loss = loss + smart_loss(model, task, batch, first, *smart)
    return loss


@contextmanager
def perturbed_embeddings(model: nn.Module, noise: list[torch.Tensor], std: float = 0.0) -> Iterator[None]:
    """Add ``noise[i]`` to the i-th embedding output inside the block (a pair of inputs calls it twice).

    Missing entries are created on first use as Gaussian noise of ``std`` that requires a gradient.
    """
    embeddings = next(m for m in model.modules() if isinstance(m, Embeddings))
    calls = [0]

    def add_noise(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        i = calls[0]
        calls[0] += 1
        if i == len(noise):
            noise.append((torch.randn_like(output) * std).requires_grad_(True))
        return output + noise[i]

    handle = embeddings.register_forward_hook(add_noise)
    try:
        yield
    finally:
        handle.remove()


def smart_loss(
    model: nn.Module,
    task: str,
    batch: Batch,
    clean: torch.Tensor,
    weight: float,
    noise_std: float = 1e-5,
    step_size: float = 1e-3,
) -> torch.Tensor:
    """SMART's adversarial smoothness term for raw outputs ``clean`` of a forward on ``batch``."""
    target = clean.detach()
    noise: list[torch.Tensor] = []
    with eval_mode(model):
        with perturbed_embeddings(model, noise, noise_std):
            adversarial = divergence(task, _outputs(model, task, batch), target)
        grads = torch.autograd.grad(adversarial, noise, allow_unused=True)
        stepped = []
        for n, g in zip(noise, grads, strict=True):
            g = torch.zeros_like(n) if g is None else g
            scale = g.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)  # per example, infinity norm
            stepped.append((n + step_size * g / scale).detach())
        with perturbed_embeddings(model, stepped):
            perturbed = _outputs(model, task, batch)
    # Symmetric as in MT-DNN's implementation: each side is pulled towards the other one held fixed.
    return weight * (divergence(task, perturbed, target) + divergence(task, clean, perturbed.detach())) / 2
