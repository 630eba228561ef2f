"""Batch prediction over an uploaded CSV (``sentence``, or ``sentence1,sentence2``)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.ensemble import Model

MAX_BATCH_ROWS = 5000


class BatchInputError(ValueError):
    """The uploaded file cannot be used; the message says why."""


def read_batch_csv(path: str | Path, task: str, max_rows: int = MAX_BATCH_ROWS) -> pd.DataFrame:
    """Read and check an uploaded CSV for ``task``: right columns, no empty sentences, at most ``max_rows``."""
    needed = text_columns(task)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if "\x00" in f.read(4096):
                raise BatchInputError("not a CSV file: it contains binary data")
            f.seek(0)
            rows = list(csv.reader(f))
    except UnicodeDecodeError as err:
        raise BatchInputError("not a CSV file: it is not UTF-8 text") from err
    except csv.Error as err:
        raise BatchInputError(f"not a CSV file: {err}") from err
    rows = [row for row in rows if row]  # blank lines
    if not rows:
        raise BatchInputError("the file is empty")
    header, body = [c.strip() for c in rows[0]], rows[1:]
    if len(body) > max_rows:
        raise BatchInputError(f"too many rows: {len(body):,} (the limit is {max_rows:,})")
    missing = [c for c in needed if c not in header]
    if missing:
        raise BatchInputError(
            f"wrong columns for {task}: need {', '.join(needed)}; found {', '.join(header) or 'none'}"
        )
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise BatchInputError(
                f"not a CSV file: line {line} has {len(row)} fields but the header has {len(header)} "
                "(put sentences that contain commas in double quotes)"
            )
    if not body:
        raise BatchInputError("the file has a header but no rows")
    frame = pd.DataFrame(body, columns=header)
    empty = [i + 2 for i in range(len(frame)) if any(not frame.at[i, c].strip() for c in needed)]
    if empty:
        shown = ", ".join(map(str, empty[:5])) + (" ..." if len(empty) > 5 else "")
        raise BatchInputError(f"empty sentence on line(s) {shown}")
    return frame


def predict_frame(
    model: Model,
    task: str,
    frame: pd.DataFrame,
    progress: Callable[[float], None] | None = None,
    chunk: int = 256,
) -> pd.DataFrame:
    """Predict every row of a checked frame; returns the frame with prediction columns added."""
    out = frame.copy()
    parts = []
    for start in range(0, len(frame), chunk):
        rows = frame.iloc[start : start + chunk]
        texts = [rows[c].tolist() for c in text_columns(task)]
        parts.append(model.predict(task, *texts))
        if progress:
            progress(min(1.0, (start + len(rows)) / len(frame)))
    values = np.concatenate(parts)
    spec = task_registry.get(task)
    if spec.output == "classes":
        labels = model.class_names(task)
        out["predicted"] = [labels[i] for i in spec.decide(values)]
        for i, label in enumerate(labels):
            out[f"p_{label.replace(' ', '_')}"] = values[:, i].round(4)
    elif spec.output == "probability":
        out[f"{task}_probability"] = values.round(4)
        out[f"is_{task}"] = spec.decide(values)
    else:
        out[task] = values.round(3)
    return out


def text_columns(task: str) -> list[str]:
    """The CSV columns a task reads: ``sentence``, or ``sentence1`` and ``sentence2`` for a pair task."""
    if task not in task_registry.names():
        raise BatchInputError(f"unknown task {task!r}: pick one of {', '.join(task_registry.names())}")
    return ["sentence1", "sentence2"] if task_registry.is_pair(task) else ["sentence"]
