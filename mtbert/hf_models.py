"""A Hugging Face ``BertForSequenceClassification`` directory as a model: its weights go through the explicit
HF -> minBERT weight map (``mtbert.backbones``) into a MultitaskModel with one head, so attention maps, saliency,
the Explorer and the map work on it as on any checkpoint.

The label count says the task: 5 labels are SST sentiment, 2 a paraphrase model (softmax over {no, yes}, which is
a sigmoid of the difference of the two logits), 1 a similarity model. A similarity model's raw output is read on a
0-5 scale unless ``scale`` says otherwise (``(0, 1)`` for a model trained on normalised STS scores), and a
sentence-transformers cross-encoder whose config names a sigmoid activation is read as 0-1 through that sigmoid.
Weights load from safetensors only: a folder with only ``pytorch_model.bin`` (a pickle) is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from mtbert import tasks as task_registry
from mtbert.backbones import convert_hf_state_dict, load_tokenizer
from mtbert.checkpoint import CONFIG_FILE, BackboneCache, CheckpointError, check_shapes
from mtbert.config import BertConfig, FinetuneConfig, HeadConfig
from mtbert.data import sha256_file
from mtbert.model import MiniBert
from mtbert.multitask import MultitaskModel
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

ARCHITECTURE = "BertForSequenceClassification"
TASK_BY_LABELS = {5: SENTIMENT, 2: PARAPHRASE, 1: SIMILARITY}
PICKLE = "pytorch_model.bin"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json")
Scale = tuple[float, float]


@dataclass
class HFClassifier:
    """What a Hugging Face classifier directory holds: its task, label count, score scale and config."""

    directory: Path
    task: str
    num_labels: int
    scale: Scale  # the raw output's range for a similarity model (ignored otherwise)
    sigmoid: bool  # a cross-encoder that applies a sigmoid to its one logit
    hf_config: dict[str, Any]

    @property
    def description(self) -> str:
        spec = task_registry.get(self.task)
        parts = [f"Hugging Face {ARCHITECTURE}", f"{self.num_labels} label{'s' * (self.num_labels > 1)}"]
        if spec.output == "score":
            low, high = (0.0, 1.0) if self.sigmoid else self.scale
            parts.append(f"read as {spec.metric_label} on {low:g}-{high:g}" + (" (sigmoid)" if self.sigmoid else ""))
        if spec.pair:
            parts.append("cross")
        return " · ".join(parts)


def read_hf_config(directory: Path) -> dict[str, Any] | None:
    """The directory's config.json when it is a Hugging Face model config (not an mtbert checkpoint), else None."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if (
        not isinstance(config, dict)
        or config.get("format")
        or not ("architectures" in config or "model_type" in config)
    ):
        return None
    return config


def is_hf_model(directory: Path) -> bool:
    """Whether ``directory`` holds a Hugging Face model config."""
    return read_hf_config(directory) is not None


def _num_labels(config: dict[str, Any]) -> int:
    if isinstance(config.get("id2label"), dict) and config["id2label"]:
        return len(config["id2label"])
    return int(config.get("num_labels", 2))


def _sigmoid_activation(config: dict[str, Any]) -> bool:
    activation = str((config.get("sentence_transformers") or {}).get("activation_fn", ""))
    return activation.lower().endswith("sigmoid")


def read_classifier(directory: Path, scale: Scale | None = None) -> HFClassifier:
    """Check a Hugging Face directory without building the model; raises CheckpointError saying what is wrong."""
    config = read_hf_config(directory)
    if config is None:
        raise CheckpointError(f"{directory} has no Hugging Face config.json (save the model with save_pretrained)")
    architectures = config.get("architectures") or []
    if config.get("model_type") != "bert" or ARCHITECTURE not in architectures:
        found = ", ".join(architectures) or config.get("model_type", "?")
        raise CheckpointError(f"{directory} is a {found} model: only a BERT {ARCHITECTURE} opens here")
    labels = _num_labels(config)
    if labels not in TASK_BY_LABELS:
        raise CheckpointError(
            f"{directory} has {labels} labels: 5 are read as sentiment, 2 as paraphrase and 1 as similarity"
        )
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(
            f"{directory} has no tokenizer (vocab.txt or tokenizer.json): save it beside the model with "
            "tokenizer.save_pretrained(DIR)"
        )
    weights_files(directory)
    if scale is not None and not scale[1] > scale[0]:
        raise CheckpointError(f"the score scale {scale[0]:g}-{scale[1]:g} of {directory} is empty")
    try:
        BertConfig.from_hf(config)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{directory / CONFIG_FILE} is not a BERT config minBERT can build: {err}") from err
    return HFClassifier(
        directory, TASK_BY_LABELS[labels], labels, scale or (0.0, 5.0), _sigmoid_activation(config), config
    )


def weights_files(directory: Path) -> list[Path]:
    """The directory's safetensors files; a pickle-only folder is refused with how to convert it."""
    files = sorted(directory.glob("*.safetensors"))
    if files:
        return files
    if (directory / PICKLE).exists():
        raise CheckpointError(
            f"{directory} holds only {PICKLE}, a pickle, which can run code when loaded: weights are read from "
            'safetensors only. Convert it where you trust the file: python -c "from transformers import '
            f"AutoModelForSequenceClassification as M; M.from_pretrained('{directory}').save_pretrained("
            f"'{directory}', safe_serialization=True)\""
        )
    raise CheckpointError(f"{directory} has no model.safetensors")


def _head_weights(info: HFClassifier, weight: torch.Tensor, bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """The HF classifier layer as our head: SST's classifier as is; paraphrase's two logits as one (yes - no);
    a similarity score rescaled from its scale onto 0-max_score."""
    spec = task_registry.get(info.task)
    if spec.output == "classes":
        return {f"heads.{info.task}.classifier.weight": weight, f"heads.{info.task}.classifier.bias": bias}
    if spec.output == "probability":
        weight, bias = weight[1:] - weight[:1], bias[1:] - bias[:1]
    elif not info.sigmoid:
        low, high = info.scale
        factor = spec.max_score / (high - low)
        weight, bias = weight * factor, (bias - low) * factor
    return {f"heads.{info.task}.linear.weight": weight, f"heads.{info.task}.linear.bias": bias}


def load_classifier(directory: Path, cache: BackboneCache | None = None, scale: Scale | None = None) -> MultitaskModel:
    """The directory's classifier as a MultitaskModel with its task's head (``cache`` is unused: an HF model
    carries its own encoder)."""
    info = read_classifier(directory, scale)
    bert_config = BertConfig.from_hf(info.hf_config)
    state: dict[str, torch.Tensor] = {}
    try:
        for file in weights_files(directory):
            state.update(load_file(str(file)))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"the weights in {directory} are corrupt: {err}") from err
    state = {k.removeprefix("bert."): v for k, v in state.items()}
    needed = ("pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias")
    missing = [k for k in needed if k not in state]
    if missing:
        raise CheckpointError(f"the weights in {directory} are not a {ARCHITECTURE}'s: missing {', '.join(missing)}")
    try:
        encoder = convert_hf_state_dict(state, bert_config.num_layers)
    except ValueError as err:
        raise CheckpointError(f"the weights in {directory} do not fit its config.json: {err}") from err
    heads = HeadConfig(
        tasks=[info.task],
        num_sentiment_classes=5,
        pooling="cls",
        pair_encoding="cross",
        pooler=True,
        score_activation="sigmoid" if info.sigmoid else "linear",
        dropout=float(info.hf_config.get("classifier_dropout") or bert_config.hidden_dropout),
    )
    tokenizer = load_tokenizer(directory)
    max_length = min(128, bert_config.max_position_embeddings)
    model = MultitaskModel(
        MiniBert(bert_config), tokenizer, heads, FinetuneConfig(mode="full"), str(directory), max_length
    )
    weights = {f"backbone.{k}": v for k, v in encoder.items()}
    weights |= {"pooler.dense.weight": state["pooler.dense.weight"], "pooler.dense.bias": state["pooler.dense.bias"]}
    weights |= _head_weights(info, state["classifier.weight"], state["classifier.bias"])
    check_shapes(model, weights, f"the weights in {directory} do not fit its config.json")
    model.load_state_dict(weights, strict=True)
    return model.eval()


def fingerprint(directory: Path, scale: Scale | None = None) -> str:
    """A hash of what the model's answers depend on: its config, tokenizer files, weights and score scale."""
    digest = hashlib.sha256(json.dumps(list(scale) if scale else None).encode())
    names = (CONFIG_FILE, *TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json")
    for path in [directory / n for n in names] + weights_files(directory):
        if path.is_file():
            digest.update(f"{path.name}:{sha256_file(path)}".encode())
    return digest.hexdigest()
