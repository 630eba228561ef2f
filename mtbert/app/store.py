"""The app's view of its models: the shipped variants and the user's own (``--models``), in a store that loads
each model once, with their results and dev predictions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch
from peft.tuners.lora import LoraLayer

from mtbert import tasks as task_registry
from mtbert.app.evaluations import Progress, cached_evaluation, dev_set_dir
from mtbert.catalog import USER, Variant, discover
from mtbert.checkpoint import BackboneCache, CheckpointError, load
from mtbert.files import read_json
from mtbert.layout import hard_cases_file, prediction_file_name, predictions_dir
from mtbert.multitask import EnsembleModel, Model, MultitaskModel, SingleTaskModels
from mtbert.user_models import discover_user_models

T = TypeVar("T")
COST_KEYS = ("trainable_parameters", "train_seconds", "best_epoch")
PRECISIONS = ("fp32", "int8")


def merge_lora(model: MultitaskModel) -> MultitaskModel:
    """Fold every LoRA adapter into its base weight and put the plain Linear back (same outputs, fewer modules)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            setattr(parent, name.rsplit(".", 1)[-1], module.get_base_layer())
    return model


def quantized(model: Model) -> Model:
    """The model with every Linear layer dynamically quantised to int8 (torch.ao), LoRA adapters merged first."""
    if isinstance(model, SingleTaskModels):
        return SingleTaskModels({task: quantized(m) for task, m in model.models.items()})  # type: ignore[misc]
    if isinstance(model, EnsembleModel):
        return EnsembleModel({name: quantized(m) for name, m in model.members.items()})  # type: ignore[misc]
    merged = merge_lora(model.eval())
    return torch.ao.quantization.quantize_dynamic(merged, {torch.nn.Linear}, dtype=torch.qint8).eval()


class VariantStore:
    """Loads each variant once, on first use, sharing one in-memory copy of each backbone's weights."""

    def __init__(
        self,
        assets_dir: Path,
        data_dir: Path | None = None,
        precision: str = "fp32",
        models: Sequence[Path] = (),
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.assets_dir = assets_dir
        self.data_dir = data_dir  # the CS224N files (None: $MTBERT_DATA_DIR or ../shared/data when there)
        shipped = discover(assets_dir)
        self.variants = {v.name: v for v in [*shipped, *discover_user_models(models, (v.name for v in shipped))]}
        # where each variant's dev predictions lie: assets/predictions/<name>, or a user model's evaluation cache
        self._predictions = {v.name: predictions_dir(assets_dir, v.name) for v in shipped}
        self.cache = BackboneCache()
        self._models: dict[str, Model] = {}
        self._remembered: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        # Held while a handler runs the models: Integrated Gradients hooks a model's word embeddings during its
        # attribution, and a forward from another request on that model must not pass through the hook.
        self.model_lock = threading.Lock()

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
                    model = load(variant.path, self.cache)
                    self._models[name] = quantized(model) if self.precision == "int8" else model
                except CheckpointError as err:
                    variant.error = str(err)
                    raise
            return self._models[name]

    def remember(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per key for the store's life: the shipped files do not change while the app runs, so a
        table that every click reads is read from disk once (callers must not modify what they get)."""
        if key not in self._remembered:
            self._remembered[key] = make()
        return self._remembered[key]

    def evaluate_user_models(self, progress: Callable[[Variant], Progress | None] = lambda v: None) -> None:
        """Dev metrics and predictions for each usable user model: from the disk cache, else computed now over the
        dev sets (``progress(variant)`` wraps the tasks being computed, e.g. in a progress bar)."""
        dev_dir = dev_set_dir(self.assets_dir, self.data_dir)
        if dev_dir is None:
            return
        for variant in [v for v in self.usable() if v.source == USER]:
            try:
                folder, metrics = cached_evaluation(
                    variant.path, lambda v=variant: self.model(v.name), dev_dir, progress(variant)
                )
            except CheckpointError:  # self.model recorded the reason as the variant's error
                continue
            self._predictions[variant.name] = folder
            variant.metrics.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})

    def _predictions_file(self, name: str, task: str) -> Path | None:
        folder = self._predictions.get(name)
        return folder / prediction_file_name(task, "dev") if folder else None

    def has_dev_predictions(self, name: str, task: str) -> bool:
        path = self._predictions_file(name, task)
        return path is not None and path.exists()

    def dev_predictions(self, name: str, task: str) -> pd.DataFrame | None:
        """A variant's dev predictions for a task (shipped, or a user model's cached evaluation), if any."""
        path = self._predictions_file(name, task)
        read = lambda: pd.read_csv(path) if path is not None and path.exists() else None  # noqa: E731
        return self.remember(("predictions", name, task), read)

    def results_frame(self) -> pd.DataFrame:
        """One row per usable variant with its metrics (results.json when present, else its own metrics.json; a
        user model's from its evaluation), and where it comes from when the user added models."""
        keys = (*task_registry.metric_keys(task_registry.names()), task_registry.OVERALL, *COST_KEYS)
        mixed = any(v.source == USER for v in self.usable())
        rows = [  # metrics first: they are what a reader compares; the long head descriptions go last
            {"variant": v.name}
            | ({"from": v.source} if mixed else {})
            | {k: v.metrics[k] for k in keys if k in v.metrics}
            | {"backbone": v.backbone, "heads": v.description}
            for v in self.usable()
        ]
        return pd.DataFrame(rows)

    def hard_cases(self) -> dict[str, Any]:
        """``hard_cases.json`` (empty when absent)."""
        return self.remember("hard_cases", lambda: read_json(hard_cases_file(self.assets_dir)))
