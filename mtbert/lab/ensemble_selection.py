"""Would choosing an ensemble's members on dev beat the zoo's fixed rule? A study on the shipped dev predictions.

The zoo's ensemble averages every shipped report row (a rule fixed before looking at dev). The alternative is
greedy forward selection with replacement (Caruana et al., 2004): start empty, and keep adding whichever candidate
raises the dev metric most, until none does. Scored on the dev items it chose on, that figure is optimistic, so
the study also cross-fits it: choose on one random half of dev, score on the other half, and the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtbert import tasks as task_registry
from mtbert.lab.significance import read_dev_predictions


def prediction_columns(task: str) -> list[str]:
    """The columns of a dev-predictions file that an ensemble averages: class probabilities, a probability or a
    score."""
    spec = task_registry.get(task)
    if spec.output == "classes":
        return [f"p{i}" for i in range(len(spec.class_names))]
    return ["probability"] if spec.output == "probability" else ["predicted"]


def read_candidates(assets: Path, task: str, variants: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gold labels (N,) and each variant's averaged-kind predictions, (N, C) or (N,), aligned on the first
    variant's dev items. Variants without shipped predictions for ``task`` are left out."""
    columns = prediction_columns(task)
    frames = {}
    for variant in variants:
        frame = read_dev_predictions(assets, variant, task, columns)
        if frame is not None:
            frames[variant] = frame.set_index("id")
    if not frames:
        raise ValueError(f"no shipped dev predictions for {task}")
    first = next(iter(frames.values()))
    ids, gold = first.index, first["gold"].to_numpy(dtype=float)
    predictions = {}
    for variant, frame in frames.items():
        if set(frame.index) != set(ids):
            raise ValueError(f"{variant}'s {task} dev predictions cover other items")
        values = frame.loc[ids, columns].to_numpy(dtype=float)
        predictions[variant] = values if len(columns) > 1 else values[:, 0]
    return gold, predictions


def score(task: str, gold: np.ndarray, mean: np.ndarray, rows: np.ndarray) -> float:
    """The task's dev metric (accuracy or Pearson r) of an ensemble's mean prediction, on dev items ``rows``."""
    return task_registry.get(task).metric(gold[rows], mean[rows])


def mean_of(predictions: dict[str, np.ndarray], members: Sequence[str]) -> np.ndarray:
    """The members' mean prediction (a member named twice counts twice)."""
    return np.mean([predictions[m] for m in members], axis=0)


def greedy_selection(
    task: str, gold: np.ndarray, predictions: dict[str, np.ndarray], rows: np.ndarray, max_members: int = 25
) -> list[str]:
    """Forward selection with replacement on dev items ``rows``: add the candidate that raises the score most,
    stop when none raises it. Returns the chosen names (a name may repeat: it then weighs more)."""
    chosen: list[str] = []
    total = 0.0  # the sum of the chosen members' predictions
    best = -np.inf
    while len(chosen) < max_members:
        gains = {
            name: score(task, gold, (total + values) / (len(chosen) + 1), rows) for name, values in predictions.items()
        }
        name = max(gains, key=lambda n: gains[n])
        if gains[name] <= best:
            break
        best = gains[name]
        chosen.append(name)
        total = total + predictions[name]
    return chosen


def cross_fitted(
    task: str, gold: np.ndarray, predictions: dict[str, np.ndarray], repeats: int, rng: np.random.Generator
) -> list[float]:
    """Per repeat: choose members on one random half of dev and score them on the other half, both ways round;
    the mean of the two held-out scores."""
    out = []
    for _ in range(repeats):
        order = rng.permutation(len(gold))
        halves = order[: len(gold) // 2], order[len(gold) // 2 :]
        held_out = []
        for choose_on, score_on in (halves, halves[::-1]):
            chosen = greedy_selection(task, gold, predictions, choose_on)
            held_out.append(score(task, gold, mean_of(predictions, chosen), score_on))
        out.append(float(np.mean(held_out)))
    return out


def selection_study(
    assets: Path, rule_members: Sequence[str], candidates: Sequence[str], repeats: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Per task (its metric) and overall (the mean of the three on a 0-1 scale): the rule's dev score, greedy
    selection scored on the dev it chose on (with its members), and the cross-fitted greedy score (mean and range
    over ``repeats`` random halvings)."""
    rng = np.random.default_rng(seed)
    study: dict[str, Any] = {"candidates": list(candidates), "repeats": repeats, "seed": seed, "tasks": {}}
    for task in task_registry.CS224N_TASKS:
        gold, predictions = read_candidates(assets, task, candidates)
        every = np.arange(len(gold))
        rule = mean_of(predictions, [m for m in rule_members if m in predictions])
        chosen = greedy_selection(task, gold, predictions, every)
        held_out = cross_fitted(task, gold, predictions, repeats, rng)
        study["tasks"][task] = {
            "rule": score(task, gold, rule, every),
            "greedy_on_dev": score(task, gold, mean_of(predictions, chosen), every),
            "greedy_members": chosen,
            "greedy_cross_fitted": float(np.mean(held_out)),
            "greedy_cross_fitted_range": [min(held_out), max(held_out)],
        }
    study["overall"] = {
        key: float(np.mean([task_registry.get(task).unit(row[key]) for task, row in study["tasks"].items()]))
        for key in ("rule", "greedy_on_dev", "greedy_cross_fitted")
    }
    return study
