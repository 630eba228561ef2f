"""The multitask model: one minBERT backbone with sentiment, paraphrase and similarity heads.

``MultitaskModel`` runs all its tasks on a shared backbone; ``SingleTaskModels`` holds one model per task and
routes each predict call to its task's model. Both expose the same predict API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn
from transformers import PreTrainedTokenizerBase

from mtbert import tasks as task_registry
from mtbert.config import FinetuneConfig, HeadConfig
from mtbert.data import Batch, Example, Item, bucketed_batches, make_items
from mtbert.heads import (
    ClassifierHead,
    CosinePairHead,
    PairHead,
    Pooler,
    SharedPairLayer,
    combine_pair,
    pair_feature_size,
    pool,
)
from mtbert.model import MiniBert
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

Texts = Sequence[str] | str


@dataclass
class AttentionView:
    """One model input's tokens and attention probabilities, trimmed to its real (unpadded) tokens."""

    tokens: list[str]
    segments: list[int]  # 0 for sentence A, 1 for sentence B (cross-encoded pairs)
    attentions: np.ndarray  # (layers, heads, T, T)
    dropped_tokens: int = 0  # how many tokens truncation removed


@dataclass
class TaskOutput:
    """Raw model outputs for a batch: logits (sentiment (B, C), paraphrase (B,)) or scores (similarity (B,))."""

    values: torch.Tensor
    attentions: list[tuple[torch.Tensor, ...]] | None = None  # per model input: layers x (B, H, T, T)


def examples_for(task: str, a: Texts, b: Texts | None) -> list[Example]:
    """The examples of a predict call: one text or a list for ``a``, and for a pair task ``b`` item by item."""
    a = [a] if isinstance(a, str) else list(a)
    if not task_registry.is_pair(task):
        b = None
    b = None if b is None else ([b] if isinstance(b, str) else list(b))
    if b is not None and len(a) != len(b):
        raise ValueError(f"got {len(a)} first sentences but {len(b)} second sentences")
    if any(not s.strip() for s in a + (b or [])):
        raise ValueError("empty sentence: every input needs some text")
    return [Example(str(i), x, None if b is None else b[i]) for i, x in enumerate(a)]


def apply_finetune_mode(backbone: MiniBert, finetune: FinetuneConfig) -> MiniBert:
    """Freeze the backbone, leave it trainable, or inject LoRA adapters (only they train)."""
    if finetune.mode == "frozen":
        backbone.requires_grad_(False)
    elif finetune.mode == "lora":
        lora = LoraConfig(
            r=finetune.lora_rank,
            lora_alpha=finetune.lora_alpha,
            lora_dropout=finetune.lora_dropout,
            target_modules=list(finetune.lora_targets),
        )
        backbone = inject_adapter_in_model(lora, backbone)
    return backbone


class PredictAPI:
    """The typed predict API shared by every model ``mtbert.load`` returns.

    ``predict_<task>`` and ``predict`` return predictions as an array; with ``return_attentions=True`` they
    return ``(predictions, views)``, where ``views[i]`` holds one AttentionView per model input of item i (one for
    a sentence or a cross-encoded pair, two for a pair embedded sentence by sentence).
    """

    @property
    def tasks(self) -> list[str]:
        raise NotImplementedError

    def model_for(self, task: str) -> MultitaskModel:
        """The MultitaskModel that answers (or, for an ensemble, explains) ``task``."""
        raise NotImplementedError

    def _run(
        self, task: str, a: Texts, b: Texts | None, return_attentions: bool, batch_size: int
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        raise NotImplementedError

    def class_names(self, task: str) -> list[str]:
        """Class names of a ``classes`` or ``probability`` task as this model predicts it."""
        model = self.model_for(task)
        return task_registry.get(task).labels(task_registry.num_classes(task, model.head_config.num_sentiment_classes))

    @property
    def sentiment_labels(self) -> list[str]:
        """The sentiment classes: five for SST, two for CFIMDB."""
        return self.class_names(SENTIMENT)

    @overload
    def predict(
        self,
        task: str,
        a: Texts,
        b: Texts | None = None,
        return_attentions: Literal[False] = False,
        batch_size: int = 64,
    ) -> np.ndarray: ...
    @overload
    def predict(
        self, task: str, a: Texts, b: Texts | None, return_attentions: Literal[True], batch_size: int = 64
    ) -> tuple[np.ndarray, list[list[AttentionView]]]: ...
    def predict(
        self, task: str, a: Texts, b: Texts | None = None, return_attentions: bool = False, batch_size: int = 64
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        """Predictions of ``task`` for sentences ``a`` (and, for a pair task, ``b``; ignored otherwise).

        Args:
            task: a registered task this model has.
            a, b: one text or a list; ``b`` pairs with ``a`` item by item.
            return_attentions: also return each input's tokens and attention probabilities.
            batch_size: items per forward pass (without attentions; with them, one item at a time).

        Returns:
            Class probabilities (N, C), probabilities (N,) or scores (N,) (see ``mtbert.tasks``), and with
            ``return_attentions`` the attention views as well.
        """
        return self._run(task, a, b, return_attentions, batch_size)

    @overload
    def predict_sentiment(
        self, texts: Texts, return_attentions: Literal[False] = False, batch_size: int = 64
    ) -> np.ndarray: ...
    @overload
    def predict_sentiment(
        self, texts: Texts, return_attentions: Literal[True], batch_size: int = 64
    ) -> tuple[np.ndarray, list[list[AttentionView]]]: ...
    def predict_sentiment(
        self, texts: Texts, return_attentions: bool = False, batch_size: int = 64
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        """Sentiment class probabilities (N, C); with ``return_attentions`` also one AttentionView list per text."""
        return self._run(SENTIMENT, texts, None, return_attentions, batch_size)

    @overload
    def predict_paraphrase(
        self, a: Texts, b: Texts, return_attentions: Literal[False] = False, batch_size: int = 64
    ) -> np.ndarray: ...
    @overload
    def predict_paraphrase(
        self, a: Texts, b: Texts, return_attentions: Literal[True], batch_size: int = 64
    ) -> tuple[np.ndarray, list[list[AttentionView]]]: ...
    def predict_paraphrase(
        self, a: Texts, b: Texts, return_attentions: bool = False, batch_size: int = 64
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        """Paraphrase probabilities (N,); with ``return_attentions`` also attention views per pair."""
        return self._run(PARAPHRASE, a, b, return_attentions, batch_size)

    @overload
    def predict_similarity(
        self, a: Texts, b: Texts, return_attentions: Literal[False] = False, batch_size: int = 64
    ) -> np.ndarray: ...
    @overload
    def predict_similarity(
        self, a: Texts, b: Texts, return_attentions: Literal[True], batch_size: int = 64
    ) -> tuple[np.ndarray, list[list[AttentionView]]]: ...
    def predict_similarity(
        self, a: Texts, b: Texts, return_attentions: bool = False, batch_size: int = 64
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        """Similarity scores in [0, 5] (N,); with ``return_attentions`` also attention views per pair."""
        return self._run(SIMILARITY, a, b, return_attentions, batch_size)


class MultitaskModel(nn.Module, PredictAPI):
    """A backbone plus the heads for ``heads.tasks``."""

    def __init__(
        self,
        backbone: MiniBert,
        tokenizer: PreTrainedTokenizerBase,
        heads: HeadConfig,
        finetune: FinetuneConfig,
        backbone_name: str = "minilm-l6",
        max_length: int = 128,
    ) -> None:
        super().__init__()
        self.head_config = heads
        self.finetune = finetune
        self.backbone_name = backbone_name
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.backbone = apply_finetune_mode(backbone, finetune)
        hidden = backbone.config.hidden_size
        pair_features = pair_feature_size(hidden, heads)
        cosine = heads.pair_encoding == "concat" and heads.combine == "cosine"
        pair_tasks = task_registry.pair_tasks(heads.tasks)
        self.shared = (
            SharedPairLayer(pair_features, hidden, heads.dropout) if heads.shared_layer and pair_tasks else None
        )
        head_in = hidden if self.shared is not None else pair_features
        self.heads = nn.ModuleDict()
        for task in heads.tasks:
            spec = task_registry.get(task)
            if not spec.pair:
                classes = task_registry.num_classes(task, heads.num_sentiment_classes)
                self.heads[task] = ClassifierHead(hidden, classes, heads.dropout)
            elif cosine:
                self.heads[task] = CosinePairHead(spec)
            else:
                self.heads[task] = PairHead(head_in, spec, heads.dropout, heads.score_activation == "linear")
        self.pooler = Pooler(hidden) if heads.pooler else None

    @property
    def tasks(self) -> list[str]:
        return list(self.head_config.tasks)

    def model_for(self, task: str) -> MultitaskModel:
        if task not in self.heads:
            raise ValueError(f"this model has no {task!r} head (tasks: {self.tasks})")
        return self

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (inputs are moved there)."""
        return next(self.parameters()).device

    def train(self, mode: bool = True) -> MultitaskModel:
        super().train(mode)
        if self.finetune.mode == "frozen":
            self.backbone.eval()  # a frozen backbone is a fixed feature extractor: no dropout
        return self

    # ----- forward -----------------------------------------------------------------------------------------
    def embed(
        self, inputs: dict[str, torch.Tensor], output_attentions: bool = False
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Pooled embedding (B, C) of one padded input (moved to the model's device), and its attentions when asked.

        ``inputs`` holds ``input_ids``, ``attention_mask`` and ``token_type_ids`` (B, T), and may hold
        ``word_embeddings`` (B, T, C) to use in place of the word lookup."""
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        # A frozen backbone is a fixed feature extractor while training; explanations still need its gradients.
        frozen_training = self.training and self.finetune.mode == "frozen"
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_training):
            out = self.backbone(
                inputs["input_ids"],
                inputs["attention_mask"],
                inputs["token_type_ids"],
                output_attentions,
                word_embeddings=inputs.get("word_embeddings"),
            )
            pooled = pool(out.last_hidden_state, inputs["attention_mask"], self.head_config.pooling)
        if self.pooler is not None:  # a head layer: it trains even on a frozen backbone
            pooled = self.pooler(pooled)  # (B, C)
        return pooled, out.attentions

    def pooled(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled embedding (B, C) of hidden states (B, T, C) this model's encoder computed elsewhere (a pass
        shared with other models), pooled and passed through the pooler as ``embed`` does."""
        pooled = pool(hidden, attention_mask, self.head_config.pooling)
        return pooled if self.pooler is None else self.pooler(pooled)

    def forward(self, task: str, inputs: list[dict[str, torch.Tensor]], output_attentions: bool = False) -> TaskOutput:
        """Run ``task`` on padded inputs: one for a sentence or cross pair, two (a, b) for a concat pair."""
        self.model_for(task)
        embedded = [self.embed(x, output_attentions) for x in inputs]
        attentions = [att for _, att in embedded] if output_attentions else None
        return TaskOutput(self.head_output(task, [p for p, _ in embedded]), attentions)

    def head_output(self, task: str, pooled: list[torch.Tensor]) -> torch.Tensor:
        """The task head on pooled embeddings: [sentence], [cross pair] or [u, v] for a concat pair."""
        head = self.heads[task]
        if not task_registry.is_pair(task):
            return head(pooled[0])
        if isinstance(head, CosinePairHead):
            u, v = pooled
            if self.shared is not None:
                u, v = self.shared(u), self.shared(v)
            return head(u, v)
        features = pooled[0] if len(pooled) == 1 else combine_pair(pooled[0], pooled[1], self.head_config.combine)
        if self.shared is not None:
            features = self.shared(features)
        return head(features)

    # ----- prediction --------------------------------------------------------------------------------------
    def items_for(self, examples: Sequence[Example]) -> list[Item]:
        """Tokenise examples the way this model encodes them."""
        return make_items(self.tokenizer, examples, self.head_config.pair_encoding, self.max_length)

    def predict_batches(self, task: str, batches: Sequence[Batch], n: int) -> np.ndarray:
        """Post-processed predictions for ``n`` items given as batches (probabilities or [0, 5] scores)."""
        self.eval()
        spec = task_registry.get(task)
        out: np.ndarray | None = None
        with torch.inference_mode():
            for batch in batches:
                values = spec.postprocess(self(task, batch.inputs).values).cpu().numpy()
                if out is None:
                    out = np.zeros((n, *values.shape[1:]), dtype=np.float32)
                out[batch.indices] = values
        assert out is not None
        return out

    def _run(
        self, task: str, a: Texts, b: Texts | None, return_attentions: bool, batch_size: int
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        self.model_for(task)
        items = self.items_for(examples_for(task, a, b))
        if not return_attentions:
            return self.predict_batches(task, bucketed_batches(items, batch_size, shuffle=False), len(items))
        return self._predict_with_attentions(task, items)

    def _predict_with_attentions(self, task: str, items: list[Item]) -> tuple[np.ndarray, list[list[AttentionView]]]:
        self.eval()
        spec = task_registry.get(task)
        values, views = [], []
        with torch.inference_mode():
            for item in items:  # one at a time: attentions of a single input need no padding
                batch = bucketed_batches([item], 1, shuffle=False)[0]
                out = self(task, batch.inputs, output_attentions=True)
                values.append(spec.postprocess(out.values).cpu().numpy()[0])
                views.append(
                    [
                        AttentionView(
                            tokens=self.tokenizer.convert_ids_to_tokens(feat.input_ids),
                            segments=list(feat.token_type_ids),
                            attentions=torch.stack([layer[0] for layer in att]).cpu().numpy(),
                            dropped_tokens=feat.dropped,
                        )
                        for feat, att in zip(item.inputs, out.attentions or [], strict=True)
                    ]
                )
        return np.stack(values), views


class SingleTaskModels(PredictAPI):
    """One model per task behind the multitask predict API: each call goes to its task's model."""

    def __init__(self, models: dict[str, MultitaskModel]) -> None:
        self.models = models

    @property
    def tasks(self) -> list[str]:
        return list(self.models)

    def model_for(self, task: str) -> MultitaskModel:
        if task not in self.models:
            raise ValueError(f"no single-task model for {task!r} (tasks: {self.tasks})")
        return self.models[task]

    def _run(
        self, task: str, a: Texts, b: Texts | None, return_attentions: bool, batch_size: int
    ) -> np.ndarray | tuple[np.ndarray, list[list[AttentionView]]]:
        return self.model_for(task)._run(task, a, b, return_attentions, batch_size)
