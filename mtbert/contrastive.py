"""The auxiliary supervised SimCSE loss, with S-SimCSE's sampled dropout as an option.

Positive pairs (a, b) come from the pair tasks' training data; every other b in the batch is a negative.
With ``contrastive_dropout = "sampled"`` (S-SimCSE, Zhang et al., 2021: sampled sub-networks) each of the
two encoder passes runs with its own dropout rate, drawn uniformly from ``contrastive_dropout_range``,
instead of the backbone's fixed rate.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from mtbert import tasks as task_registry
from mtbert.config import TrainConfig
from mtbert.data import Batch, Example, Item, make_items, read_examples, task_file
from mtbert.multitask import MultitaskModel
from mtbert.regularizers import dropout_rate

CONTRASTIVE = "contrastive"  # pseudo-task name of the loss in training plans and logs


def positive_items(model: MultitaskModel, config: TrainConfig, data_dir: Path) -> list[Item]:
    """Positive pairs for the loss, each sentence tokenised on its own (empty when the loss is off).

    Positives are the pairs of the model's pair tasks labelled positive: at or above the threshold of a
    probability task (Quora duplicates), at least ``contrastive_min_score`` for a score task (STS).
    """
    if config.contrastive_weight <= 0:
        return []
    positives: list[Example] = []
    for task in [t for t in task_registry.pair_tasks() if t in model.tasks]:
        spec = task_registry.get(task)
        if spec.output != "classes":
            threshold = spec.threshold if spec.output == "probability" else config.contrastive_min_score
            examples = read_examples(task_file(data_dir, task, "train"), task)
            examples = examples[: config.train_limit] if config.train_limit else examples
            positives += [e for e in examples if e.label is not None and e.label >= threshold]
    return make_items(model.tokenizer, positives, "concat", config.max_length) if positives else []


def sampled_rate(low: float, high: float) -> float:
    """A dropout rate drawn uniformly from [low, high] with torch's generator (so resumes repeat it)."""
    return low + (high - low) * float(torch.rand(()))


def contrastive_loss(
    model: MultitaskModel,
    batch: Batch,
    temperature: float,
    dropout: str = "fixed",
    dropout_range: tuple[float, float] = (0.05, 0.3),
) -> torch.Tensor:
    """Symmetric InfoNCE: each a_i must pick its own b_i among the batch's b (and each b_i its a_i)."""
    embedded = []
    for inputs in batch.inputs[:2]:
        sampled = dropout == "sampled" and model.training
        with dropout_rate(model.backbone, sampled_rate(*dropout_range)) if sampled else nullcontext():
            embedded.append(model.embed(inputs)[0])  # (B, C)
    u, v = embedded
    logits = F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T / temperature  # (B, B) cosine / temperature
    target = torch.arange(len(u), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
