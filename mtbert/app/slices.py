"""What the Explorer computes on a table of predictions, without any UI: the filters, the rows where two variants
disagree, the metric per slice (gold label, length, word overlap) and the paired bootstrap of two variants on the
rows kept."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from mtbert import tasks as task_registry
from mtbert.bootstrap import paired

ANY = "any"
LENGTHS = {"1-10 words": (1, 10), "11-20 words": (11, 20), "21-30 words": (21, 30), "over 30 words": (31, 10**6)}
OVERLAPS = {"under 0.25": (0.0, 0.25), "0.25-0.5": (0.25, 0.5), "0.5-0.75": (0.5, 0.75), "0.75 and over": (0.75, 1.01)}
MIN_BOOTSTRAP_ROWS = 20  # fewer rows say too little for an interval to mean much
RESAMPLES = 2000


@dataclass
class Filters:
    """What the Explorer keeps: ``any`` leaves a filter off."""

    gold: str = ANY
    predicted: str = ANY
    min_error: float = 0.0
    length: str = ANY
    overlap: str = ANY
    word: str = ""
    disagree_only: bool = False


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", str(text).lower())


def word_overlap(a: str, b: str) -> float:
    x, y = set(words(a)), set(words(b))
    return len(x & y) / max(len(x | y), 1)


def label_choices(task: str) -> list[str]:
    """Gold/predicted filter choices: each class, or score bands for a score task."""
    spec = task_registry.get(task)
    if spec.output == "score":
        return [ANY] + [f"{i}-{i + 1}" for i in range(int(spec.max_score))]
    return [ANY] + [f"{i} {name}" for i, name in enumerate(spec.class_names)]


def label_of(task: str, value: float) -> str:
    spec = task_registry.get(task)
    if spec.output == "score":
        band = min(int(value), int(spec.max_score) - 1)
        return f"{band}-{band + 1}"
    return f"{int(value)} {spec.class_names[int(value)]}"


def apply_filters(frame: pd.DataFrame, task: str, filters: Filters, pair: bool) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    decided = frame["predicted"] if task_registry.get(task).output != "probability" else frame["decision"]
    if filters.gold != ANY:
        keep &= frame["gold"].map(lambda g: label_of(task, g)) == filters.gold
    if filters.predicted != ANY:
        keep &= decided.map(lambda p: label_of(task, p)) == filters.predicted
    if "error" in frame:
        keep &= frame["error"] >= float(filters.min_error or 0.0)
    if filters.length != ANY and "length" in frame:
        low, high = LENGTHS[filters.length]
        keep &= frame["length"].between(low, high)
    if filters.overlap != ANY and pair and "overlap" in frame:
        low, high = OVERLAPS[filters.overlap]
        keep &= (frame["overlap"] >= low) & (frame["overlap"] < high)
    if filters.word.strip() and "sentence1" in frame:
        word = filters.word.strip().lower()
        text = frame["sentence1"].str.lower() + " " + (frame["sentence2"].str.lower() if pair else "")
        keep &= text.str.contains(word, regex=False)
    if filters.disagree_only and "B predicted" in frame:
        keep &= frame["disagree"]
    return frame[keep]


def disagreement(task: str, a: pd.Series, b: pd.Series) -> pd.Series:
    spec = task_registry.get(task)
    if spec.output == "score":
        return (a - b).abs() >= 0.5
    if spec.output == "probability":
        return pd.Series(spec.decide(a.to_numpy()) != spec.decide(b.to_numpy()), index=a.index)
    return a != b


def significance(frame: pd.DataFrame, task: str) -> dict[str, float] | None:
    """The paired bootstrap of the variant against the second one on these rows (None without labels, a second
    variant, or enough rows)."""
    if "gold" not in frame or "B predicted" not in frame or len(frame) < MIN_BOOTSTRAP_ROWS:
        return None
    spec = task_registry.get(task)
    a, b = frame["predicted"].to_numpy(float), frame["B predicted"].to_numpy(float)
    if spec.output == "probability":
        a, b = spec.decide(a), spec.decide(b)
    return paired(task, frame["gold"].to_numpy(float), a, b, resamples=RESAMPLES)


def significance_text(result: dict[str, float] | None, task: str, variant: str, other: str, frame: pd.DataFrame) -> str:
    """The bootstrap in words: both metrics, the difference and its interval, and how often A beats B."""
    if "B predicted" not in frame:
        return ""
    if "gold" not in frame:
        return "**Is the difference real?** This dataset has no labels, so there is no metric to compare."
    if result is None:
        return f"**Is the difference real?** Keep at least {MIN_BOOTSTRAP_ROWS} rows to compare the two variants."
    spec = task_registry.get(task)
    name = "Pearson r" if spec.output == "score" else "accuracy"
    return (
        f"**Is the difference real?** On these {int(result['items']):,} rows, {variant}'s {name} is "
        f"{result['metric_a']:.3f} and {other}'s {result['metric_b']:.3f}: a difference of "
        f"{result['difference']:+.3f} (95% interval {result['low']:+.3f} to {result['high']:+.3f}). {variant} is "
        f"ahead in {100 * result['prob_a_better']:.0f}% of {int(result['resamples']):,} paired bootstrap resamples "
        "of these rows"
        + (" — the interval holds 0, so this may be noise." if result["low"] <= 0 <= result["high"] else ".")
    )


def slice_metrics(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """Accuracy (a classes or probability task) or mean |error| (a score task: Pearson within a narrow gold band
    says little) on each slice: per gold label, per length bucket and per overlap bucket."""
    spec = task_registry.get(task)
    if "gold" not in frame:
        return pd.DataFrame(columns=["slice", "bucket", "n", "value"])
    correct = (frame["decision"] if "decision" in frame else frame["predicted"]) == frame["gold"]
    values = frame["error"] if spec.output == "score" else correct.astype(float)
    groups: list[tuple[str, pd.Series]] = [("gold", frame["gold"].map(lambda g: label_of(task, g)))]
    if "length" in frame:
        groups.append(("length", pd.cut(frame["length"], [0, 10, 20, 30, 10**6], labels=list(LENGTHS))))
    if "overlap" in frame:
        cuts = pd.cut(frame["overlap"], [-0.01, 0.25, 0.5, 0.75, 1.01], right=False, labels=list(OVERLAPS))
        groups.append(("overlap", cuts))
    rows = [
        {"slice": kind, "bucket": str(key), "n": len(part), "value": float(part.mean())}
        for kind, keys in groups
        for key, part in values.groupby(keys, observed=True)
    ]
    return pd.DataFrame(rows, columns=["slice", "bucket", "n", "value"])


def slice_figure(slices: pd.DataFrame, task: str, title: str) -> go.Figure:
    """The slice metrics as bars, one colour per kind of slice."""
    spec = task_registry.get(task)
    fig = go.Figure()
    for kind, part in slices.groupby("slice", sort=False):
        fig.add_bar(
            name=f"by {kind}",
            x=[f"{b}" for b in part["bucket"]],
            y=part["value"],
            text=[f"{v:.2f} (n={n})" for v, n in zip(part["value"], part["n"], strict=True)],
            textposition="outside",
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        )
    label = "mean |error| (lower is better)" if spec.output == "score" else "accuracy"
    fig.update_layout(
        title=title,
        yaxis={"title": label, "range": [0, 1.18 * float(slices["value"].max() or 1.0)]},
        xaxis={"tickangle": -30, "title": "slice (colour: gold label, length, word overlap)"},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": 1.08},
    )
    return fig
