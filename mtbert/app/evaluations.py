"""Predictions of any model on any dataset, computed once and cached on disk under both hashes (the model's
fingerprint and the dataset's content hash), and the metrics a labelled dataset gives them. A user's model gets its
dev metrics this way on first open, so that a restart reads them and Results, the Explorer and the map treat it
like a shipped variant. The dev sets are read from ``assets/data`` (else the data folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from mtbert import tasks as task_registry
from mtbert.backbones import cache_dir
from mtbert.data import DataDirNotFound, resolve_data_dir, task_file
from mtbert.datasets import Dataset, read_cs224n
from mtbert.ensemble import Model
from mtbert.evaluation import prediction_frame
from mtbert.files import write_atomic
from mtbert.layout import shipped_data_dir

Progress = Callable[[float, str], None]  # (fraction done, what is being done), as gr.Progress takes it
CHUNK = 512  # rows per progress step


def dev_set_dir(assets_dir: Path, data_dir: Path | None) -> Path | None:
    """Where the dev sets are read from: ``<assets>/data`` when it holds them, else the data folder."""
    shipped = shipped_data_dir(assets_dir)
    if any(task_file(shipped, t, "dev").exists() for t in task_registry.CS224N_TASKS):
        return shipped
    try:
        return resolve_data_dir(data_dir)
    except DataDirNotFound:
        return None


def dev_dataset_name(task: str) -> str:
    """A dev set's name in pickers: "SST dev", "Quora dev", "STS dev"."""
    return f"{task_registry.get(task).metric_label} dev"


def dev_datasets(assets_dir: Path, data_dir: Path | None) -> list[Dataset]:
    """The dev set of every task whose file is there (``dev_set_dir``), as Datasets."""
    folder = dev_set_dir(assets_dir, data_dir)
    paths = [(t, task_file(folder, t, "dev")) for t in task_registry.names()] if folder else []
    return [
        read_cs224n(dev_dataset_name(t), p, t, f"the CS224N {t} dev set ({p})", dev_set=True)
        for t, p in paths
        if p.exists()
    ]


def predictions_file(model_fingerprint: str, dataset: Dataset) -> Path:
    """Where a model's predictions on a dataset are cached."""
    return cache_dir() / "predictions" / model_fingerprint[:32] / f"{dataset.task}-{dataset.sha256[:32]}.csv"


def predict_dataset(model: Model, dataset: Dataset, progress: Progress | None = None) -> pd.DataFrame:
    """A model's predictions on every row (id, gold when labelled, predicted and p0.. or probability), in chunks of
    similar length so that ``progress`` moves and the batches stay short."""
    spec = task_registry.get(dataset.task)
    frame = dataset.frame
    pair = spec.pair
    lengths = frame["sentence1"].str.len() + (frame["sentence2"].str.len() if pair else 0)
    order = np.argsort(lengths.to_numpy(), kind="stable")
    parts: list[np.ndarray] = []
    for start in range(0, len(order), CHUNK):
        rows = frame.iloc[order[start : start + CHUNK]]
        b = rows["sentence2"].tolist() if pair else None
        parts.append(model.predict(dataset.task, rows["sentence1"].tolist(), b))
        if progress is not None:
            progress(min(start + CHUNK, len(order)) / len(order), f"predicting {dataset.name}")
    predictions = np.empty((len(frame), *parts[0].shape[1:]), dtype=np.float32)
    predictions[order] = np.concatenate(parts)
    labels = frame["gold"].to_numpy(dtype=np.float32) if dataset.labelled else None
    return prediction_frame(spec, frame["id"].tolist(), labels, predictions)


def cached_predictions(
    model_fingerprint: str, dataset: Dataset, model: Callable[[], Model], progress: Progress | None = None
) -> pd.DataFrame:
    """The model's predictions on the dataset: from the cache, else computed (``model()`` is called only then)
    and written atomically. Both read the file, so a first open and a restart give the same numbers."""
    path = predictions_file(model_fingerprint, dataset)
    if not path.exists():
        frame = predict_dataset(model(), dataset, progress)
        write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
    return pd.read_csv(path, dtype={"id": str})


def decisions(task: str, frame: pd.DataFrame) -> np.ndarray:
    """The class, the 0/1 decision or the score of every row of a predictions frame."""
    spec = task_registry.get(task)
    if spec.output == "probability":
        return spec.decide(frame["probability"].to_numpy(dtype=float))
    return frame["predicted"].to_numpy(dtype=float)


def dataset_metrics(task: str, frame: pd.DataFrame) -> dict[str, Any]:
    """The task's metric on a labelled predictions frame and, for a classes or probability task, its confusion
    matrix (gold rows, predicted columns)."""
    spec = task_registry.get(task)
    gold = frame["gold"].to_numpy(dtype=float)
    decided = decisions(task, frame)
    out: dict[str, Any] = {spec.metric_key: spec.metric(gold, raw_predictions(task, frame))}
    if spec.output != "score":
        classes = len(spec.class_names) if spec.output == "classes" else 2
        matrix = confusion_matrix(gold.astype(int), decided.astype(int), labels=range(classes))
        out["confusion"] = matrix.tolist()
    return out


def raw_predictions(task: str, frame: pd.DataFrame) -> np.ndarray:
    """What the model returned, from a predictions frame: class probabilities (N, C), probabilities or scores."""
    output = task_registry.get(task).output
    if output == "classes":
        return frame[[c for c in frame.columns if c.startswith("p") and c[1:].isdigit()]].to_numpy(dtype=float)
    return frame["probability" if output == "probability" else "predicted"].to_numpy(dtype=float)
