"""One optimizer step's gradients: task losses (summed or uncertainty-weighted), gradient surgery on the shared
parameters, and the sum across data-parallel processes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mtbert import tasks as task_registry
from mtbert.config import TrainConfig
from mtbert.contrastive import CONTRASTIVE
from mtbert.data import Batch
from mtbert.distributed import Workers
from mtbert.surgery import UncertaintyWeights, cagrad, gradvac, pcgrad, plain_sum

LossFn = Callable[[str, Batch], torch.Tensor]


class StepGradients:
    """Fills ``.grad`` of the trainable parameters for one step of (task, batch) pairs.

    Without surgery each loss is backpropagated in turn and the gradients add up. With surgery each task's
    gradient on the shared parameters (the trainable backbone ones: all of them, or the LoRA adapters) is taken
    apart, summed across processes, and combined by the chosen method; head gradients add up as usual.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, workers: Workers, loss: LossFn) -> None:
        self.model, self.config, self.workers, self.loss = model, config, workers, loss
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.shared = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")]
        self.terms = [*model.tasks, CONTRASTIVE]  # every loss a step may hold, in a fixed order
        self.weights = (
            UncertaintyWeights(list(model.tasks), [t for t in model.tasks if task_registry.get(t).output == "score"])
            if config.loss_weighting == "uncertainty"
            else None
        )
        if self.weights is not None:
            self.weights.to(next(model.parameters()).device)
            self.trainable += list(self.weights.parameters())
        self.gradvac_targets = torch.zeros(len(self.terms), len(self.terms))
        self.last_stats: dict[str, float] = {}  # the last surgery step's gradient statistics (for the run log)

    def extra_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer must train beside the model's (the learnt log-variances)."""
        return [] if self.weights is None else list(self.weights.parameters())

    def weighted_loss(self, task: str, batch: Batch) -> torch.Tensor:
        loss = self.loss(task, batch)
        if self.weights is not None and task != CONTRASTIVE:
            loss = self.weights(task, loss)
        return loss

    def compute(self, step: list[tuple[str, Batch]], global_step: int) -> dict[str, float]:
        """Backpropagate the step's losses into ``.grad``; returns each task's loss over the whole global batch."""
        surgery = self.config.gradient_surgery != "none" and len(step) > 1 and self.shared
        values = torch.zeros(len(step), dtype=torch.float64)
        per_task: list[torch.Tensor] = []
        for i, (task, batch) in enumerate(step):
            local, share = self.workers.shard(batch)
            if local is not None:
                loss = self.weighted_loss(task, local) * share
                loss.backward()
                values[i] = loss.item()
            if surgery:
                per_task.append(self._take_shared_gradient())
        if surgery:
            grads = self.workers.sum(torch.stack(per_task))  # (K, P): each task's gradient over the global batch
            self.last_stats = conflict_stats(grads)
            self._put_shared_gradient(self._combine(grads, [task for task, _ in step], global_step))
            shared = {id(p) for p in self.shared}
            self.workers.sum_gradients([p for p in self.trainable if id(p) not in shared])  # the rest: heads
        else:
            self.workers.sum_gradients(self.trainable)
        self.workers.sum(values)
        return {task: float(v) for (task, _), v in zip(step, values, strict=True)}

    def _take_shared_gradient(self) -> torch.Tensor:
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self.shared])
        for p in self.shared:
            p.grad = None
        return flat

    def _put_shared_gradient(self, flat: torch.Tensor) -> None:
        offset = 0
        for p in self.shared:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()

    def _combine(self, grads: torch.Tensor, tasks: list[str], global_step: int) -> torch.Tensor:
        # The random task orders depend on the seed and the step only: every process and every resume agree.
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + global_step)
        method = self.config.gradient_surgery
        if method == "pcgrad":
            return pcgrad(grads, generator)
        if method == "gradvac":
            index = [self.terms.index(t) for t in tasks]
            targets = self.gradvac_targets[index][:, index].to(grads.dtype)
            combined = gradvac(grads, targets, generator, self.config.gradvac_beta)
            for a, i in enumerate(index):
                for b, j in enumerate(index):
                    self.gradvac_targets[i, j] = float(targets[a, b])
            return combined
        if method == "cagrad":
            return cagrad(grads, self.config.cagrad_c)
        return plain_sum(grads)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a resume needs beside the model and optimizer."""
        state = {"gradvac_targets": self.gradvac_targets.clone()}
        if self.weights is not None:
            state["log_vars"] = self.weights.log_vars.detach().cpu().clone()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.gradvac_targets = state.get("gradvac_targets", self.gradvac_targets).clone()
        if self.weights is not None and "log_vars" in state:
            with torch.no_grad():
                self.weights.log_vars.copy_(state["log_vars"])

    def loss_weights(self) -> dict[str, float]:
        """Each task's current loss weight (empty when the losses are summed)."""
        return {} if self.weights is None else self.weights.weights()


def conflict_stats(grads: torch.Tensor) -> dict[str, float]:
    """How the tasks' shared gradients (K, P) agree: the mean pairwise cosine and the share of pairs in conflict
    (cosine < 0), which gradient surgery acts on."""
    k = grads.shape[0]
    if k < 2:
        return {}
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = unit @ unit.T
    pairs = cos[torch.triu(torch.ones(k, k, dtype=torch.bool), diagonal=1)]
    return {"mean_cosine": float(pairs.mean()), "conflicting_pairs": float((pairs < 0).float().mean())}
