"""What the app asks of the models, without any UI: run a task on an input, compare variants, hard cases."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from mtbert import tasks as task_registry
from mtbert.app.explain import Saliency, integrated_gradients
from mtbert.ensemble import EnsembleModel, Model
from mtbert.multitask import AttentionView

ALL_TASKS = ("all", "all three")  # task choices that run every task the input allows


class InputError(ValueError):
    """The user's input cannot be run; the message is meant for the user."""


@dataclass
class Prediction:
    """One input's predictions for one or more tasks, with attention views per task.

    ``values[task]`` is ``{class name: probability}`` for a classes task, else a probability or a score.
    """

    values: dict[str, Any] = field(default_factory=dict)
    views: dict[str, list[AttentionView]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, task: str) -> Any:
        return self.values.get(task)

    def summary(self, task: str) -> str:
        """A short text of the prediction for ``task``."""
        value, spec = self.values.get(task), task_registry.get(task)
        if value is None or (spec.output == "classes" and not value):
            return "—"
        if spec.output == "classes":
            label = max(value, key=value.get)
            return f"{label} ({value[label]:.2f})"
        if spec.output == "probability":
            return f"{spec.verdict_names[spec.is_positive(value)]} ({value:.2f})"
        return f"{value:.2f} / {spec.max_score:g}"


def check_text(text: str | None, name: str) -> str:
    """The text, or an InputError for an empty or whitespace-only input."""
    if text is None or not str(text).strip():
        raise InputError(f"{name} is empty: type a sentence first")
    return str(text)


def tasks_for(choice: str, has_pair: bool) -> list[str]:
    """The tasks to run for a task choice ("all three" runs the pair tasks only when a pair is given)."""
    if choice in ALL_TASKS:
        return [t for t in task_registry.CS224N_TASKS if has_pair or not task_registry.is_pair(t)]
    if choice not in task_registry.names():
        raise InputError(f"unknown task {choice!r}: pick one of {', '.join(task_registry.names())} or 'all three'")
    return [choice]


def predict_input(model: Model, task_choice: str, a: str, b: str | None, with_attentions: bool = True) -> Prediction:
    """Run the chosen task(s) on one sentence or pair."""
    a = check_text(a, "Sentence A")
    has_pair = bool(b and b.strip())
    tasks = tasks_for(task_choice, has_pair)
    if task_registry.pair_tasks(tasks) and not has_pair:
        raise InputError(f"{task_choice} compares two sentences: sentence B is empty")
    missing = [t for t in tasks if t not in model.tasks]
    prediction = Prediction()
    if missing and task_choice in ALL_TASKS and len(missing) < len(tasks):
        tasks = [t for t in tasks if t in model.tasks]
        prediction.notes.append(f"This variant has no {', '.join(missing)} model; that task was skipped.")
    elif missing:
        raise InputError(f"this variant has no {', '.join(missing)} model (it has: {', '.join(model.tasks)})")
    if task_choice in ALL_TASKS and not has_pair:
        pair_names = " and ".join(task_registry.pair_tasks(task_registry.CS224N_TASKS))
        prediction.notes.append(f"Only sentiment ran: {pair_names} need sentence B.")
    for task in tasks:
        second = [b] if task_registry.is_pair(task) else None
        if with_attentions:
            values, views = model.predict(task, [a], second, return_attentions=True)
            prediction.views[task] = views[0]
            dropped = sum(v.dropped_tokens for v in views[0])
            if dropped:
                prediction.notes.append(f"{task}: the input was truncated, {dropped} token(s) dropped.")
        else:
            values = model.predict(task, [a], second)
        if task_registry.get(task).output == "classes":
            labels = model.class_names(task)
            prediction.values[task] = {label: float(p) for label, p in zip(labels, values[0], strict=True)}
        else:
            prediction.values[task] = float(values[0])
    return prediction


def disagreement(task: str, predictions: dict[str, Prediction]) -> str:
    """One line saying where variants disagree on ``task``."""
    if len(predictions) < 2:
        return "Pick at least two variants to compare."
    spec = task_registry.get(task)
    values = {n: p.value(task) for n, p in predictions.items() if p.value(task) is not None}
    if spec.output == "classes":
        labels = {name: max(v, key=v.get) for name, v in values.items() if v}
        if len(set(labels.values())) == 1:
            return f"All variants agree: {next(iter(labels.values()))}."
        return "They disagree on the class: " + "; ".join(f"{n} says {lab}" for n, lab in labels.items()) + "."
    if spec.output == "probability":
        yes_word = spec.verdict_names[1]
        verdicts = {n: spec.is_positive(v) for n, v in values.items()}
        if len(set(verdicts.values())) == 1:
            word = yes_word if next(iter(verdicts.values())) else f"not a {yes_word}"
            return f"All variants agree it is {word} (probabilities differ by {np.ptp(list(values.values())):.2f})."
        yes = [n for n, v in verdicts.items() if v]
        no = [n for n, v in verdicts.items() if not v]
        return f"They disagree: {', '.join(yes)} say {yes_word}; {', '.join(no)} say not."
    low, high = min(values, key=values.get), max(values, key=values.get)
    spread = values[high] - values[low]
    if spread < 0.5:
        return f"The scores agree within {spread:.2f} points."
    return f"The scores differ by {spread:.2f} points: {high} gives {values[high]:.2f}, {low} gives {values[low]:.2f}."


def focus_task(task_choice: str, b: str | None, available: list[str] | None = None) -> str:
    """The task whose attention and saliency are shown: for "all three", the last pair task (similarity) for a
    pair when the variant has it, else the single-sentence task (sentiment)."""
    if task_choice not in ALL_TASKS:
        return task_choice
    pair = bool(b and b.strip())
    candidates = [t for t in reversed(task_registry.CS224N_TASKS) if pair or not task_registry.is_pair(t)]
    singles = [t for t in candidates if not task_registry.is_pair(t)]
    ordered = [t for t in candidates if task_registry.is_pair(t)] + singles
    for task in ordered:
        if available is None or task in available:
            return task
    return singles[0]


def explain_input(model: Model, task_choice: str, a: str, b: str | None) -> tuple[list[tuple[str, float | None]], str]:
    """Integrated-gradients saliency spans for the focus task, and a sentence saying what was explained."""
    a = check_text(a, "Sentence A")
    task = focus_task(task_choice, b, model.tasks)
    pair = task_registry.is_pair(task)
    if pair:
        b = check_text(b, "Sentence B")
    if task not in model.tasks:
        raise InputError(f"this variant has no {task} model")
    parts, explained = integrated_gradients(model.model_for(task), task, a, b if pair else None)
    spans = attribution_spans(parts)
    note = f"Saliency of the {task} model's {explained} (integrated gradients, captum)."
    if isinstance(model, EnsembleModel):
        note += f" This ensemble explains through its first {task} member, {model.members_for(task)[0]}."
    return spans, note


def attribution_spans(parts: list[Saliency]) -> list[tuple[str, float | None]]:
    """Highlight spans of one attribution per model input; two inputs (a concat pair) are marked A and B."""
    spans: list[tuple[str, float | None]] = []
    for i, part in enumerate(parts):
        if len(parts) == 2:
            spans.append((f"[sentence {'AB'[i]}] ", None))
        spans.extend(saliency_spans(part.tokens, part.scores))
    return spans


def saliency_spans(tokens: list[str], scores: np.ndarray) -> list[tuple[str, float | None]]:
    """(token, score in [-1, 1]) spans for highlighting; special tokens get no score."""
    scale = float(np.abs(scores).max()) or 1.0
    spans = []
    for token, score in zip(tokens, scores, strict=True):
        if token in ("[CLS]", "[PAD]"):
            continue
        spans.append((f"{token} ", None if token == "[SEP]" else round(float(score) / scale, 3)))
    return spans


def confusion_from_predictions(frame: pd.DataFrame, task: str) -> tuple[np.ndarray, list[str]]:
    """Confusion matrix (gold rows, predicted columns) and class names from a dev predictions frame.

    A classes task's class count is read from the frame's ``p0, p1, ...`` columns (5 for SST, 2 for CFIMDB).
    """
    spec = task_registry.get(task)
    if spec.output == "classes":
        labels = spec.labels(sum(1 for c in frame.columns if c[:1] == "p" and c[1:].isdigit()))
    else:
        labels = spec.labels()
    matrix = confusion_matrix(frame["gold"].astype(int), frame["predicted"].astype(int), labels=range(len(labels)))
    return matrix, labels


def head_choices(view: AttentionView) -> list[str]:
    """Attention head choices for a model: mean, rollout, then each head by number."""
    return ["mean", "rollout"] + [str(h) for h in range(view.attentions.shape[1])]


def _abbreviation(name: str, k: int, j: int = 1) -> str:
    """The first ``j`` letters of each hyphenated part but the last, then the last part's first ``k`` letters."""
    parts = name.split("-")
    if len(parts) == 1:
        return name[: max(k, 3)]
    return "".join(p[:j] for p in parts[:-1]) + parts[-1][:k]


def short_names(names: list[str], limit: int = 4) -> dict[str, str]:
    """Short, distinct column names for variants: a name up to ``limit`` characters stays; a longer one becomes the
    initials of its hyphenated parts, the last part lengthened until no two names collide
    (single-cross -> scr, single-concat -> sco, multi-cross-shared -> mcs, ensemble -> ens). Where no length of
    the last part separates two names, the earlier parts lengthen too (multi-cross -> muc, mtdnn-cross -> mtc);
    names that still collide stay whole."""
    long = [n for n in names if len(n) > limit]
    short = {n: n for n in names if len(n) <= limit}
    for name in long:
        longest = max(len(part) for part in name.split("-"))
        for j, k in product(range(1, longest + 1), repeat=2):  # earlier parts' length j, then the last's k
            candidate = _abbreviation(name, k, j)
            if candidate not in short.values() and all(
                _abbreviation(other, k, j) != candidate for other in long if other != name
            ):
                break
        short[name] = candidate
    taken = Counter(short.values())
    return {n: n if taken[short[n]] > 1 else short[n] for n in names}


def distance_from_gold(task: str, gold: Any, value: Any) -> float:
    """How far a displayed prediction is from gold, on 0-1: |score - gold| / (max / 2), |p - gold|, or class steps
    over the class count - 1. A class may be given as its index, "index name" or its name; 0 when unreadable."""
    spec = task_registry.get(task)

    def number(x: Any) -> float:
        text = str(x).strip()
        head = text.split()[0] if text else ""
        try:
            return float(head)
        except ValueError:
            return float(spec.class_names.index(text)) if text in spec.class_names else float("nan")

    distance = abs(number(value) - number(gold))
    if distance != distance:  # NaN: nothing to compare
        return 0.0
    if spec.output == "score":
        return min(distance / spec.max_score * 2, 1.0)
    if spec.output == "probability":
        return min(distance, 1.0)
    return min(distance / max(len(spec.class_names) - 1, 1), 1.0)


def hard_case_table(category: dict[str, Any]) -> pd.DataFrame:
    """A category's examples as a table: sentences, gold label, then one column per variant's prediction.

    Numbers have 2 decimals; a classes task's gold label and predictions show the class index.
    """
    task = category.get("task", task_registry.SIMILARITY)
    classes = task_registry.get(task).output == "classes"
    rows = []
    for example in category.get("examples", []):
        row = {
            "sentence1": example.get("sentence1", ""),
            "sentence2": example.get("sentence2", ""),
            "gold": round(example["gold"], 2) if isinstance(example.get("gold"), float) else example.get("gold"),
        }
        if classes:
            row["gold"] = str(row["gold"]).split()[0]
        for variant, value in example.get("predictions", {}).items():
            if isinstance(value, float):
                row[variant] = round(value, 2)
            else:
                row[variant] = str(value).split()[0] if classes else value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not task_registry.is_pair(task) and "sentence2" in frame:
        frame = frame.drop(columns="sentence2")
    return frame
