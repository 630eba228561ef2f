"""Adding the user's own dataset from the browser or the API: an uploaded CSV, TSV, JSONL or Parquet file, read as
data only under a size and a row limit, its columns matched by their usual names or picked by the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore
from mtbert.datasets import AUTO, MAX_ROWS, DatasetError, check_name, read_dataset, read_table

MAX_UPLOAD_BYTES = 5 * 2**20  # Gradio refuses a larger upload before anything reads it (app.py's max_file_size)
MAX_UPLOAD = "5mb"
TASK_CHOICES = [AUTO, *task_registry.names()]


def _upload(file: Any) -> tuple[bytes, str]:
    """The bytes and the original name of an uploaded file (a path Gradio saved it to, or a FileData dict)."""
    if file is None:
        raise InputError("choose a file first (CSV, TSV, JSONL or Parquet)")
    path = Path(file if isinstance(file, str | Path) else (file.get("path") if isinstance(file, dict) else file.name))
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise InputError(f"{path.name} is over the {MAX_UPLOAD_BYTES / 2**20:g} MB upload limit")
    original = file.get("orig_name") if isinstance(file, dict) else None
    return path.read_bytes(), original or path.name


def file_columns(file: Any) -> dict[str, Any]:
    """The columns an uploaded file has (to pick them by hand) and a name for it from its file name."""
    data, filename = _upload(file)
    try:
        table = read_table(data, filename, MAX_ROWS)
    except DatasetError as err:
        raise InputError(str(err)) from err
    stem = "".join(c if c.isalnum() or c in " ._-" else "-" for c in Path(filename).stem)[:64].strip(" .-_")
    return {"columns": [AUTO, *table.columns], "name": stem or "my data", "rows": len(table)}


def add_dataset(
    store: VariantStore,
    file: Any,
    name: str,
    task: str = AUTO,
    sentence1: str = AUTO,
    sentence2: str = AUTO,
    label: str = AUTO,
    id_column: str = AUTO,
) -> dict[str, Any]:
    """Read an uploaded file as a dataset of ``task`` (or its guess) and add it to the app under ``name``;
    returns what was read (name, task, rows, labelled, sha256, notes)."""
    if task not in TASK_CHOICES:
        raise InputError(f"unknown task {task!r}; pick one of {', '.join(TASK_CHOICES)}")
    data, filename = _upload(file)
    columns = {"sentence1": sentence1, "sentence2": sentence2, "label": label, "id": id_column}
    try:
        dataset = read_dataset(
            check_name(name), data, filename, task, columns, MAX_UPLOAD_BYTES, MAX_ROWS, f"uploaded {filename}"
        )
        dataset = store.add_dataset(dataset, upload=True)
    except DatasetError as err:
        raise InputError(str(err)) from err
    return dataset.summary()
