"""Checkpoints are directories: ``config.json`` + ``model.safetensors`` (+ ``metrics.json``).

For ``frozen`` and ``lora`` models only what differs from the pip-installed backbone is stored (heads, and
LoRA adapters). A single-task checkpoint is a directory holding one such sub-directory per task.
Every write is atomic: files go to a temporary directory that is renamed into place.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from mtbert.backbones import load_backbone
from mtbert.config import BertConfig, FinetuneConfig, HeadConfig, from_dict, to_dict
from mtbert.data import sha256_file
from mtbert.ensemble import EnsembleModel, Model
from mtbert.files import read_json, staged_directory, write_atomic, write_json_atomic
from mtbert.model import MiniBert
from mtbert.multitask import MultitaskModel, SingleTaskModels

FORMAT = "mtbert-checkpoint"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete or corrupt."""


class BackboneCache:
    """Keeps each pretrained backbone in memory once; every model gets its own copy, never a disk reload. Models
    that never change their backbone's weights (frozen or LoRA, at inference) share the cache's tensors."""

    def __init__(self) -> None:
        self._backbones: dict[str, tuple[MiniBert, PreTrainedTokenizerBase]] = {}

    def _loaded(self, name: str) -> tuple[MiniBert, PreTrainedTokenizerBase]:
        if name not in self._backbones:
            self._backbones[name] = load_backbone(name)
        return self._backbones[name]

    def get(self, name: str, share_weights: bool = False) -> tuple[MiniBert, PreTrainedTokenizerBase]:
        """A private copy of the pretrained backbone, and the shared tokenizer. With ``share_weights``, the copy's
        modules are its own (adapters and hooks stay private) but its parameters and buffers are the cache's
        tensors: cheap to make, and N models hold one backbone's weights. Its holder must not change them (merging
        LoRA into them included: copy the model first)."""
        backbone, tokenizer = self._loaded(name)
        if not share_weights:  # trainable, whatever a sharing model's adapters set on the cache's tensors
            return copy.deepcopy(backbone).requires_grad_(True), tokenizer
        shared = {id(t): t for t in [*backbone.parameters(), *backbone.buffers()]}
        return copy.deepcopy(backbone, shared), tokenizer

    def tokenizer(self, name: str) -> PreTrainedTokenizerBase:
        """Only the tokenizer (for fully fine-tuned checkpoints, which carry their own encoder weights)."""
        return self._loaded(name)[1]


# ----- save ------------------------------------------------------------------------------------------------
def stored_state_dict(model: MultitaskModel, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint stores: all for ``full``; heads (+ LoRA adapters) otherwise.

    ``dtype`` casts the floating-point tensors (``torch.float16`` for shipped checkpoints); None keeps theirs.
    """
    state = model.state_dict()
    if model.finetune.mode == "full":
        keep = state
    else:
        keep = {k: v for k, v in state.items() if not k.startswith("backbone.") or "lora_" in k}
    return {k: _cast(v.detach().to("cpu"), dtype).contiguous().clone() for k, v in keep.items()}


def _cast(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def _write_model_files(
    model: MultitaskModel, directory: Path, extra: dict[str, Any], dtype: torch.dtype | None = None
) -> None:
    save_file(stored_state_dict(model, dtype), str(directory / WEIGHTS_FILE))
    config = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "multitask",
        "backbone": model.backbone_name,
        "bert_config": to_dict(model.backbone.config),
        "heads": to_dict(model.head_config),
        "finetune": to_dict(model.finetune),
        "max_length": model.max_length,
        "weights_sha256": sha256_file(directory / WEIGHTS_FILE),
        **extra,
    }
    write_json_atomic(directory / CONFIG_FILE, config)


def save_checkpoint(
    model: MultitaskModel | SingleTaskModels,
    directory: str | os.PathLike,
    extra: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Save a model (multitask or single-task) as a checkpoint directory, atomically.

    ``extra`` (training args, data hashes, ...) is merged into ``config.json``; ``dtype`` casts the stored
    floating-point weights (loading casts them back to the model's float32).
    """
    target = Path(directory)
    with staged_directory(target) as tmp:
        extra = extra or {}
        if isinstance(model, SingleTaskModels):
            for task, sub in model.models.items():
                (tmp / task).mkdir()
                _write_model_files(sub, tmp / task, extra, dtype)
            write_json_atomic(
                tmp / CONFIG_FILE,
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "kind": "single",
                    "tasks": {t: t for t in model.models},
                    **extra,
                },
            )
        else:
            _write_model_files(model, tmp, extra, dtype)
        if metrics is not None:
            write_json_atomic(tmp / METRICS_FILE, metrics)
    return target


def cast_weights(directory: str | os.PathLike, dtype: torch.dtype) -> None:
    """Re-store a multitask or single-task checkpoint's floating-point weights in ``dtype``, in place.

    Each weights file is replaced atomically and its sha256 in config.json follows; call it on a staged copy
    (see ``mtbert.files.staged_directory``) to replace the whole directory at once.
    """
    directory = Path(directory)
    config = check_checkpoint(directory)  # every weights file checked once, here
    if config["kind"] == "single":
        models = [(directory / sub, read_config(directory / sub)) for sub in config["tasks"].values()]
    elif config["kind"] == "multitask":
        models = [(directory, config)]
    else:
        raise CheckpointError(f"{directory} holds no weights of its own (kind {config['kind']!r})")
    for model_dir, model_config in models:
        weights = model_dir / WEIGHTS_FILE
        cast = {k: _cast(v, dtype).contiguous() for k, v in load_file(str(weights)).items()}
        write_atomic(weights, partial(save_file, cast))
        write_json_atomic(model_dir / CONFIG_FILE, {**model_config, "weights_sha256": sha256_file(weights)})


# ----- load ------------------------------------------------------------------------------------------------
def read_config(directory: Path) -> dict[str, Any]:
    """Read and check a checkpoint's config.json, naming the problem file in every error."""
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist")
    path = directory / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{path} is missing: {directory} is not a complete mtbert checkpoint")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt (not valid JSON: {err})") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mtbert checkpoint config (format {FORMAT!r} expected)")
    return config


def _check_weights(directory: Path, config: dict[str, Any]) -> Path:
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{weights} is missing")
    if config.get("weights_sha256") and sha256_file(weights) != config["weights_sha256"]:
        raise CheckpointError(f"{weights} is corrupt: its sha256 does not match config.json")
    return weights


def check_checkpoint(directory: str | os.PathLike) -> dict[str, Any]:
    """Check a checkpoint's files without building the model; returns its config or raises CheckpointError."""
    directory = Path(directory)
    config = read_config(directory)
    if config.get("kind") == "single":
        for sub in config.get("tasks", {}).values():
            _check_weights(directory / sub, read_config(directory / sub))
    elif config.get("kind") == "ensemble":
        for member in _ensemble_members(directory, config):
            check_checkpoint(member)
    elif config.get("kind") == "multitask":
        _check_weights(directory, config)
    else:
        raise CheckpointError(f"{directory / CONFIG_FILE} has unknown kind {config.get('kind')!r}")
    return config


def _load_multitask(directory: Path, config: dict[str, Any], cache: BackboneCache | None) -> MultitaskModel:
    weights = _check_weights(directory, config)
    try:
        heads = from_dict(HeadConfig, config["heads"])
        finetune = from_dict(FinetuneConfig, config["finetune"])
        bert_config = from_dict(BertConfig, config["bert_config"])
        name = config["backbone"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{directory / CONFIG_FILE} is invalid: {err}") from err
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights} is corrupt: {err}") from err
    if finetune.mode == "full":
        tokenizer = cache.tokenizer(name) if cache else load_backbone(name, pretrained=False)[1]
        backbone = MiniBert(bert_config)
    else:
        # frozen and LoRA backbones keep the pretrained weights, which the cache's other models share
        backbone, tokenizer = cache.get(name, share_weights=True) if cache else load_backbone(name)
        if to_dict(backbone.config) != to_dict(bert_config):
            raise CheckpointError(f"{directory}: backbone {name!r} does not match the checkpoint's bert_config")
    model = MultitaskModel(backbone, tokenizer, heads, finetune, name, config.get("max_length", 128))
    expected = stored_state_dict(model).keys()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{weights} does not fit its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    check_shapes(model, state, f"{weights} does not fit its config")
    model.load_state_dict(state, strict=False)
    return model.eval()


def check_shapes(model: torch.nn.Module, state: dict[str, torch.Tensor], problem: str) -> None:
    """Raise CheckpointError(``problem``: the first tensors whose shapes differ from the model's) when any do."""
    own = model.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} (config: {tuple(own[k].shape)})" for k, v in state.items() if v.shape != own[k].shape
    ]
    if wrong:
        raise CheckpointError(f"{problem}: {', '.join(wrong[:3])}")


def save_ensemble(directory: str | os.PathLike, members: list[str], metrics: dict[str, Any] | None = None) -> Path:
    """Write an ensemble checkpoint: a config listing member checkpoints (sibling directories), no weights."""
    target = Path(directory)
    config = {"format": FORMAT, "version": VERSION, "kind": "ensemble", "members": list(members)}
    _ensemble_members(target, config)  # the members must exist before the ensemble does
    with staged_directory(target) as tmp:
        write_json_atomic(tmp / CONFIG_FILE, config)
        if metrics is not None:
            write_json_atomic(tmp / METRICS_FILE, metrics)
    return target


def _ensemble_members(directory: Path, config: dict[str, Any]) -> list[Path]:
    """Member directories of an ensemble: names of checkpoints beside it (``../<member>``)."""
    members = config.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise CheckpointError(f"{directory / CONFIG_FILE}: an ensemble lists its members as a non-empty list of names")
    paths = []
    for member in members:
        path = directory.parent / member
        if "/" in member or member in ("", ".", "..") or not path.is_dir():
            where = directory / CONFIG_FILE
            raise CheckpointError(f"{where}: ensemble member {member!r} is not a checkpoint beside it")
        paths.append(path)
    return paths


def load(directory: str | os.PathLike, cache: BackboneCache | None = None) -> Model:
    """Load a checkpoint directory (multitask, single-task or ensemble). Errors name the missing or corrupt file."""
    directory = Path(directory)
    config = read_config(directory)
    kind = config.get("kind")
    if kind == "multitask":
        return _load_multitask(directory, config, cache)
    if kind == "single":
        models = {}
        for task, sub in config.get("tasks", {}).items():
            sub_dir = directory / sub
            models[task] = _load_multitask(sub_dir, read_config(sub_dir), cache)
        if not models:
            raise CheckpointError(f"{directory / CONFIG_FILE} lists no task models")
        return SingleTaskModels(models)
    if kind == "ensemble":
        members = {}
        for path in _ensemble_members(directory, config):
            member = load(path, cache)
            if isinstance(member, EnsembleModel):
                raise CheckpointError(f"{directory / CONFIG_FILE}: member {path.name!r} is itself an ensemble")
            members[path.name] = member
        return EnsembleModel(members)
    raise CheckpointError(f"{directory / CONFIG_FILE} has unknown kind {kind!r}")


def fingerprint(checkpoint: Path) -> str:
    """A hash of what a checkpoint's answers depend on: its config files (each names its weights' sha256), the
    weights of a model whose config does not, and an ensemble's members."""
    digest = hashlib.sha256()

    def add(directory: Path) -> None:
        config = read_config(directory)
        digest.update((directory / CONFIG_FILE).read_bytes())
        if config.get("kind") == "multitask" and not config.get("weights_sha256"):
            digest.update(sha256_file(directory / "model.safetensors").encode())
        for sub in config.get("tasks", {}).values() if config.get("kind") == "single" else []:
            add(directory / sub)
        for member in config.get("members", []) if config.get("kind") == "ensemble" else []:
            add(directory.parent / member)

    add(checkpoint)
    return digest.hexdigest()


def read_metrics(directory: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's metrics.json (empty when absent)."""
    return read_json(Path(directory) / METRICS_FILE)
