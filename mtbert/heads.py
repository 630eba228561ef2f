"""Task heads: small modules on top of pooled sentence (or pair) embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtbert.config import HeadConfig
from mtbert.tasks import Task


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, method: str) -> torch.Tensor:
    """(B, T, C) hidden states -> (B, C): the [CLS] vector or the mean over real tokens."""
    if method == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def combine_pair(u: torch.Tensor, v: torch.Tensor, method: str) -> torch.Tensor:
    """Combine two (B, C) sentence embeddings: [u; v] or [u; v; |u-v|; u*v]."""
    if method == "uv":
        return torch.cat([u, v], dim=-1)  # (B, 2C)
    if method == "uv_diff_prod":
        return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)  # (B, 4C)
    raise ValueError(f"combine_pair does not handle {method!r}")


def pair_feature_size(hidden_size: int, config: HeadConfig) -> int:
    """Width of the pair features a pair head receives."""
    if config.pair_encoding == "cross" or config.combine == "cosine":
        return hidden_size
    return hidden_size * (2 if config.combine == "uv" else 4)


class Pooler(nn.Module):
    """Hugging Face BERT's pooler: a dense layer and tanh on the pooled ([CLS]) vector, (B, C) -> (B, C)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(pooled))


class ClassifierHead(nn.Module):
    """Dropout, then a linear layer to a single-sentence task's classes. Returns logits (B, classes)."""

    def __init__(self, hidden_size: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled))


class SharedPairLayer(nn.Module):
    """A dense layer shared by the paraphrase and similarity heads: features -> hidden, GELU, dropout."""

    def __init__(self, in_features: int, hidden_size: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.gelu(self.dense(features)))


class PairHead(nn.Module):
    """Linear pair head: one logit (B,) for a probability task, max_score·sigmoid (B,) for a score task (the raw
    score with ``linear_score``), logits (B, classes) for a classes task."""

    def __init__(self, in_features: int, task: Task, dropout: float, linear_score: bool = False) -> None:
        super().__init__()
        self.task = task
        self.linear_score = linear_score
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, task.num_outputs())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.linear(self.dropout(features))
        out = out.squeeze(-1) if out.shape[-1] == 1 else out
        return out if self.linear_score and self.task.output == "score" else self.task.head_activation(out)


class CosinePairHead(nn.Module):
    """Cosine head for bi-encoders: an affine map of cos(u, v), learnt per task.

    A score task (similarity) starts at 5·cos(u, v); a probability task (paraphrase) at the logit
    10·cos(u, v) - 5. The score is not clamped here (so MSE training keeps its gradient for negative cosines);
    predictions clamp it to [0, 5].
    """

    def __init__(self, task: Task) -> None:
        super().__init__()
        scale, bias = task.cosine_init()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.bias = nn.Parameter(torch.tensor(bias))

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.scale * F.cosine_similarity(u, v, dim=-1) + self.bias  # (B,)
