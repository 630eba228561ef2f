"""CS224N data files, tokenisation and length-bucketed batching with dynamic padding."""

from __future__ import annotations

import csv
import hashlib
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from mtbert import tasks
from mtbert.layout import default_data_dirs

DATA_DIR_ENV = "MTBERT_DATA_DIR"


@dataclass
class Example:
    """One row: a sentence (``b`` is None) or a sentence pair, with its label when the file has one."""

    id: str
    a: str
    b: str | None = None
    label: float | None = None


class DataDirNotFound(FileNotFoundError):
    """No data directory could be found."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else $MTBERT_DATA_DIR, else ../shared/data if present."""
    candidates: list[Path]
    if data_dir:
        candidates = [Path(data_dir)]
    elif os.environ.get(DATA_DIR_ENV):
        candidates = [Path(os.environ[DATA_DIR_ENV])]
    else:
        candidates = default_data_dirs()
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DataDirNotFound(
        f"data directory not found (looked in {', '.join(str(c) for c in candidates)}); "
        f"pass --data-dir DIR or set {DATA_DIR_ENV}=DIR to the folder holding the CS224N .csv files"
    )


def task_file(data_dir: Path, task: str, split: str, sst_file: str = tasks.SST_STEM) -> Path:
    """Path of a task's CS224N file, e.g. ``quora-dev.csv`` or ``ids-sst-test-student.csv``.

    ``sst_file`` replaces the SST stem (``ids-cfimdb`` for the binary movie-review files).
    """
    stem = tasks.get(task).data_stem
    return data_dir / f"{sst_file if stem == tasks.SST_STEM else stem}-{split}.csv"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_examples(path: Path, task: str, labelled: bool = True) -> list[Example]:
    """Read a CS224N tab-separated file. Malformed rows are skipped, counted and reported in one warning.

    Malformed: a wrong column count, an empty sentence, or (when ``labelled``) a missing or non-numeric label.
    """
    spec = tasks.get(task)
    label_column, is_pair = spec.label_column, spec.pair
    text_columns = ["sentence1", "sentence2"] if is_pair else ["sentence"]
    examples: list[Example] = []
    skipped = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty")
        needed = ["id", *text_columns] + ([label_column] if labelled else [])
        missing = [c for c in needed if c not in header]
        if missing:
            raise ValueError(f"{path} lacks columns {missing} (header: {header})")
        position = {name: header.index(name) for name in needed}
        for row in reader:
            if len(row) != len(header):
                skipped += 1
                continue
            texts = [row[position[c]].strip() for c in text_columns]
            if not all(texts):
                skipped += 1
                continue
            label = None
            if labelled:
                try:
                    label = float(row[position[label_column]])
                except ValueError:
                    skipped += 1
                    continue
                if label != label:  # NaN
                    skipped += 1
                    continue
            example = Example(id=row[position["id"]].strip(), a=texts[0], label=label)
            if is_pair:
                example.b = texts[1]
            examples.append(example)
    if skipped:
        warnings.warn(f"{path.name}: skipped {skipped} malformed row(s), kept {len(examples)}", stacklevel=2)
    return examples


@dataclass
class Features:
    """Token ids of one model input (a sentence, or a cross-encoded pair)."""

    input_ids: list[int]
    token_type_ids: list[int]
    dropped: int = 0  # tokens that truncation to max_length removed


def tokenize(
    tokenizer: PreTrainedTokenizerBase, a: Sequence[str], b: Sequence[str] | None, max_length: int
) -> list[Features]:
    """Tokenise sentences (or cross-encoded pairs when ``b`` is given), truncating to ``max_length``.

    Each Features records how many tokens truncation dropped.
    """
    second = list(b) if b is not None else None
    full = tokenizer(list(a), second, add_special_tokens=True)
    kept = tokenizer(list(a), second, truncation=True, max_length=max_length, add_special_tokens=True)
    return [
        Features(ids, types, len(whole) - len(ids))
        for ids, types, whole in zip(kept["input_ids"], kept["token_type_ids"], full["input_ids"], strict=True)
    ]


def pad(features: Sequence[Features], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to the longest input in the batch: input_ids, attention_mask, token_type_ids, each (B, T)."""
    T = max(len(f.input_ids) for f in features)
    ids = torch.full((len(features), T), pad_id, dtype=torch.long)
    types = torch.zeros((len(features), T), dtype=torch.long)
    mask = torch.zeros((len(features), T), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f.input_ids)
        ids[i, :n] = torch.tensor(f.input_ids)
        types[i, :n] = torch.tensor(f.token_type_ids)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


@dataclass
class Item:
    """A tokenised example: one input (sentence or cross pair) or two (a concat pair), and its label."""

    inputs: tuple[Features, ...]
    label: float | None
    soft: object = None  # a teacher's target (class probabilities, a probability or a score) when distilling

    @property
    def length(self) -> int:
        return sum(len(f.input_ids) for f in self.inputs)


@dataclass
class Batch:
    """Padded model inputs (one dict per input) plus labels and the items' positions in their list, and the
    teacher's targets (B,) or (B, C) when distilling (NaN where an item has none)."""

    inputs: list[dict[str, torch.Tensor]]
    labels: torch.Tensor | None
    indices: list[int]
    soft: torch.Tensor | None = None


def make_items(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    pair_encoding: str,
    max_length: int,
) -> list[Item]:
    """Tokenise examples for the model: pairs become one cross input or two separate inputs."""
    labels = [e.label for e in examples]
    if not examples or examples[0].b is None:
        feats = tokenize(tokenizer, [e.a for e in examples], None, max_length)
        return [Item((f,), y) for f, y in zip(feats, labels, strict=True)]
    a, b = [e.a for e in examples], [e.b or "" for e in examples]
    if pair_encoding == "cross":
        feats = tokenize(tokenizer, a, b, max_length)
        return [Item((f,), y) for f, y in zip(feats, labels, strict=True)]
    feats_a = tokenize(tokenizer, a, None, max_length)
    feats_b = tokenize(tokenizer, b, None, max_length)
    return [Item((fa, fb), y) for fa, fb, y in zip(feats_a, feats_b, labels, strict=True)]


def collate(items: Sequence[Item], indices: list[int], pad_id: int = 0) -> Batch:
    """Pad each input position of a list of items into a batch."""
    inputs = [pad([item.inputs[k] for item in items], pad_id) for k in range(len(items[0].inputs))]
    labels = None if items[0].label is None else torch.tensor([item.label for item in items], dtype=torch.float)
    soft = None
    if any(item.soft is not None for item in items):
        width = next(np.size(item.soft) for item in items if item.soft is not None)
        rows = [item.soft if item.soft is not None else np.full(width, np.nan) for item in items]
        soft = torch.tensor(np.array(rows, dtype=np.float32)).reshape(len(items), -1).squeeze(-1)
    return Batch(inputs, labels, indices, soft)


def bucketed_batches(
    items: Sequence[Item], batch_size: int, shuffle: bool, seed: int = 0, pad_id: int = 0, bucket_batches: int = 50
) -> list[Batch]:
    """Length-bucketed batches with dynamic padding.

    Evaluation (``shuffle=False``): all items sorted by length, so padding is minimal. Training: items are
    shuffled, sorted by length within buckets of ``bucket_batches`` batches, and the batches shuffled.
    """
    order = list(range(len(items)))
    if not shuffle:
        order.sort(key=lambda i: items[i].length)
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    else:
        rng = random.Random(seed)
        rng.shuffle(order)
        span = batch_size * bucket_batches
        groups = []
        for start in range(0, len(order), span):
            bucket = sorted(order[start : start + span], key=lambda i: items[i].length)
            groups += [bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size)]
        rng.shuffle(groups)
    return [collate([items[i] for i in group], group, pad_id) for group in groups]


def iterate_file_order(items: Sequence[Item], batch_size: int, pad_id: int = 0) -> Iterator[Batch]:
    """Batches in file order, without bucketing (the baseline the benchmark compares against)."""
    for start in range(0, len(items), batch_size):
        idx = list(range(start, min(start + batch_size, len(items))))
        yield collate([items[i] for i in idx], idx, pad_id)
