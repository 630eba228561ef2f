"""Is a dev-set difference between two variants more than resampling noise? A paired bootstrap on the shipped
dev predictions (``assets/predictions/<variant>/<task>-dev-predictions.csv``, which carry the gold labels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.bootstrap import resample_counts, resampled_metric
from mtbert.layout import predictions_file
from mtbert.tasks import OVERALL

# metric -> the task whose dev predictions it is computed from (the three that make the overall score)
METRIC_TASKS = {task_registry.get(t).metric_key: t for t in task_registry.CS224N_TASKS}


def read_dev_predictions(
    assets: Path, variant: str, task: str, columns: Sequence[str] = ("predicted",)
) -> pd.DataFrame | None:
    """A variant's dev predictions for ``task`` (id, gold and ``columns``), or None when it has none shipped."""
    path = predictions_file(assets, variant, task)
    if not path.exists():
        return None
    return pd.read_csv(path, usecols=["id", "gold", *columns], dtype={"id": str})


def _resampled_metric(metric: str, gold: np.ndarray, predicted: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The metric on each resample (see ``mtbert.bootstrap.resampled_metric``)."""
    return resampled_metric(task_registry.by_metric(metric).name, gold, predicted, counts)


def _joined(assets: Path, better: str, worse: str, metric: str) -> pd.DataFrame | None:
    """Both variants' dev predictions for ``metric``'s task, item by item; None unless both cover the same items."""
    task = METRIC_TASKS[metric]
    a, b = read_dev_predictions(assets, better, task), read_dev_predictions(assets, worse, task)
    if a is None or b is None:
        return None
    joined = a.merge(b, on="id", suffixes=("_a", "_b"))
    if len(joined) != len(a) or len(joined) != len(b):
        return None  # not the same dev items
    return joined


def prob_better(
    assets: Path, better: str, worse: str, metric: str, resamples: int = 2000, seed: int = 0
) -> float | None:
    """Share of paired bootstrap resamples of the dev items in which ``better`` beats ``worse`` on ``metric``
    (ties count half). ``overall`` resamples each task's items. None without both variants' predictions."""
    metrics = list(METRIC_TASKS) if metric == OVERALL else [metric]
    frames = [_joined(assets, better, worse, m) for m in metrics]
    if any(f is None for f in frames):
        return None
    totals = np.zeros(resamples), np.zeros(resamples)
    drawn = resample_counts(seed, resamples, tuple(map(len, frames)))
    for m, frame, counts in zip(metrics, frames, drawn, strict=True):
        gold = frame["gold_a"].to_numpy(dtype=float)
        for total, column in zip(totals, ("predicted_a", "predicted_b"), strict=True):
            values = _resampled_metric(m, gold, frame[column].to_numpy(dtype=float), counts)
            total += task_registry.by_metric(m).unit(values)
    diff = totals[0] - totals[1]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def interval(
    assets: Path, variant: str, metric: str, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of one variant's dev ``metric`` (``overall`` resamples each task's items):
    how far the number could move on another dev set of the same size. None without its predictions."""
    metrics = list(METRIC_TASKS) if metric == OVERALL else [metric]
    frames = [read_dev_predictions(assets, variant, METRIC_TASKS[m]) for m in metrics]
    if any(f is None for f in frames):
        return None
    total = np.zeros(resamples)
    drawn = resample_counts(seed, resamples, tuple(map(len, frames)))
    for m, frame, counts in zip(metrics, frames, drawn, strict=True):
        values = _resampled_metric(m, frame["gold"].to_numpy(float), frame["predicted"].to_numpy(float), counts)
        total += task_registry.by_metric(m).unit(values)
    if metric == OVERALL:
        total /= len(metrics)
    low, high = np.quantile(total, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
