"""What the app asks of the models, without any UI: run a task on an input, compare variants, hard cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from mtbert.explain import integrated_gradients
from mtbert.multitask import (
    BINARY_SENTIMENT_LABELS,
    SENTIMENT_LABELS,
    AttentionView,
    EnsembleModel,
    Model,
    TaskRouter,
)

PAIR_TASKS = ("paraphrase", "similarity")
ALL_TASKS = ("all", "all three")  # task choices that run every task the input allows


class InputError(ValueError):
    """The user's input cannot be run; the message is meant for the user."""


@dataclass
class Prediction:
    """One input's predictions for one or more tasks, with attention views per task."""

    sentiment: dict[str, float] | None = None
    paraphrase: float | None = None
    similarity: float | None = None
    views: dict[str, list[AttentionView]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, task: str) -> Any:
        return getattr(self, task)

    def summary(self, task: str) -> str:
        """A short text of the prediction for ``task``."""
        if task == "sentiment" and self.sentiment:
            label = max(self.sentiment, key=self.sentiment.get)
            return f"{label} ({self.sentiment[label]:.2f})"
        if task == "paraphrase" and self.paraphrase is not None:
            return f"{'paraphrase' if self.paraphrase >= 0.5 else 'not paraphrase'} ({self.paraphrase:.2f})"
        if task == "similarity" and self.similarity is not None:
            return f"{self.similarity:.2f} / 5"
        return "—"


def check_text(text: str | None, name: str) -> str:
    """The text, or an InputError for an empty or whitespace-only input."""
    if text is None or not str(text).strip():
        raise InputError(f"{name} is empty: type a sentence first")
    return str(text)


def tasks_for(choice: str, has_pair: bool) -> list[str]:
    """The tasks to run for a task choice ("all three" runs the pair tasks only when a pair is given)."""
    if choice in ALL_TASKS:
        return ["sentiment", *PAIR_TASKS] if has_pair else ["sentiment"]
    return [choice]


def predict_input(model: Model, task_choice: str, a: str, b: str | None, with_attentions: bool = True) -> Prediction:
    """Run the chosen task(s) on one sentence or pair."""
    a = check_text(a, "Sentence A")
    has_pair = bool(b and b.strip())
    tasks = tasks_for(task_choice, has_pair)
    if any(t in PAIR_TASKS for t in tasks) and not has_pair:
        raise InputError(f"{task_choice} compares two sentences: sentence B is empty")
    missing = [t for t in tasks if t not in model.tasks]
    prediction = Prediction()
    if missing and task_choice in ALL_TASKS and len(missing) < len(tasks):
        tasks = [t for t in tasks if t in model.tasks]
        prediction.notes.append(f"This variant has no {', '.join(missing)} model; that task was skipped.")
    elif missing:
        raise InputError(f"this variant has no {', '.join(missing)} model (it has: {', '.join(model.tasks)})")
    if task_choice in ALL_TASKS and not has_pair:
        prediction.notes.append("Only sentiment ran: paraphrase and similarity need sentence B.")
    for task in tasks:
        second = None if task == "sentiment" else [b]
        if with_attentions:
            values, views = model.predict(task, [a], second, return_attentions=True)
            prediction.views[task] = views[0]
            dropped = sum(v.dropped_tokens for v in views[0])
            if dropped:
                prediction.notes.append(f"{task}: the input was truncated, {dropped} token(s) dropped.")
        else:
            values = model.predict(task, [a], second)
        if task == "sentiment":
            labels = model.sentiment_labels
            prediction.sentiment = {label: float(p) for label, p in zip(labels, values[0])}
        else:
            setattr(prediction, task, float(values[0]))
    return prediction


def disagreement(task: str, predictions: dict[str, Prediction]) -> str:
    """One line saying where variants disagree on ``task``."""
    if len(predictions) < 2:
        return "Pick at least two variants to compare."
    if task == "sentiment":
        labels = {name: max(p.sentiment, key=p.sentiment.get) for name, p in predictions.items() if p.sentiment}
        if len(set(labels.values())) == 1:
            return f"All variants agree: {next(iter(labels.values()))}."
        return "They disagree on the class: " + "; ".join(f"{n} says {lab}" for n, lab in labels.items()) + "."
    if task == "paraphrase":
        verdicts = {n: p.paraphrase >= 0.5 for n, p in predictions.items() if p.paraphrase is not None}
        if len(set(verdicts.values())) == 1:
            spread = np.ptp([p.paraphrase for p in predictions.values()])
            word = "paraphrase" if next(iter(verdicts.values())) else "not a paraphrase"
            return f"All variants agree it is {word} (probabilities differ by {spread:.2f})."
        yes = [n for n, v in verdicts.items() if v]
        no = [n for n, v in verdicts.items() if not v]
        return f"They disagree: {', '.join(yes)} say paraphrase; {', '.join(no)} say not."
    scores = {n: p.similarity for n, p in predictions.items() if p.similarity is not None}
    low, high = min(scores, key=scores.get), max(scores, key=scores.get)
    spread = scores[high] - scores[low]
    if spread < 0.5:
        return f"The scores agree within {spread:.2f} points."
    return f"The scores differ by {spread:.2f} points: {high} gives {scores[high]:.2f}, {low} gives {scores[low]:.2f}."


def focus_task(task_choice: str, b: str | None, available: list[str] | None = None) -> str:
    """The task whose attention and saliency are shown: for "all three", similarity for a pair (when the
    variant has it), else sentiment."""
    if task_choice not in ALL_TASKS:
        return task_choice
    pair = bool(b and b.strip())
    for task in (["similarity", "paraphrase"] if pair else []) + ["sentiment"]:
        if available is None or task in available:
            return task
    return "sentiment"


def explain_input(model: Model, task_choice: str, a: str, b: str | None) -> tuple[list[tuple[str, float | None]], str]:
    """Integrated-gradients saliency spans for the focus task, and a sentence saying what was explained."""
    a = check_text(a, "Sentence A")
    task = focus_task(task_choice, b, model.tasks)
    if task != "sentiment":
        b = check_text(b, "Sentence B")
    if task not in model.tasks:
        raise InputError(f"this variant has no {task} model")
    inner = model.model_for(task) if isinstance(model, TaskRouter) else model
    parts, explained = integrated_gradients(inner, task, a, b if task != "sentiment" else None)
    spans: list[tuple[str, float | None]] = []
    for i, part in enumerate(parts):
        if len(parts) == 2:
            spans.append((f"[sentence {'AB'[i]}] ", None))
        spans.extend(saliency_spans(part.tokens, part.scores))
    note = f"Saliency of the {task} model's {explained} (integrated gradients, captum)."
    if isinstance(model, EnsembleModel):
        note += f" This ensemble explains through its first {task} member, {model.members_for(task)[0]}."
    return spans, note


def saliency_spans(tokens: list[str], scores: np.ndarray) -> list[tuple[str, float | None]]:
    """(token, score in [-1, 1]) spans for highlighting; special tokens get no score."""
    scale = float(np.abs(scores).max()) or 1.0
    spans = []
    for token, score in zip(tokens, scores):
        if token in ("[CLS]", "[PAD]"):
            continue
        spans.append((f"{token} ", None if token == "[SEP]" else round(float(score) / scale, 3)))
    return spans


def confusion_from_predictions(frame: pd.DataFrame, task: str) -> tuple[np.ndarray, list[str]]:
    """Confusion matrix (gold rows, predicted columns) and class names from a dev predictions frame.

    Sentiment classes are counted from the frame's ``p0, p1, ...`` columns (5 for SST, 2 for CFIMDB).
    """
    if task == "paraphrase":
        labels = ["not duplicate", "duplicate"]
    else:
        classes = sum(1 for c in frame.columns if c[:1] == "p" and c[1:].isdigit())
        labels = SENTIMENT_LABELS if classes == len(SENTIMENT_LABELS) else BINARY_SENTIMENT_LABELS
    matrix = confusion_matrix(frame["gold"].astype(int), frame["predicted"].astype(int), labels=range(len(labels)))
    return matrix, labels


def head_choices(view: AttentionView) -> list[str]:
    """Attention head choices for a model: mean, rollout, then each head by number."""
    return ["mean", "rollout"] + [str(h) for h in range(view.attentions.shape[1])]


def hard_case_table(category: dict[str, Any]) -> pd.DataFrame:
    """A category's examples as a table: sentences, gold label, then one column per variant's prediction."""
    rows = []
    for example in category.get("examples", []):
        row = {
            "sentence1": example.get("sentence1", ""),
            "sentence2": example.get("sentence2", ""),
            "gold": round(example["gold"], 2) if isinstance(example.get("gold"), float) else example.get("gold"),
        }
        for variant, value in example.get("predictions", {}).items():
            row[variant] = round(value, 3) if isinstance(value, float) else value
        rows.append(row)
    frame = pd.DataFrame(rows)
    if category.get("task") == "sentiment" and "sentence2" in frame:
        frame = frame.drop(columns="sentence2")
    return frame
