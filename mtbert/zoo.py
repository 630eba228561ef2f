"""The shipped model zoo in ``assets/``: variant discovery, a loaded-model store, results and dev predictions.

Layout::

    assets/checkpoints/<variant>/      checkpoint directories (see mtbert.checkpoint)
    assets/results.json                 {variant: {sst_acc, quora_acc, sts_pearson, overall, ...}}
    assets/predictions/<variant>/<task>-dev-predictions.csv
    assets/hard_cases.json
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mtbert.checkpoint import BackboneCache, CheckpointError, check_checkpoint, load, read_config, read_metrics
from mtbert.config import TASKS
from mtbert.multitask import Model

DEFAULT_ASSETS = Path(__file__).resolve().parent.parent / "assets"
METRIC_LABELS = {"sst_acc": "SST", "quora_acc": "Quora", "sts_pearson": "STS"}


@dataclass
class Variant:
    """A shipped checkpoint: where it is, what it is, its dev metrics, or why it cannot be used."""

    name: str
    path: Path
    backbone: str = "?"
    kind: str = "?"  # multitask, single or ensemble
    description: str = ""
    tasks: list[str] = field(default_factory=list)
    metrics: dict[str, float | int] = field(default_factory=dict)  # dev metrics, parameters, training time
    error: str | None = None

    @property
    def label(self) -> str:
        """Name for pickers: backbone / variant, then its dev metrics."""
        scores = " · ".join(f"{METRIC_LABELS[k]} {self.metrics[k]:.3f}" for k in METRIC_LABELS if k in self.metrics)
        return f"{self.backbone} / {self.name} ({self.description})" + (f" — {scores}" if scores else "")


def describe(config: dict[str, Any], directory: Path) -> tuple[str, str, list[str]]:
    """(backbone, head description, tasks) of a checkpoint; a single-task one is described by its first model."""
    if config.get("kind") == "ensemble":
        members = [describe(read_config(directory.parent / m), directory.parent / m) for m in config["members"]]
        backbones = sorted({backbone for backbone, _, _ in members})
        tasks = [t for t in TASKS if any(t in m[2] for m in members)]
        return "+".join(backbones), f"ensemble of {' + '.join(config['members'])}", tasks
    kind = "multitask"
    tasks = list(config.get("heads", {}).get("tasks", []))
    if config.get("kind") == "single":
        kind, tasks = "single-task", list(config.get("tasks", {}))
        config = read_config(directory / config["tasks"][tasks[0]])
    heads, finetune = config["heads"], config["finetune"]
    parts = [kind, heads.get("pair_encoding", "?")]
    if heads.get("pair_encoding") == "concat":
        parts.append(heads.get("combine", "uv"))
    if heads.get("shared_layer"):
        parts.append("shared layer")
    contrastive = config.get("train", {}).get("contrastive_weight", 0)
    if contrastive:
        parts.append(f"contrastive {contrastive:g}")
    mode = finetune.get("mode", "?")
    parts.append(f"LoRA r{finetune.get('lora_rank')}" if mode == "lora" else mode)
    return config["backbone"], " · ".join(parts), tasks


def read_results(assets_dir: Path) -> dict[str, dict[str, Any]]:
    """``assets/results.json`` (empty when absent)."""
    path = assets_dir / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def discover(assets_dir: Path = DEFAULT_ASSETS) -> list[Variant]:
    """Every checkpoint under ``assets/checkpoints``, checked; a broken one carries its error instead."""
    results = read_results(assets_dir)
    variants = []
    root = assets_dir / "checkpoints"
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []:
        variant = Variant(path.name, path)
        try:
            config = check_checkpoint(path)
            variant.backbone, variant.description, variant.tasks = describe(config, path)
            variant.kind = config["kind"]
            metrics = results.get(path.name) or read_metrics(path)
            variant.metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        except (CheckpointError, KeyError, TypeError, ValueError) as err:
            variant.error = str(err)
        variants.append(variant)
    variants.sort(key=lambda v: (v.backbone, v.name))
    return variants


class VariantStore:
    """Loads each variant once, on first use, sharing one in-memory copy of each backbone's weights."""

    def __init__(self, assets_dir: Path = DEFAULT_ASSETS) -> None:
        self.assets_dir = assets_dir
        self.variants = {v.name: v for v in discover(assets_dir)}
        self.cache = BackboneCache()
        self._models: dict[str, Model] = {}
        self._lock = threading.Lock()

    def usable(self, task: str | None = None) -> list[Variant]:
        """Variants without errors (that have ``task``, if given)."""
        return [v for v in self.variants.values() if v.error is None and (task is None or task in v.tasks)]

    def broken(self) -> list[Variant]:
        return [v for v in self.variants.values() if v.error is not None]

    def model(self, name: str) -> Model:
        """The loaded model of a variant (loaded once). Raises KeyError or CheckpointError with the reason."""
        variant = self.variants.get(name)
        if variant is None:
            raise KeyError(f"unknown variant {name!r}; available: {', '.join(v.name for v in self.usable())}")
        if variant.error:
            raise CheckpointError(f"variant {name!r} is unavailable: {variant.error}")
        with self._lock:
            if name not in self._models:
                try:
                    self._models[name] = load(variant.path, self.cache)
                except CheckpointError as err:
                    variant.error = str(err)
                    raise
            return self._models[name]

    def dev_predictions(self, name: str, task: str) -> pd.DataFrame | None:
        """The shipped dev predictions of a variant for a task, if any."""
        path = self.assets_dir / "predictions" / name / f"{task}-dev-predictions.csv"
        return pd.read_csv(path) if path.exists() else None

    def results_frame(self) -> pd.DataFrame:
        """One row per usable variant with its metrics (results.json when present, else its own metrics.json)."""
        keys = ("sst_acc", "quora_acc", "sts_pearson", "overall", "trainable_parameters", "train_seconds", "best_epoch")
        rows = [  # metrics first: they are what a reader compares; the long head descriptions go last
            {"variant": v.name}
            | {k: v.metrics[k] for k in keys if k in v.metrics}
            | {"backbone": v.backbone, "heads": v.description}
            for v in self.usable()
        ]
        return pd.DataFrame(rows)

    def hard_cases(self) -> dict[str, Any]:
        """``assets/hard_cases.json`` (empty when absent)."""
        path = self.assets_dir / "hard_cases.json"
        return json.loads(path.read_text()) if path.exists() else {}
