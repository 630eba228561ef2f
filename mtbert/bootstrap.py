"""The paired bootstrap: is the difference between two models on the same items more than resampling noise?
Resamples are drawn as item counts and scored as counts @ vectors, so thousands of them cost a few matrix products."""

from __future__ import annotations

import functools

import numpy as np

from mtbert import tasks as task_registry


def _counts(rows: np.ndarray, n: int) -> np.ndarray:
    """(B, N) drawn item indices -> (B, N) counts: how often each item is drawn in each resample."""
    offsets = (rows + n * np.arange(len(rows))[:, None]).ravel()
    return np.bincount(offsets, minlength=rows.size).reshape(rows.shape).astype(float)


@functools.lru_cache(maxsize=4)
def resample_counts(seed: int, resamples: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The resamples' item counts for data sets of ``sizes`` items, drawn one after another from one generator
    seeded with ``seed``: every comparison with the same seed resamples the same items, so they are drawn once."""
    rng = np.random.default_rng(seed)
    drawn = tuple(_counts(rng.integers(0, n, size=(resamples, n)), n) for n in sizes)
    for counts in drawn:
        counts.setflags(write=False)  # shared by every caller
    return drawn


def resampled_metric(task: str, gold: np.ndarray, decided: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The task's metric on each resample: ``decided`` holds decisions (classes, 0/1) or scores (N,); ``counts``
    is (B, N), each item's count in each resample; returns (B,) accuracies or Pearson r."""
    n = len(gold)
    if task_registry.get(task).output != "score":
        return counts @ (decided == gold).astype(float) / n
    g, p = gold - gold.mean(), decided - decided.mean()  # Pearson is shift-invariant: centre for precision
    sg, sp = counts @ g, counts @ p
    cov = counts @ (g * p) - sg * sp / n
    var_g, var_p = counts @ (g * g) - sg * sg / n, counts @ (p * p) - sp * sp / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(var_g * var_p)


def _metric(output: str, gold: np.ndarray, decided: np.ndarray) -> float:
    """Accuracy of decisions, or Pearson r of scores, on every item."""
    if output != "score":
        return float((decided == gold).mean())
    return float(np.corrcoef(gold, decided)[0, 1])


def paired(
    task: str,
    gold: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Model A against model B on the same items: each one's metric, the difference A - B with its percentile
    interval, and the share of resamples in which A beats B (ties count half). ``a`` and ``b`` are decisions or
    scores (``Task.decide`` of the predictions)."""
    gold, a, b = (np.asarray(x, dtype=float) for x in (gold, a, b))
    spec = task_registry.get(task)
    (counts,) = resample_counts(seed, resamples, (len(gold),))
    diff = resampled_metric(task, gold, a, counts) - resampled_metric(task, gold, b, counts)
    diff = diff[np.isfinite(diff)]  # a resample with one repeated score has no Pearson r
    low, high = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2]) if len(diff) else (np.nan, np.nan)
    metric_a, metric_b = (_metric(spec.output, gold, x) for x in (a, b))
    return {
        "metric_a": metric_a,
        "metric_b": metric_b,
        "difference": metric_a - metric_b,
        "low": float(low),
        "high": float(high),
        "prob_a_better": float((diff > 0).mean() + 0.5 * (diff == 0).mean()) if len(diff) else float("nan"),
        "items": float(len(gold)),
        "resamples": float(len(diff)),
    }
