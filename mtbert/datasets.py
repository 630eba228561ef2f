"""Datasets: a task's rows (sentences, and gold labels when the file has them) with a content hash and where they
came from. The shipped dev sets are datasets like any other; a user's file comes in as CSV, TSV, JSONL or
Parquet (``app.py --datasets NAME=PATH[:task]`` or an upload), with its columns matched by their usual names or
named by the user. A file is read as data only (never unpickled or evaluated), under a size and a row limit, and
every problem is a DatasetError whose message says what was found.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.data import Example, read_examples

MAX_BYTES = 20 * 2**20  # a file named on the command line; an upload is held to the app's own upload limit
MAX_ROWS = 50_000
FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
ROLES = ("sentence1", "sentence2", "label", "id")
# Usual column names, best first. A single-sentence task reads sentence1 only.
TEXT_NAMES = {
    "sentence1": ("sentence1", "sentence", "text", "question1", "text_a", "premise", "review"),
    "sentence2": ("sentence2", "question2", "text_b", "hypothesis"),
}
LABEL_NAMES = {
    task_registry.SENTIMENT: ("sentiment", "label", "labels", "class"),
    task_registry.PARAPHRASE: ("is_duplicate", "is_paraphrase", "label", "labels"),
    task_registry.SIMILARITY: ("similarity", "score", "label", "labels"),
}
ID_NAMES = ("id", "pair_id", "idx", "index")
AUTO = "auto"  # guess the task (or the column) from the file


class DatasetError(ValueError):
    """A dataset file cannot be read as a task's rows; the message is meant for the user."""


@dataclass(frozen=True)
class Dataset:
    """A task's rows: ``frame`` holds id, sentence1 (sentence2 for a pair task) and, when labelled, gold."""

    name: str
    task: str
    frame: pd.DataFrame
    sha256: str  # of the task and the rows as read: keys every cached prediction on it
    origin: str  # where it came from, in words
    dev_set: bool = False  # one of the CS224N dev sets that the shipped predictions refer to
    notes: tuple[str, ...] = ()  # what reading it dropped or guessed

    @property
    def labelled(self) -> bool:
        return "gold" in self.frame

    def __len__(self) -> int:
        return len(self.frame)

    def examples(self) -> list[Example]:
        """The rows as Examples (label None when unlabelled)."""
        pair, labelled = task_registry.is_pair(self.task), self.labelled
        return [
            Example(str(r.id), r.sentence1, r.sentence2 if pair else None, float(r.gold) if labelled else None)
            for r in self.frame.itertuples(index=False)
        ]

    def summary(self) -> dict[str, object]:
        """What an API client or a picker says of it."""
        return {
            "name": self.name,
            "task": self.task,
            "rows": len(self),
            "labelled": self.labelled,
            "sha256": self.sha256,
            "origin": self.origin,
            "notes": list(self.notes),
        }


def content_hash(task: str, frame: pd.DataFrame) -> str:
    """sha256 of the task and the canonical rows (the same rows hash alike whatever format they came in)."""
    digest = hashlib.sha256(task.encode())
    digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


def from_examples(name: str, task: str, examples: list[Example], origin: str, dev_set: bool = False) -> Dataset:
    """A Dataset of examples read elsewhere (the CS224N files)."""
    frame = pd.DataFrame({"id": [e.id for e in examples], "sentence1": [e.a for e in examples]})
    if task_registry.is_pair(task):
        frame["sentence2"] = [e.b or "" for e in examples]
    if examples and all(e.label is not None for e in examples):
        frame["gold"] = [float(e.label) for e in examples]  # type: ignore[arg-type]
    return Dataset(name, task, frame, content_hash(task, frame), origin, dev_set)


def read_cs224n(name: str, path: Path, task: str, origin: str, dev_set: bool = False) -> Dataset:
    """A CS224N tab-separated file (``read_examples``) as a Dataset."""
    return from_examples(name, task, read_examples(path, task), origin, dev_set)


# ----- reading a user's file -------------------------------------------------------------------------------
def file_format(filename: str) -> str:
    """csv, tsv, jsonl or parquet, from the file name's extension."""
    fmt = FORMATS.get(Path(filename).suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"{Path(filename).name}: unknown file type {Path(filename).suffix or '(none)'!r}; use "
            ".csv, .tsv, .jsonl or .parquet"
        )
    return fmt


def read_table(data: bytes, filename: str, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The file's table, every cell read as text (types are checked per column later)."""
    fmt = file_format(filename)
    try:
        if fmt == "parquet":
            table = pd.read_parquet(io.BytesIO(data))
        elif fmt == "jsonl":
            table = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
        else:
            first = data[:4096].decode("utf-8", errors="replace").split("\n", 1)[0]
            sep = "\t" if fmt == "tsv" or "\t" in first else ","
            table = pd.read_csv(
                io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, encoding="utf-8", quoting=0
            )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError, ImportError) as err:
        raise DatasetError(f"{Path(filename).name} could not be read as {fmt}: {str(err)[:300]}") from err
    if table.empty:
        raise DatasetError(f"{Path(filename).name} has no rows")
    if len(table) > max_rows:
        raise DatasetError(f"{Path(filename).name} has {len(table):,} rows; the limit is {max_rows:,}")
    table.columns = [str(c).strip() for c in table.columns]
    return table


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def match_columns(table: pd.DataFrame, task: str, chosen: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Role -> column for sentence1, sentence2 (pair tasks), label and id: the user's choice first, else the usual
    names. Raises DatasetError naming the columns found when a sentence column cannot be matched."""
    columns = list(table.columns)
    chosen = {k: v for k, v in (chosen or {}).items() if v and v != AUTO}
    unknown = [v for v in chosen.values() if v not in columns]
    if unknown:
        raise DatasetError(f"no column named {', '.join(map(repr, unknown))}; the file has {columns}")
    pair = task_registry.is_pair(task)
    matched: dict[str, str | None] = {
        "sentence1": chosen.get("sentence1") or _find(columns, TEXT_NAMES["sentence1"]),
        "sentence2": (chosen.get("sentence2") or _find(columns, TEXT_NAMES["sentence2"])) if pair else None,
        "label": chosen.get("label") or _find(columns, LABEL_NAMES[task]),
        "id": chosen.get("id") or _find(columns, ID_NAMES),
    }
    needed = ["sentence1", "sentence2"] if pair else ["sentence1"]
    missing = [role for role in needed if matched[role] is None]
    if missing:
        usual = " / ".join(TEXT_NAMES[missing[0]][:4])
        raise DatasetError(
            f"{task} needs {' and '.join(needed)} columns; none matched {missing[0]} (usual names: {usual}). "
            f"The file has columns {columns}: pick them by hand"
        )
    return matched


def guess_task(table: pd.DataFrame) -> str:
    """The task a file most likely holds: a pair of sentences with 0/1 labels, an is_duplicate column or Quora's
    question1/question2 is paraphrase, a pair with other labels (or none) similarity; one sentence is sentiment."""
    columns = list(table.columns)
    if _find(columns, TEXT_NAMES["sentence2"]) is None:
        return task_registry.SENTIMENT
    if _find(columns, ("is_duplicate", "is_paraphrase", "question1")):
        return task_registry.PARAPHRASE
    if _find(columns, ("similarity", "score")):
        return task_registry.SIMILARITY
    label = _find(columns, ("label", "labels"))
    if label is not None:
        values = pd.to_numeric(table[label], errors="coerce").dropna()
        if len(values) and values.isin([0, 1]).all():
            return task_registry.PARAPHRASE
    return task_registry.SIMILARITY


def _cell(value: object) -> str:
    """One cell as text: empty for a missing value, 1/0 for a JSON boolean."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    return str(value)


def _labels(values: pd.Series, task: str, column: str) -> np.ndarray:
    """The label column as floats, checked against the task's range; DatasetError names the bad rows."""
    text = values.map(_cell).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & (text != "")
    if bad.any():
        rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())[:3]]
        examples = ", ".join(repr(v) for v in text[bad].head(3))
        raise DatasetError(
            f"label column {column!r} mixes numbers with other values: {examples} (file rows {rows}, counting the "
            f"header as row 1); {task} labels are numbers"
        )
    if numbers.isna().any():
        raise DatasetError(
            f"label column {column!r} is empty in {int(numbers.isna().sum()):,} rows: label every row, or leave the "
            "column out for an unlabelled file"
        )
    spec = task_registry.get(task)
    array = numbers.to_numpy(dtype=float)
    if spec.output == "score":
        ok, rule = (array >= 0) & (array <= spec.max_score), f"a score from 0 to {spec.max_score:g}"
    else:
        classes = len(spec.class_names) if spec.output == "classes" else 2
        ok, rule = np.isin(array, np.arange(classes)), f"an integer class from 0 to {classes - 1}"
    if not ok.all():
        shown = ", ".join(f"{v:g}" for v in array[~ok][:3])
        raise DatasetError(
            f"label column {column!r} has {int((~ok).sum()):,} value(s) out of range ({shown}): "
            f"a {task} label is {rule}"
        )
    return array


def from_table(
    name: str,
    table: pd.DataFrame,
    task: str = AUTO,
    origin: str = "",
    columns: Mapping[str, str] | None = None,
) -> Dataset:
    """A Dataset from a read table: the task (or its guess), matched columns, checked labels. Rows with an empty
    sentence are dropped and said in ``notes``; a file without a label column is unlabelled."""
    notes = []
    if task in (None, "", AUTO):
        task = guess_task(table)
        notes.append(f"read as {task} (guessed from the columns; pick the task to change it)")
    if task not in task_registry.names():
        raise DatasetError(f"unknown task {task!r}; pick one of {', '.join(task_registry.names())}")
    matched = match_columns(table, task, columns)
    pair = task_registry.is_pair(task)
    frame = pd.DataFrame(
        {"id": table[matched["id"]].astype(str) if matched["id"] else [str(i) for i in range(len(table))]}
    )
    if matched["id"] and frame["id"].duplicated().any():
        notes.append(f"column {matched['id']!r} repeats ids: rows are numbered instead")
        frame["id"] = [str(i) for i in range(len(table))]
    for role in ("sentence1", "sentence2") if pair else ("sentence1",):
        column = matched[role]
        frame[role] = table[column].map(_cell).str.strip()
    if matched["label"] is not None:
        frame["gold"] = _labels(table[matched["label"]], task, matched["label"])
    else:
        notes.append("no label column: predictions only, no metrics")
    empty = (frame["sentence1"] == "") | ((frame["sentence2"] == "") if pair else False)
    if empty.all():
        raise DatasetError("every row has an empty sentence")
    if empty.any():
        notes.append(f"{int(empty.sum()):,} row(s) with an empty sentence left out")
        frame = frame[~empty].reset_index(drop=True)
    used = ", ".join(f"{role} = {c!r}" for role, c in matched.items() if c)
    notes.append(f"columns: {used}")
    return Dataset(name, task, frame, content_hash(task, frame), origin, notes=tuple(notes))


def read_dataset(
    name: str,
    data: bytes,
    filename: str,
    task: str = AUTO,
    columns: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    origin: str | None = None,
) -> Dataset:
    """A user's file (its bytes and name) as a Dataset; every problem is a DatasetError for the user."""
    if len(data) > max_bytes:
        raise DatasetError(f"{Path(filename).name} is {size(len(data))}; the limit is {size(max_bytes)}")
    table = read_table(data, filename, max_rows)
    return from_table(name, table, task, origin or Path(filename).name, columns)


def size(n: int) -> str:
    """A byte count for people: "5 MB", "1.3 MB", "812 bytes"."""
    return f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n:,} bytes"


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


def check_name(name: str) -> str:
    """A dataset's name as pickers and the API show it: letters, digits, space, dot, dash, underscore."""
    name = (name or "").strip()
    if not NAME.match(name):
        raise DatasetError(
            f"dataset name {name!r}: use 1-64 letters, digits, spaces, dots, dashes or underscores, starting with a "
            "letter or digit"
        )
    return name


def parse_spec(spec: str) -> tuple[str, Path, str]:
    """``NAME=PATH[:task]`` (``app.py --datasets``) -> (name, path, task or ``auto``)."""
    if "=" not in spec:
        raise DatasetError(f"--datasets takes NAME=PATH[:task], got {spec!r}")
    name, rest = spec.split("=", 1)
    task = AUTO
    head, _, tail = rest.rpartition(":")
    if head and tail in task_registry.names():
        rest, task = head, tail
    return check_name(name), Path(rest).expanduser(), task


def read_file(name: str, path: Path, task: str = AUTO) -> Dataset:
    """A file named on the command line as a Dataset."""
    if not path.is_file():
        raise DatasetError(f"dataset {name!r}: {path} is not a file")
    if path.stat().st_size > MAX_BYTES:
        raise DatasetError(f"dataset {name!r}: {path} is over the {size(MAX_BYTES)} limit")
    return read_dataset(name, path.read_bytes(), path.name, task, origin=str(path))


# ----- training on a dataset -------------------------------------------------------------------------------
def split_held_out(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """(train, held-out): ``fraction`` of the rows, drawn with ``seed``, held out as the dev split."""
    if not dataset.labelled:
        raise DatasetError(f"{dataset.name} has no labels: a model cannot train on it")
    if not 0 < fraction < 1:
        raise DatasetError(f"the held-out share must be between 0 and 1, got {fraction}")
    held = dataset.frame.sample(frac=fraction, random_state=seed).sort_index()
    if held.empty or len(held) == len(dataset):
        raise DatasetError(f"{dataset.name} has {len(dataset)} rows: too few to hold {fraction:.0%} out")
    rest = dataset.frame.drop(held.index)
    parts = []
    for suffix, frame in (("train", rest), ("held-out", held)):
        frame = frame.reset_index(drop=True)
        origin = f"{dataset.origin}: {suffix} split ({len(frame):,} of {len(dataset):,} rows, seed {seed})"
        digest = content_hash(dataset.task, frame)
        parts.append(Dataset(f"{dataset.name} {suffix}", dataset.task, frame, digest, origin))
    return parts[0], parts[1]


def write_task_file(dataset: Dataset, path: Path) -> Path:
    """A labelled dataset as the CS224N tab-separated file of its task (what training reads)."""
    spec = task_registry.get(dataset.task)
    if not dataset.labelled:
        raise DatasetError(f"{dataset.name} has no labels: a model cannot train on it")
    columns = ["sentence1", "sentence2"] if spec.pair else ["sentence"]
    frame = dataset.frame.rename(columns={"sentence1": columns[0]})[["id", *columns, "gold"]]
    gold = frame["gold"] if spec.output == "score" else frame["gold"].round().astype(int)
    frame = frame.drop(columns="gold").assign(**{spec.label_column: gold})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False)  # quoted where needed, as csv.reader (read_examples) reads it
    return path
