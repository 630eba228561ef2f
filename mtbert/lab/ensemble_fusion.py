"""What the fused pass saves the ensemble: one pair's latency with every member on its own (``fuse=False``) against
members that share a base encoder answering in one mixed-adapter pass (``mtbert.fused``), and how far the two
answers differ. Calls alternate between the two paths, so a drift in the machine's speed touches both alike."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from mtbert import tasks as task_registry
from mtbert.ensemble import EnsembleModel
from mtbert.lab.benchmark import PAIR

# Inputs of different lengths in one batch, so that padding is part of what the agreement covers.
AGREEMENT_PAIRS = [
    PAIR,
    ("How do I learn to cook?", "What is the best way to learn cooking at home without taking any classes?"),
    ("The film is a charming, funny and touching story.", "A dull film."),
    ("Is it going to rain tomorrow in the north of the country?", "Will it rain tomorrow?"),
]


def _inputs(task: str, pairs: list[tuple[str, str]]) -> tuple[list[str], list[str] | None]:
    a = [p[0] for p in pairs]
    return (a, [p[1] for p in pairs]) if task_registry.is_pair(task) else (a, None)


def max_difference(fused: EnsembleModel, unfused: EnsembleModel) -> dict[str, float]:
    """Per task, the largest absolute difference between the two paths' answers on ``AGREEMENT_PAIRS``."""
    out = {}
    for task in fused.tasks:
        a, b = _inputs(task, AGREEMENT_PAIRS)
        out[task] = float(np.max(np.abs(fused.predict(task, a, b) - unfused.predict(task, a, b))))
    return out


def fusion_benchmark(ensemble: EnsembleModel, calls: int = 30, task: str = task_registry.SIMILARITY) -> dict[str, Any]:
    """Median and p95 ms of one ``task`` pair through ``ensemble`` fused and unfused, with and without attentions,
    and the answers' agreement. ``ensemble`` is the fused one; the unfused path runs the same member objects."""
    unfused = EnsembleModel(ensemble.members, fuse=False)
    paths = {"unfused": unfused, "fused": ensemble}
    a, b = _inputs(task, [PAIR])
    out: dict[str, Any] = {
        "members": len(ensemble.members),
        "task": task,
        "fused_groups": [len(group.models) for group in ensemble.fused.groups],
        "calls": calls,
    }
    for attentions in (True, False):
        times: dict[str, list[float]] = {name: [] for name in paths}
        for model in paths.values():  # warm-up
            model.predict(task, a, b, return_attentions=attentions)
        for _ in range(calls):
            for name, model in paths.items():
                start = time.perf_counter()
                model.predict(task, a, b, return_attentions=attentions)
                times[name].append((time.perf_counter() - start) * 1000)
        row = {}
        for name, ms in times.items():
            ms.sort()
            row[f"{name}_p50_ms"] = round(statistics.median(ms), 1)
            row[f"{name}_p95_ms"] = round(ms[int(0.95 * (len(ms) - 1))], 1)
        row["speedup"] = round(row["unfused_p50_ms"] / row["fused_p50_ms"], 2)
        out["with_attentions" if attentions else "without_attentions"] = row
    out["max_abs_difference"] = max_difference(ensemble, unfused)
    return out
