"""Dev/test evaluation: metrics as ``dict[str, float]``, confusion matrices and per-example predictions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr
from sklearn.metrics import confusion_matrix

from mtbert import tasks as task_registry
from mtbert.backbones import load_backbone
from mtbert.config import FinetuneConfig, HeadConfig
from mtbert.data import Example, bucketed_batches, read_examples, task_file
from mtbert.ensemble import Model
from mtbert.files import write_json_atomic, write_text_atomic
from mtbert.layout import prediction_file_name
from mtbert.multitask import MultitaskModel
from mtbert.tasks import OVERALL, SIMILARITY, overall_score

__all__ = [
    "EvalReport",
    "evaluate",
    "overall_score",
    "predict_examples",
    "prediction_frame",
    "task_score",
    "write_report",
]


def task_score(task: str, metrics: dict[str, float]) -> float:
    """The task's dev metric on a 0-1 scale (Pearson mapped by (r + 1) / 2), used to pick the best epoch."""
    spec = task_registry.get(task)
    return spec.unit(metrics[spec.metric_key])


def predict_examples(model: Model, task: str, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """Predictions for examples: class probabilities (N, C), probabilities or scores (N,)."""
    a = [e.a for e in examples]
    b = [e.b or "" for e in examples] if task_registry.is_pair(task) else None
    return model.predict(task, a, b, batch_size=batch_size)


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
    sst_file: str = task_registry.SST_STEM,
    batch_size: int = 64,
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
) -> EvalReport:
    """Evaluate on ``split`` for each task the model has and whose file exists (others are skipped); ``progress``
    wraps the tasks (e.g. in a progress bar)."""
    report = EvalReport()
    chosen = tasks or [t for t in task_registry.names() if t in model.tasks]
    for task in progress(chosen) if progress else chosen:
        path = task_file(data_dir, task, split, sst_file)
        if not path.exists():
            continue
        examples = read_examples(path, task)
        predictions = predict_examples(model, task, examples, batch_size)
        labels = np.array([e.label for e in examples], dtype=np.float32)
        spec = task_registry.get(task)
        report.metrics[spec.metric_key] = spec.metric(labels, predictions)
        frame = prediction_frame(spec, [e.id for e in examples], labels, predictions)
        frame.insert(1, "sentence1", [e.a for e in examples])
        if spec.pair:
            frame.insert(2, "sentence2", [e.b for e in examples])
        report.predictions[task] = frame
        if spec.output != "score":
            classes = predictions.shape[1] if spec.output == "classes" else 2
            decisions = report.predictions[task]["predicted"]
            report.confusion[task] = confusion_matrix(labels.astype(int), decisions, labels=range(classes)).tolist()
    overall = overall_score(report.metrics)
    if overall is not None:
        report.metrics[OVERALL] = overall
    return report


def prediction_frame(
    spec: task_registry.Task, ids: Sequence[str], labels: np.ndarray | None, predictions: np.ndarray
) -> pd.DataFrame:
    """id, gold (when labelled), predicted and the raw outputs: p0..pC for classes, probability for a probability."""
    frame = pd.DataFrame({"id": list(ids)})
    if labels is not None:
        frame["gold"] = labels
    if spec.output == "classes":
        frame["predicted"] = spec.decide(predictions)
        for c in range(predictions.shape[1]):
            frame[f"p{c}"] = predictions[:, c]
    elif spec.output == "probability":
        frame["probability"] = predictions
        frame["predicted"] = spec.decide(predictions)
    else:
        frame["predicted"] = predictions
    return frame


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
        write_text_atomic(out / prediction_file_name(task, split), frame.to_csv(index=False))


def write_test_predictions(
    model: Model, data_dir: Path, out_dir: str | os.PathLike, sst_file: str = task_registry.SST_STEM
) -> list[Path]:
    """Write CS224N-format prediction files for the ``*-test-student`` files that exist."""
    written = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for task in [t for t in task_registry.names() if t in model.tasks]:
        spec = task_registry.get(task)
        path = task_file(data_dir, task, "test-student", sst_file)
        if not path.exists() or not spec.test_file:
            continue
        examples = read_examples(path, task, labelled=False)
        predictions = predict_examples(model, task, examples)
        lines = [f"id \t {spec.test_header} \n"] + [
            f"{e.id} , {spec.test_value(p)} \n" for e, p in zip(examples, predictions, strict=True)
        ]
        write_text_atomic(out / spec.test_file, "".join(lines))
        written.append(out / spec.test_file)
    return written


def zero_shot_similarity(backbone: str, data_dir: Path, split: str = "dev", batch_size: int = 64) -> float:
    """STS Pearson r of the raw cosine between the mean-pooled embeddings of a pretrained backbone (nothing trained)."""
    encoder, tokenizer = load_backbone(backbone)
    heads = HeadConfig(tasks=[SIMILARITY], pooling="mean", pair_encoding="concat")
    model = MultitaskModel(encoder, tokenizer, heads, FinetuneConfig(mode="frozen"), backbone).eval()
    examples = read_examples(task_file(data_dir, SIMILARITY, split), SIMILARITY)
    cosine = np.zeros(len(examples), dtype=np.float32)
    with torch.inference_mode():
        for batch in bucketed_batches(model.items_for(examples), batch_size, shuffle=False):
            u, _ = model.embed(batch.inputs[0])  # (B, C)
            v, _ = model.embed(batch.inputs[1])  # (B, C)
            cosine[batch.indices] = F.cosine_similarity(u, v).cpu().numpy()
    return float(pearsonr([e.label for e in examples], cosine).statistic)
