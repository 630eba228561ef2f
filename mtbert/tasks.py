"""The task registry: one spec per task, and the only place that knows what a task's name means.

A ``Task`` says where its data is, whether it reads one sentence or a pair, how its head's raw output becomes a
prediction, how it is trained (its loss) and scored (its metric), and what its labels are called. Every other module
asks the registry (``get``, ``names``, ``is_pair`` ...) instead of comparing task names.

Three kinds of output cover the CS224N tasks:

- ``classes``: logits over classes (SST sentiment) -> softmax probabilities; cross-entropy; accuracy.
- ``probability``: one logit (Quora paraphrase) -> sigmoid probability, decided at ``threshold``; binary
  cross-entropy; accuracy.
- ``score``: a bounded score (STS similarity, 0-``max_score``); MSE; Pearson r.

``register`` adds a task (a fixture in the tests registers a fourth one and trains it through the generic paths).
torch is imported only where a tensor is handled, so that the report tooling can read this module without it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

Output = Literal["classes", "probability", "score"]

SENTIMENT, PARAPHRASE, SIMILARITY = "sentiment", "paraphrase", "similarity"
SST_STEM = "ids-sst"  # the sentiment files' stem; ``TrainConfig.sst_file`` swaps in ``ids-cfimdb``
SENTIMENT_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
BINARY_SENTIMENT_LABELS = ("negative", "positive")


@dataclass(frozen=True)
class Task:
    """Everything the library needs to know about one task."""

    name: str
    data_stem: str  # files are ``<data_stem>-{train,dev,test-student}.csv``
    label_column: str
    pair: bool  # two sentences (sentence1, sentence2) or one (sentence)
    output: Output
    metric_key: str  # key in metrics dictionaries and results.json, e.g. "sst_acc"
    metric_label: str  # short data-set name for tables, e.g. "SST"
    class_names: tuple[str, ...] = ()  # classes: one per class; probability: (negative, positive)
    verdict_names: tuple[str, ...] = ()  # probability: how a decision reads, (no, yes)
    threshold: float = 0.5  # probability: the decision threshold
    max_score: float = 5.0  # score: the top of the scale
    test_file: str = ""  # CS224N submission file name and column header
    test_header: str = ""
    class_names_by_count: dict[int, tuple[str, ...]] = field(default_factory=dict)  # other class counts' names

    # ----- what the metric is called ----------------------------------------------------------------------
    @property
    def metric_name(self) -> str:
        """The metric as a table header says it: "SST acc", "STS Pearson"."""
        return f"{self.metric_label} {'Pearson' if self.output == 'score' else 'acc'}"

    def labels(self, num_classes: int | None = None) -> list[str]:
        """Class names for ``num_classes`` classes (default: the task's own count)."""
        if num_classes is None or num_classes == len(self.class_names):
            return list(self.class_names)
        return list(self.class_names_by_count[num_classes])

    # ----- model outputs (tensors) ------------------------------------------------------------------------
    def num_outputs(self, num_classes: int | None = None) -> int:
        """Width of the head's output: the class count, or 1."""
        return (num_classes or len(self.class_names)) if self.output == "classes" else 1

    def head_activation(self, out: torch.Tensor) -> torch.Tensor:
        """What a linear pair head applies to its output: a score head squashes into [0, max_score]."""
        import torch

        return self.max_score * torch.sigmoid(out) if self.output == "score" else out

    def cosine_init(self) -> tuple[float, float]:
        """(scale, bias) a cosine head starts from: max·cos for a score, the logit 10·cos - 5 otherwise."""
        return (self.max_score, 0.0) if self.output == "score" else (10.0, -5.0)

    def loss(self, values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss of raw outputs against labels."""
        import torch.nn.functional as F

        if self.output == "classes":
            return F.cross_entropy(values, labels.long())
        if self.output == "probability":
            return F.binary_cross_entropy_with_logits(values, labels)
        return F.mse_loss(values, labels)

    def postprocess(self, values: torch.Tensor) -> torch.Tensor:
        """Raw outputs -> predictions: class probabilities, a probability, or a score clamped to the scale."""
        if self.output == "classes":
            return values.softmax(-1)
        if self.output == "probability":
            import torch

            return torch.sigmoid(values)
        return values.clamp(0.0, self.max_score)

    # ----- predictions (arrays) ---------------------------------------------------------------------------
    def decide(self, predictions: np.ndarray) -> np.ndarray:
        """Predictions -> decisions: the class index, 0/1 at the threshold, or the score itself."""
        if self.output == "classes":
            return predictions.argmax(-1)
        if self.output == "probability":
            return (predictions >= self.threshold).astype(int)
        return predictions

    def is_positive(self, probability: float) -> bool:
        """A probability task's decision for one value."""
        return probability >= self.threshold

    def metric(self, labels: np.ndarray, predictions: np.ndarray) -> float:
        """Accuracy of the decisions, or Pearson r of the scores."""
        if self.output == "score":
            from scipy.stats import pearsonr

            return float(pearsonr(labels, predictions).statistic)
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(labels.astype(int), self.decide(predictions)))

    def unit(self, value: Any) -> Any:
        """The metric on a 0-1 scale (Pearson r mapped by (r + 1) / 2): works on floats and arrays."""
        return (value + 1) / 2 if self.output == "score" else value

    def test_value(self, prediction: Any) -> str:
        """One prediction as the CS224N submission files write it."""
        if self.output == "score":
            return f"{prediction:.4f}"
        return str(int(self.decide(np.asarray(prediction))))


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the registry (a name already taken is refused)."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def unregister(name: str) -> None:
    """Remove a task that ``register`` added (the CS224N tasks stay)."""
    if name in CS224N_TASKS:
        raise ValueError(f"{name!r} is a built-in task")
    _REGISTRY.pop(name, None)


@contextmanager
def registered(task: Task) -> Iterator[Task]:
    """Register ``task`` for the length of a block."""
    register(task)
    try:
        yield task
    finally:
        unregister(task.name)


def get(name: str) -> Task:
    """The spec of a registered task; an unknown name is a ValueError naming the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(_REGISTRY)}") from None


def names() -> list[str]:
    """Every registered task, in registration order."""
    return list(_REGISTRY)


def is_pair(name: str) -> bool:
    return get(name).pair


def pair_tasks(tasks: Sequence[str] | None = None) -> list[str]:
    """The pair tasks among ``tasks`` (default: all registered), in order."""
    return [t for t in (names() if tasks is None else tasks) if is_pair(t)]


def num_classes(name: str, num_sentiment_classes: int) -> int:
    """Output classes of a ``classes`` task: ``HeadConfig.num_sentiment_classes`` sets sentiment's (5 or 2)."""
    return num_sentiment_classes if name == SENTIMENT else len(get(name).class_names)


def by_metric(metric_key: str) -> Task:
    """The task whose metric is ``metric_key``."""
    for task in _REGISTRY.values():
        if task.metric_key == metric_key:
            return task
    raise ValueError(f"no task has the metric {metric_key!r}")


def metric_keys(tasks: Sequence[str] | None = None) -> list[str]:
    """Metric keys of ``tasks`` (default: the CS224N tasks), in order."""
    return [get(t).metric_key for t in (CS224N_TASKS if tasks is None else tasks)]


def overall_score(metrics: dict[str, float]) -> float | None:
    """The CS224N overall score: the mean of the three tasks' metrics on a 0-1 scale,
    (SST acc + Quora acc + (Pearson + 1) / 2) / 3; None when one of them is missing."""
    tasks = [get(t) for t in CS224N_TASKS]
    if not all(t.metric_key in metrics for t in tasks):
        return None
    return sum(t.unit(metrics[t.metric_key]) for t in tasks) / len(tasks)


OVERALL = "overall"  # the overall score's key in metrics dictionaries and results.json
OVERALL_FORMULA = f"{OVERALL} = (SST acc + Quora acc + (STS Pearson + 1) / 2) / 3"

register(
    Task(
        SENTIMENT,
        SST_STEM,
        "sentiment",
        pair=False,
        output="classes",
        metric_key="sst_acc",
        metric_label="SST",
        class_names=SENTIMENT_LABELS,
        class_names_by_count={2: BINARY_SENTIMENT_LABELS},
        test_file="sst-test-output.csv",
        test_header="Predicted_Sentiment",
    )
)
register(
    Task(
        PARAPHRASE,
        "quora",
        "is_duplicate",
        pair=True,
        output="probability",
        metric_key="quora_acc",
        metric_label="Quora",
        class_names=("not duplicate", "duplicate"),
        verdict_names=("not paraphrase", "paraphrase"),
        test_file="para-test-output.csv",
        test_header="Predicted_Is_Paraphrase",
    )
)
register(
    Task(
        SIMILARITY,
        "sts",
        "similarity",
        pair=True,
        output="score",
        metric_key="sts_pearson",
        metric_label="STS",
        test_file="sts-test-output.csv",
        test_header="Predicted_Similiarity",
    )
)
CS224N_TASKS: tuple[str, ...] = (SENTIMENT, PARAPHRASE, SIMILARITY)
