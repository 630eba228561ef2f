"""mtbert: a multitask minBERT lab (sentiment, paraphrase, similarity) on real pretrained weights.

Three layers: the core library in ``mtbert/`` (this package's modules), the app's services in ``mtbert.app`` and the
zoo and report tooling in ``mtbert.lab``. The core imports neither of the other two (``pyproject.toml`` holds the
import-linter contracts). The names below load on first use, so that importing one light module (the task
registry, the report tooling) does not import torch and peft.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AttentionView": "mtbert.multitask",
    "BackboneCache": "mtbert.checkpoint",
    "BackboneNotAvailable": "mtbert.backbones",
    "BertConfig": "mtbert.config",
    "CheckpointError": "mtbert.checkpoint",
    "EncoderOutput": "mtbert.model",
    "EnsembleModel": "mtbert.multitask",
    "FinetuneConfig": "mtbert.config",
    "HeadConfig": "mtbert.config",
    "MiniBert": "mtbert.model",
    "MultitaskModel": "mtbert.multitask",
    "SingleTaskModels": "mtbert.multitask",
    "Task": "mtbert.tasks",
    "TrainConfig": "mtbert.config",
    "load": "mtbert.checkpoint",
    "load_backbone": "mtbert.backbones",
    "save_checkpoint": "mtbert.checkpoint",
    "save_ensemble": "mtbert.checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mtbert' has no attribute {name!r}")
