"""The app's view of its models and datasets: the shipped variants and the user's own (``--models``), the dev
sets and the user's (``--datasets`` or uploads), in a store that loads each model once and gives any model's
predictions on any dataset (shipped files, else the disk cache, else computed once)."""

from __future__ import annotations

import copy
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch
from peft.tuners.lora import LoraLayer

from mtbert import tasks as task_registry
from mtbert.app.batching import BatchingModel
from mtbert.app.evaluations import Progress, cached_predictions, dataset_metrics, dev_datasets
from mtbert.catalog import SHIPPED, USER, Variant, discover
from mtbert.checkpoint import BackboneCache, CheckpointError
from mtbert.datasets import Dataset, DatasetError
from mtbert.ensemble import EnsembleModel, Model
from mtbert.files import read_json
from mtbert.layout import hard_cases_file, prediction_file_name, predictions_dir
from mtbert.multitask import MultitaskModel, SingleTaskModels
from mtbert.user_models import discover_user_models

T = TypeVar("T")
COST_KEYS = ("trainable_parameters", "train_seconds", "best_epoch")
PRECISIONS = ("fp32", "int8")
MAX_ADDED_DATASETS = 32  # uploads kept per server; the oldest upload goes first
RECENT_KEPT = 16  # tables kept by ``recent``; the least recently used goes first
# fp32 LoRA models kept with their adapters folded into private Linear weights (about 42 MB each for MiniLM-L6, three
# times that for a single-task variant's three models); the least recently used one goes first.
MERGED_KEPT = 8


def merge_lora(model: MultitaskModel) -> MultitaskModel:
    """Fold every LoRA adapter into its base weight and put the plain Linear back (same outputs, fewer modules)."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            setattr(parent, name.rsplit(".", 1)[-1], module.get_base_layer())
    return model


def merged(model: Model) -> Model:
    """The model as it is served in fp32: each LoRA model a copy whose adapters are folded into its own Linear
    weights (one matmul a layer, not three; the same outputs to float32 rounding). The copy shares every other
    tensor (embeddings, norms, biases, heads) with ``model``; only the adapted Linear weights are its own (about
    42 MB for a MiniLM-L6 model). An ensemble keeps its members' adapters: they share one base pass
    (``mtbert.fused``). A model without LoRA is itself."""
    if isinstance(model, SingleTaskModels):
        folded = {task: merged(m) for task, m in model.models.items()}
        unchanged = all(folded[t] is m for t, m in model.models.items())
        return model if unchanged else SingleTaskModels(folded)  # type: ignore[arg-type]
    if not isinstance(model, MultitaskModel):
        return model
    bases = {id(m.get_base_layer().weight) for m in model.modules() if isinstance(m, LoraLayer)}
    if not bases:
        return model
    tensors = itertools.chain(model.parameters(), model.buffers())
    shared: dict[int, Any] = {id(t): t for t in tensors if id(t) not in bases}  # deepcopy keeps these as they are
    shared[id(model.tokenizer)] = model.tokenizer
    return merge_lora(copy.deepcopy(model, shared).eval())


def quantized(model: Model) -> Model:
    """The model with every Linear layer dynamically quantised to int8 (torch.ao), LoRA adapters merged first."""
    if isinstance(model, SingleTaskModels):
        return SingleTaskModels({task: quantized(m) for task, m in model.models.items()})  # type: ignore[misc]
    if isinstance(model, EnsembleModel):
        return EnsembleModel({name: quantized(m) for name, m in model.members.items()})  # type: ignore[misc]
    folded = merge_lora(copy.deepcopy(model).eval())  # a copy: its base weights are shared with other models
    return torch.ao.quantization.quantize_dynamic(folded, {torch.nn.Linear}, dtype=torch.qint8, inplace=True).eval()


class VariantStore:
    """Loads each variant once, on first use, sharing one in-memory copy of each backbone's weights."""

    def __init__(
        self,
        assets_dir: Path,
        data_dir: Path | None = None,
        precision: str = "fp32",
        models: Sequence[str | Path] = (),
        datasets: Sequence[Dataset] = (),
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.assets_dir = assets_dir
        self.data_dir = data_dir  # the CS224N files (None: $MTBERT_DATA_DIR or ../shared/data when there)
        shipped = discover(assets_dir)
        self.variants = {v.name: v for v in [*shipped, *discover_user_models(models, (v.name for v in shipped))]}
        self.cache = BackboneCache()
        self._models: dict[str, Model] = {}
        self._merged: OrderedDict[str, Model] = OrderedDict()  # fp32 models with their adapters folded (``merged``)
        self._as_loaded: set[str] = set()  # fp32 models with no adapter to fold
        self._batching: dict[str, BatchingModel] = {}
        self._remembered: dict[Hashable, Any] = {}
        self._recent: OrderedDict[Hashable, Any] = OrderedDict()
        self._recent_lock = threading.Lock()  # not the loading lock: a table read never waits for a model load
        self._lock = threading.Lock()
        self._evaluating = threading.Lock()  # one first open at a time: two visitors do not compute it twice
        self._evaluated: set[str] = set()
        self.datasets: dict[str, Dataset] = {}
        self._uploads: list[str] = []
        for dataset in [*dev_datasets(assets_dir, data_dir), *datasets]:
            self.add_dataset(dataset)

    def usable(self, task: str | None = None) -> list[Variant]:
        """Variants without errors (that have ``task``, if given)."""
        return [v for v in self.variants.values() if v.error is None and (task is None or task in v.tasks)]

    def broken(self) -> list[Variant]:
        return [v for v in self.variants.values() if v.error is not None]

    def model(self, name: str) -> Model:
        """The model a variant is served with: loaded once, and in fp32 with its LoRA adapters folded (``merged``;
        kept for the last ``MERGED_KEPT`` variants used). Raises KeyError or CheckpointError with the reason."""
        variant = self.variants.get(name)
        if variant is None:
            raise KeyError(f"unknown variant {name!r}; available: {', '.join(v.name for v in self.usable())}")
        if variant.error:
            raise CheckpointError(f"variant {name!r} is unavailable: {variant.error}")
        with self._lock:
            if name not in self._models:
                try:
                    model = variant.load(self.cache)
                    self._models[name] = quantized(model) if self.precision == "int8" else model
                except CheckpointError as err:
                    variant.error = str(err)
                    raise
            loaded = self._models[name]
            if self.precision == "int8":
                return loaded
            if name in self._merged:  # the fp32 model as served: adapters folded, for the last MERGED_KEPT used
                self._merged.move_to_end(name)
                return self._merged[name]
            if name in self._as_loaded:
                return loaded
            served = merged(loaded)
            if served is loaded:  # nothing to fold (an ensemble, a frozen backbone)
                self._as_loaded.add(name)
            else:
                self._merged[name] = served
                while len(self._merged) > MERGED_KEPT:
                    self._merged.popitem(last=False)  # served again later, it is folded again (about a second)
            return served

    def batching(self, name: str) -> BatchingModel:
        """The variant's model with concurrent one-input predictions batched together (see ``batching``)."""
        model = self.model(name)
        with self._lock:
            batching = self._batching.get(name)
            if batching is None or batching.model is not model:
                batching = self._batching[name] = BatchingModel(model)
            return batching

    def add_user_model(self, path: Path) -> Variant:
        """A model the app trained (a run folder) joins the user's models, as ``--models PATH`` would add it."""
        with self._lock:
            found = discover_user_models([path], self.variants)
            for variant in found:
                self.variants[variant.name] = variant
        return found[0]

    def mark_evaluated(self, name: str) -> None:
        """A user model whose metrics are its own (a run on the user's data, scored on its held-out split): it is
        not scored on the dev sets."""
        self._evaluated.add(name)

    def remember(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per key for the store's life: the shipped files do not change while the app runs, so a
        table that every click reads is read from disk once (callers must not modify what they get)."""
        if key not in self._remembered:
            self._remembered[key] = make()
        return self._remembered[key]

    def recent(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per key while the key is among the last ``RECENT_KEPT`` used: what is derived from many
        combinations (a table per dataset and pair of variants) stays bounded (callers must not modify it)."""
        with self._recent_lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        value = make()  # outside the lock: a first read may compute predictions
        with self._recent_lock:
            self._recent[key] = value
            while len(self._recent) > RECENT_KEPT:
                self._recent.popitem(last=False)
        return value

    # ----- datasets ----------------------------------------------------------------------------------------
    def add_dataset(self, dataset: Dataset, upload: bool = False) -> Dataset:
        """Add a dataset under its name (the same rows again are the same dataset); an upload beyond
        MAX_ADDED_DATASETS pushes out the oldest upload."""
        with self._lock:
            known = self.datasets.get(dataset.name)
            if known is not None and known.sha256 != dataset.sha256:
                raise DatasetError(f"a different dataset is already named {dataset.name!r}: pick another name")
            if known is not None:
                return known
            self.datasets[dataset.name] = dataset
            if upload:
                self._uploads.append(dataset.name)
                while len(self._uploads) > MAX_ADDED_DATASETS:
                    self.datasets.pop(self._uploads.pop(0), None)
            return dataset

    def dataset(self, name: str) -> Dataset:
        """A dataset by name; KeyError names the known ones."""
        if name not in self.datasets:
            raise KeyError(f"unknown dataset {name!r}; available: {', '.join(self.datasets) or 'none'}")
        return self.datasets[name]

    def datasets_for(self, task: str) -> list[Dataset]:
        """The task's datasets, its dev set first."""
        return sorted((d for d in self.datasets.values() if d.task == task), key=lambda d: not d.dev_set)

    def dev_dataset(self, task: str) -> Dataset | None:
        """The task's dev set (the one the shipped predictions refer to), when it is here."""
        return next((d for d in self.datasets.values() if d.task == task and d.dev_set), None)

    # ----- predictions -------------------------------------------------------------------------------------
    def _shipped_file(self, name: str, dataset: Dataset) -> Path | None:
        variant = self.variants.get(name)
        if variant is None or variant.source != SHIPPED or not dataset.dev_set:
            return None
        path = predictions_dir(self.assets_dir, name) / prediction_file_name(dataset.task, "dev")
        return path if path.exists() else None

    def predictions(self, name: str, dataset: str, progress: Progress | None = None) -> pd.DataFrame:
        """A variant's predictions on a dataset (id, gold when labelled, predicted and p0.. or probability): a
        shipped variant's dev predictions from assets/, anything else from the disk cache or computed once."""
        data = self.dataset(dataset)
        variant = self.variants.get(name)
        if variant is None:
            raise KeyError(f"unknown variant {name!r}; available: {', '.join(v.name for v in self.usable())}")
        if data.task not in variant.tasks:
            raise KeyError(f"{name} has no {data.task} model, so it cannot predict {dataset!r}")
        shipped = self._shipped_file(name, data)
        if shipped is not None:
            read = lambda: pd.read_csv(shipped, dtype={"id": str})  # noqa: E731
            return self.remember(("shipped predictions", name, data.task), read)
        if variant.error:
            self.model(name)  # raises, naming the variant's error
        key = ("predictions", self.fingerprint(name), data.sha256)
        if key not in self._remembered:
            self._remembered[key] = cached_predictions(key[1], data, lambda: self.model(name), progress)
        return self._remembered[key]

    def fingerprint(self, name: str) -> str:
        """The variant's fingerprint (hashed once per store)."""
        return self.remember(("fingerprint", name), self.variants[name].fingerprint)

    def has_predictions(self, name: str, dataset: str) -> bool:
        """Whether predictions of the variant on the dataset are at hand without running a model."""
        variant, data = self.variants.get(name), self.datasets.get(dataset)
        if variant is None or data is None:
            return False
        if self._shipped_file(name, data) is not None:
            return True
        return variant.error is None and ("predictions", self.fingerprint(name), data.sha256) in self._remembered

    def dev_predictions(self, name: str, task: str) -> pd.DataFrame | None:
        """A variant's predictions on the task's dev set, if it has that task and the dev set is here."""
        data = self.dev_dataset(task)
        variant = self.variants.get(name)
        if data is None or variant is None or task not in variant.tasks or variant.error:
            return None
        if variant.source == SHIPPED and self._shipped_file(name, data) is None:
            return None  # a shipped variant's dev predictions are the shipped ones
        return self.predictions(name, data.name)

    def pending_user_models(self) -> list[Variant]:
        """The usable user models without dev metrics yet."""
        return [v for v in self.usable() if v.source == USER and v.name not in self._evaluated]

    def evaluate_user_models(
        self,
        progress: Callable[[Variant, Dataset], Progress | None] = lambda v, d: None,
        only: Sequence[str] | None = None,
    ) -> None:
        """Dev metrics for each usable user model (or those named in ``only``): its predictions on each dev set from
        the disk cache, else computed now (``progress(variant, dataset)`` reports how far, e.g. in a progress bar)."""
        with self._evaluating:
            self._evaluate(progress, only)

    def _evaluate(self, progress: Callable[[Variant, Dataset], Progress | None], only: Sequence[str] | None) -> None:
        for variant in [v for v in self.pending_user_models() if only is None or v.name in only]:
            scores: dict[str, float] = {}
            for task in [t for t in task_registry.names() if t in variant.tasks]:
                data = self.dev_dataset(task)
                if data is None:
                    continue
                try:
                    frame = self.predictions(variant.name, data.name, progress(variant, data))
                except CheckpointError:  # self.model recorded the reason as the variant's error
                    break
                spec = task_registry.get(task)
                scores[spec.metric_key] = dataset_metrics(task, frame)[spec.metric_key]
            overall = task_registry.overall_score(scores)
            variant.metrics.update(scores | ({task_registry.OVERALL: overall} if overall is not None else {}))
            self._evaluated.add(variant.name)

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
