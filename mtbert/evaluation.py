"""Dev/test evaluation: metrics as ``dict[str, float]``, confusion matrices and per-example predictions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, confusion_matrix

from mtbert.backbones import load_backbone
from mtbert.checkpoint import write_json_atomic, write_text_atomic
from mtbert.config import TASKS, FinetuneConfig, HeadConfig
from mtbert.data import Example, bucketed_batches, read_examples, task_file
from mtbert.multitask import Model, MultitaskModel

METRIC_KEYS = {"sentiment": "sst_acc", "paraphrase": "quora_acc", "similarity": "sts_pearson"}


def overall_score(metrics: dict[str, float]) -> float | None:
    """The CS224N overall score (SST acc + Quora acc + (Pearson + 1) / 2) / 3, or None if a task is missing."""
    if not all(key in metrics for key in METRIC_KEYS.values()):
        return None
    return (metrics["sst_acc"] + metrics["quora_acc"] + (metrics["sts_pearson"] + 1) / 2) / 3


def task_score(task: str, metrics: dict[str, float]) -> float:
    """The task's dev metric on a 0-1 scale (Pearson mapped by (r + 1) / 2), used to pick the best epoch."""
    value = metrics[METRIC_KEYS[task]]
    return (value + 1) / 2 if task == "similarity" else value


def predict_examples(model: Model, task: str, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """Predictions for examples: class probabilities (N, C), paraphrase probabilities or scores (N,)."""
    a = [e.a for e in examples]
    b = None if task == "sentiment" else [e.b or "" for e in examples]
    return model.predict(task, a, b, batch_size=batch_size)


def score_task(task: str, labels: np.ndarray, predictions: np.ndarray) -> float:
    """The task's metric: accuracy for sentiment and paraphrase, Pearson r for similarity."""
    if task == "sentiment":
        return float(accuracy_score(labels.astype(int), predictions.argmax(-1)))
    if task == "paraphrase":
        return float(accuracy_score(labels.astype(int), (predictions >= 0.5).astype(int)))
    return float(pearsonr(labels, predictions).statistic)


@dataclass
class EvalReport:
    """Metrics, per-example predictions (one DataFrame per task) and confusion matrices."""

    metrics: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)


def evaluate(
    model: Model,
    data_dir: Path,
    split: str = "dev",
    tasks: Sequence[str] | None = None,
    sst_file: str = "ids-sst",
    batch_size: int = 64,
) -> EvalReport:
    """Evaluate on ``split`` for each task the model has and whose file exists (others are skipped)."""
    report = EvalReport()
    for task in tasks or [t for t in TASKS if t in model.tasks]:
        path = task_file(data_dir, task, split, sst_file)
        if not path.exists():
            continue
        examples = read_examples(path, task)
        predictions = predict_examples(model, task, examples, batch_size)
        labels = np.array([e.label for e in examples], dtype=np.float32)
        report.metrics[METRIC_KEYS[task]] = score_task(task, labels, predictions)
        frame = pd.DataFrame({"id": [e.id for e in examples], "sentence1": [e.a for e in examples]})
        if task != "sentiment":
            frame["sentence2"] = [e.b for e in examples]
        frame["gold"] = labels
        if task == "sentiment":
            classes = predictions.shape[1]
            frame["predicted"] = predictions.argmax(-1)
            for c in range(classes):
                frame[f"p{c}"] = predictions[:, c]
            report.confusion[task] = confusion_matrix(
                labels.astype(int), frame["predicted"], labels=range(classes)
            ).tolist()
        elif task == "paraphrase":
            frame["probability"] = predictions
            frame["predicted"] = (predictions >= 0.5).astype(int)
            report.confusion[task] = confusion_matrix(labels.astype(int), frame["predicted"], labels=[0, 1]).tolist()
        else:
            frame["predicted"] = predictions
        report.predictions[task] = frame
    overall = overall_score(report.metrics)
    if overall is not None:
        report.metrics["overall"] = overall
    return report


def write_report(report: EvalReport, out_dir: str | os.PathLike, split: str, include_text: bool = True) -> None:
    """Write metrics.json, confusion.json and ``<task>-<split>-predictions.csv`` files into ``out_dir``.

    ``include_text=False`` leaves the sentences out (ids, gold and predictions only): for files that ship
    in the repository, which must not copy the data sets.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"metrics-{split}.json", report.metrics)
    write_json_atomic(out / f"confusion-{split}.json", report.confusion)
    for task, frame in report.predictions.items():
        if not include_text:
            frame = frame.drop(columns=[c for c in ("sentence1", "sentence2") if c in frame])
        write_text_atomic(out / f"{task}-{split}-predictions.csv", frame.to_csv(index=False))


# CS224N submission file names and headers per task.
_TEST_OUTPUTS = {
    "sentiment": ("sst-test-output.csv", "Predicted_Sentiment"),
    "paraphrase": ("para-test-output.csv", "Predicted_Is_Paraphrase"),
    "similarity": ("sts-test-output.csv", "Predicted_Similiarity"),
}


def write_test_predictions(
    model: Model, data_dir: Path, out_dir: str | os.PathLike, sst_file: str = "ids-sst"
) -> list[Path]:
    """Write CS224N-format prediction files for the ``*-test-student`` files that exist."""
    written = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for task in [t for t in TASKS if t in model.tasks]:
        path = task_file(data_dir, task, "test-student", sst_file)
        if not path.exists():
            continue
        examples = read_examples(path, task, labelled=False)
        predictions = predict_examples(model, task, examples)
        if task == "sentiment":
            values = [str(int(p)) for p in predictions.argmax(-1)]
        elif task == "paraphrase":
            values = [str(int(p >= 0.5)) for p in predictions]
        else:
            values = [f"{p:.4f}" for p in predictions]
        name, header = _TEST_OUTPUTS[task]
        lines = [f"id \t {header} \n"] + [f"{e.id} , {value} \n" for e, value in zip(examples, values)]
        write_text_atomic(out / name, "".join(lines))
        written.append(out / name)
    return written


def zero_shot_similarity(backbone: str, data_dir: Path, split: str = "dev", batch_size: int = 64) -> float:
    """STS Pearson r of the raw cosine between the mean-pooled embeddings of a pretrained backbone (nothing trained)."""
    encoder, tokenizer = load_backbone(backbone)
    heads = HeadConfig(tasks=["similarity"], pooling="mean", pair_encoding="concat")
    model = MultitaskModel(encoder, tokenizer, heads, FinetuneConfig(mode="frozen"), backbone).eval()
    examples = read_examples(task_file(data_dir, "similarity", split), "similarity")
    cosine = np.zeros(len(examples), dtype=np.float32)
    with torch.inference_mode():
        for batch in bucketed_batches(model.items_for(examples), batch_size, shuffle=False):
            u, _ = model.embed(batch.inputs[0])  # (B, C)
            v, _ = model.embed(batch.inputs[1])  # (B, C)
            cosine[batch.indices] = F.cosine_similarity(u, v).cpu().numpy()
    return float(pearsonr([e.label for e in examples], cosine).statistic)
