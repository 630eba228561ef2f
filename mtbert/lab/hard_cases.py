"""Mine hard cases from the shipped dev predictions into ``hard_cases.json``, by fixed written rules.

The *reference* model of a task is the shipped variant with the best dev metric on it. A rule selects dev
examples from the reference's errors and ranks them; nothing is picked by hand. Every example carries its
gold label and every shipped variant's prediction. Words are lower-cased alphanumeric tokens; "content
words" leave out a short list of function words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtbert import tasks as task_registry
from mtbert.catalog import read_results
from mtbert.data import read_examples, task_file
from mtbert.files import write_json_atomic
from mtbert.layout import hard_cases_file, predictions_file
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

PER_CATEGORY = 10
FUNCTION_WORDS = frozenset(
    "a an the is are was were be been being of in on at to for from by with and or but as that this these those "
    "it its his her their there here he she they we you i do does did has have had not no so than then".split()
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in FUNCTION_WORDS}


def jaccard(a: str, b: str) -> float:
    x, y = set(words(a)), set(words(b))
    return len(x & y) / max(len(x | y), 1)


@dataclass(frozen=True)
class Rule:
    """One category: which task, what it keeps (a row filter on the reference's predictions) and how it ranks."""

    id: str
    title: str
    task: str
    description: str
    keep: Callable[[pd.Series], bool]
    rank: Callable[[pd.Series], float]  # larger first


def _summary(row: pd.Series) -> bool:
    short, long = sorted((row.sentence1, row.sentence2), key=lambda s: len(words(s)))
    s, l_ = content_words(short), content_words(long)
    return (
        len(s) >= 2
        and len(words(long)) >= 1.4 * len(words(short))
        and len(s & l_) / len(s) >= 0.5
        and row.gold - row.predicted >= 0.5
    )


def _one_word_flip(row: pd.Series) -> bool:
    a, b = set(words(row.sentence1)), set(words(row.sentence2))
    return jaccard(row.sentence1, row.sentence2) >= 0.5 and 1 <= len(a ^ b) <= 4 and row.predicted - row.gold >= 0.75


RULES: tuple[Rule, ...] = (
    Rule(
        "sts_summary",
        "STS: one sentence summarises the other, and the model scores it too low",
        SIMILARITY,
        "The longer sentence has at least 1.4× the words of the shorter and holds at least half of the shorter "
        "one's content words, and the reference model's score is at least 0.5 below gold. Ranked by how far below.",
        _summary,
        lambda r: r.gold - r.predicted,
    ),
    Rule(
        "sts_overlap",
        "STS: high word overlap, a changed word changes the meaning, and the model scores it too high",
        SIMILARITY,
        "Word Jaccard overlap at least 0.5, the two sentences differ in 1 to 4 words, and the reference model's "
        "score is at least 0.75 above gold. Ranked by how far above.",
        _one_word_flip,
        lambda r: r.predicted - r.gold,
    ),
    Rule(
        "quora_false_positive",
        "Quora: high word overlap, not duplicates, predicted duplicates",
        PARAPHRASE,
        "Gold 'not duplicate', the reference model's duplicate probability at least 0.5, word Jaccard overlap at "
        "least 0.5. Ranked by overlap times probability.",
        lambda r: (
            r.gold == 0
            and task_registry.get(PARAPHRASE).is_positive(r.probability)
            and jaccard(r.sentence1, r.sentence2) >= 0.5
        ),
        lambda r: jaccard(r.sentence1, r.sentence2) * r.probability,
    ),
    Rule(
        "sst_neighbours",
        "SST: confusions between neighbouring classes",
        SENTIMENT,
        "The reference model's class is one step from gold (e.g. neutral vs negative). For each of the 8 "
        "directed neighbour pairs, the errors where it was most confident, round-robin until 10 are chosen.",
        lambda r: abs(int(r.predicted) - int(r.gold)) == 1,
        lambda r: r.confidence,
    ),
)


def _with_text(frame: pd.DataFrame, data_dir: Path, task: str) -> pd.DataFrame:
    """Join id-only predictions with the dev sentences (the shipped files carry no text)."""
    examples = read_examples(task_file(data_dir, task, "dev"), task)
    text = pd.DataFrame({"id": [e.id for e in examples], "sentence1": [e.a for e in examples]})
    if task_registry.is_pair(task):
        text["sentence2"] = [e.b or "" for e in examples]
    return frame.drop(columns=[c for c in ("sentence1", "sentence2") if c in frame]).merge(text, on="id")


def _display(task: str, row: pd.Series) -> Any:
    spec = task_registry.get(task)
    if spec.output == "classes":
        return f"{int(row.predicted)} {spec.class_names[int(row.predicted)]}"
    if spec.output == "probability":
        return round(float(row.probability), 3)
    return round(float(row.predicted), 3)


def _predictions(task: str, by_id: dict[str, pd.DataFrame], example_id: str) -> dict[str, Any]:
    """Every variant's displayed prediction for one example."""
    return {name: _display(task, frame.loc[example_id]) for name, frame in by_id.items() if example_id in frame.index}


def _gold(task: str, value: float) -> Any:
    spec = task_registry.get(task)
    if spec.output == "classes":
        return f"{int(value)} {spec.class_names[int(value)]}"
    return int(value) if spec.output == "probability" else round(float(value), 2)


def _select(rule: Rule, frame: pd.DataFrame) -> pd.DataFrame:
    kept = frame[frame.apply(rule.keep, axis=1)].copy()
    if kept.empty:
        return kept
    kept["_rank"] = kept.apply(rule.rank, axis=1)
    kept = kept.sort_values(["_rank", "id"], ascending=[False, True])
    if task_registry.get(rule.task).output != "classes":
        return kept.head(PER_CATEGORY)
    # Spread over the neighbour pairs: round-robin over (gold, predicted), each pair's most confident first.
    queues = [group for _, group in kept.groupby([kept.gold.astype(int), kept.predicted.astype(int)])]
    chosen: list[pd.Series] = []
    depth = 0
    while len(chosen) < PER_CATEGORY and any(depth < len(q) for q in queues):
        chosen += [q.iloc[depth] for q in queues if depth < len(q)][: PER_CATEGORY - len(chosen)]
        depth += 1
    return pd.DataFrame(chosen)


def mine(assets_dir: Path, data_dir: Path) -> dict[str, Any]:
    """The hard-cases document: one category per rule, from the shipped variants' dev predictions."""
    results = {k: v for k, v in read_results(assets_dir).items() if v.get("shipped")}
    categories = []
    for rule in RULES:
        spec = task_registry.get(rule.task)
        metric = spec.metric_key
        frames = {}
        for name in results:
            path = predictions_file(assets_dir, name, rule.task)
            if path.exists():
                frames[name] = pd.read_csv(path)
        if not frames:
            continue
        reference = max(frames, key=lambda n: results[n].get(metric, float("-inf")))
        frame = _with_text(frames[reference], data_dir, rule.task)
        if spec.output == "classes":
            frame["confidence"] = frame[[c for c in frame if re.fullmatch(r"p\d+", c)]].max(axis=1)
        by_id = {name: f.set_index("id") for name, f in frames.items()}
        examples = []
        for _, row in _select(rule, frame).iterrows():
            examples.append(
                {
                    "id": row.id,
                    "sentence1": row.sentence1,
                    **({"sentence2": row.sentence2} if spec.pair else {}),
                    "gold": _gold(rule.task, row.gold),
                    "predictions": _predictions(rule.task, by_id, row.id),
                }
            )
        categories.append(
            {
                "id": rule.id,
                "title": rule.title,
                "task": rule.task,
                "description": rule.description + f" Reference model: {reference} (best dev {metric}).",
                "reference": reference,
                "examples": examples,
            }
        )
    return {"rules": "mtbert/lab/hard_cases.py", "categories": categories}


def write_hard_cases(assets_dir: Path, data_dir: Path) -> Path:
    """Mine and write ``hard_cases.json``."""
    path = hard_cases_file(assets_dir)
    write_json_atomic(path, mine(assets_dir, data_dir))
    return path
