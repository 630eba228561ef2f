"""Is a dev-set difference between two variants more than resampling noise? A paired bootstrap on the shipped
dev predictions (``assets/predictions/<variant>/<task>-dev-predictions.csv``, which carry the gold labels)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert import tasks as task_registry
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


def _resampled_metric(metric: str, gold: np.ndarray, predicted: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The metric on each resample: ``rows`` is (B, N) item indices; returns (B,)."""
    if task_registry.by_metric(metric).output != "score":
        return (predicted[rows] == gold[rows]).mean(axis=1)
    g, p = gold[rows], predicted[rows]  # (B, N)
    g = g - g.mean(axis=1, keepdims=True)
    p = p - p.mean(axis=1, keepdims=True)
    return (g * p).sum(axis=1) / np.sqrt((g * g).sum(axis=1) * (p * p).sum(axis=1))


def _task_samples(
    assets: Path, better: str, worse: str, metric: str, rng: np.random.Generator, resamples: int
) -> tuple[np.ndarray, np.ndarray] | None:
    task = METRIC_TASKS[metric]
    a, b = read_dev_predictions(assets, better, task), read_dev_predictions(assets, worse, task)
    if a is None or b is None:
        return None
    joined = a.merge(b, on="id", suffixes=("_a", "_b"))
    if len(joined) != len(a) or len(joined) != len(b):
        return None  # not the same dev items
    rows = rng.integers(0, len(joined), size=(resamples, len(joined)))
    gold = joined["gold_a"].to_numpy(dtype=float)
    return (
        _resampled_metric(metric, gold, joined["predicted_a"].to_numpy(dtype=float), rows),
        _resampled_metric(metric, gold, joined["predicted_b"].to_numpy(dtype=float), rows),
    )


def prob_better(
    assets: Path, better: str, worse: str, metric: str, resamples: int = 2000, seed: int = 0
) -> float | None:
    """Share of paired bootstrap resamples of the dev items in which ``better`` beats ``worse`` on ``metric``
    (ties count half). ``overall`` resamples each task's items. None without both variants' predictions."""
    rng = np.random.default_rng(seed)
    metrics = list(METRIC_TASKS) if metric == OVERALL else [metric]
    totals = np.zeros(resamples), np.zeros(resamples)
    for m in metrics:
        samples = _task_samples(assets, better, worse, m, rng, resamples)
        if samples is None:
            return None
        for total, values in zip(totals, samples, strict=True):
            total += task_registry.by_metric(m).unit(values)
    diff = totals[0] - totals[1]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def interval(
    assets: Path, variant: str, metric: str, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of one variant's dev ``metric`` (``overall`` resamples each task's items):
    how far the number could move on another dev set of the same size. None without its predictions."""
    rng = np.random.default_rng(seed)
    metrics = list(METRIC_TASKS) if metric == OVERALL else [metric]
    total = np.zeros(resamples)
    for m in metrics:
        frame = read_dev_predictions(assets, variant, METRIC_TASKS[m])
        if frame is None:
            return None
        rows = rng.integers(0, len(frame), size=(resamples, len(frame)))
        values = _resampled_metric(m, frame["gold"].to_numpy(float), frame["predicted"].to_numpy(float), rows)
        total += task_registry.by_metric(m).unit(values)
    if metric == OVERALL:
        total /= len(metrics)
    low, high = np.quantile(total, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
