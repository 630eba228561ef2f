"""A user's dataset: CSV, TSV, JSONL or Parquet, columns matched by their usual names or picked, labels checked,
and every problem a message that says what was found."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtbert.datasets import DatasetError, guess_task, parse_spec, read_dataset, read_file

ROWS = pd.DataFrame(
    {
        "question1": ["How do I learn Python?", "What is love?", "Where is Paris?"],
        "question2": ["How can I study Python?", "Why is the sky blue?", "Where is Paris located?"],
        "is_duplicate": [1, 0, 1],
    }
)


def _bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "tsv":
        return frame.to_csv(index=False, sep="\t").encode()
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")).encode()
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_every_format_reads_to_the_same_rows_and_hash(fmt):
    dataset = read_dataset("pairs", _bytes(ROWS, fmt), f"pairs.{fmt}")
    assert dataset.task == "paraphrase" and dataset.labelled and len(dataset) == 3
    assert list(dataset.frame.columns) == ["id", "sentence1", "sentence2", "gold"]
    assert dataset.frame["gold"].tolist() == [1.0, 0.0, 1.0]
    assert dataset.sha256 == read_dataset("pairs", _bytes(ROWS, "csv"), "pairs.csv").sha256


def test_the_task_is_guessed_from_the_columns_or_given():
    assert guess_task(ROWS) == "paraphrase"
    assert guess_task(
        ROWS.rename(columns={"question1": "sentence1", "question2": "sentence2", "is_duplicate": "score"})
    ) == ("similarity")
    assert guess_task(ROWS.drop(columns="is_duplicate")) == "paraphrase"  # Quora's own column names
    assert guess_task(pd.DataFrame({"sentence": ["fine"], "label": [3]})) == "sentiment"
    as_sts = read_dataset("x", _bytes(ROWS, "csv"), "x.csv", task="similarity", columns={"label": "is_duplicate"})
    assert as_sts.task == "similarity" and as_sts.frame["gold"].tolist() == [1.0, 0.0, 1.0]


def test_a_cs224n_file_reads_as_is(tmp_path):
    path = tmp_path / "sts-dev.csv"
    path.write_text("\tid\tsentence1\tsentence2\tsimilarity\n0\tab1\tA dog runs.\tA dog is running.\t4.2\n")
    dataset = read_file("sts", path)
    assert dataset.task == "similarity" and dataset.frame.iloc[0].tolist() == [
        "ab1",
        "A dog runs.",
        "A dog is running.",
        4.2,
    ]


def test_unmatched_columns_say_what_was_found_and_can_be_picked():
    odd = ROWS.rename(columns={"question1": "left", "question2": "right"})
    with pytest.raises(DatasetError, match=r"none matched sentence1.*columns \['left', 'right', 'is_duplicate'\]"):
        read_dataset("x", _bytes(odd, "csv"), "x.csv", task="paraphrase")
    picked = read_dataset("x", _bytes(odd, "csv"), "x.csv", "paraphrase", {"sentence1": "left", "sentence2": "right"})
    assert picked.frame["sentence1"].iloc[0] == "How do I learn Python?"
    with pytest.raises(DatasetError, match="no column named 'nope'"):
        read_dataset("x", _bytes(odd, "csv"), "x.csv", "paraphrase", {"sentence1": "nope"})


def test_an_unlabelled_file_has_predictions_only():
    dataset = read_dataset("u", _bytes(ROWS.drop(columns="is_duplicate"), "csv"), "u.csv", task="paraphrase")
    assert not dataset.labelled and any("no label column" in n for n in dataset.notes)
    assert [e.label for e in dataset.examples()] == [None, None, None]


@pytest.mark.parametrize(
    ("frame", "task", "message"),
    [
        (
            ROWS.assign(is_duplicate=["1", "yes", "0"]),
            "paraphrase",
            r"mixes numbers with other values: 'yes' \(file rows \[3\]",
        ),
        (ROWS.assign(is_duplicate=[1, 2, 0]), "paraphrase", r"1 value\(s\) out of range \(2\)"),
        (
            ROWS.rename(columns={"is_duplicate": "similarity"}).assign(similarity=[0.5, 5.5, 1]),
            "similarity",
            "from 0 to 5",
        ),
        (pd.DataFrame({"sentence": ["a", "b"], "sentiment": [0.5, 4]}), "sentiment", "integer class from 0 to 4"),
        (ROWS.assign(is_duplicate=[1, "", 0]), "paraphrase", "is empty in 1 rows"),
    ],
)
def test_bad_labels_say_which_and_why(frame, task, message):
    with pytest.raises(DatasetError, match=message):
        read_dataset("bad", _bytes(frame, "csv"), "bad.csv", task)


def test_limits_formats_and_names():
    with pytest.raises(DatasetError, match="is 1[0-9][0-9] bytes; the limit is 100 bytes"):
        read_dataset("x", _bytes(ROWS, "csv"), "x.csv", max_bytes=100)
    with pytest.raises(DatasetError, match="has 3 rows; the limit is 2"):
        read_dataset("x", _bytes(ROWS, "csv"), "x.csv", max_rows=2)
    with pytest.raises(DatasetError, match="unknown file type '.xlsx'"):
        read_dataset("x", b"PK..", "x.xlsx")
    with pytest.raises(DatasetError, match="could not be read as parquet"):
        read_dataset("x", b"not parquet", "x.parquet")
    with pytest.raises(DatasetError, match="dataset name"):
        parse_spec("../etc=/tmp/x.csv")
    assert parse_spec("mine=/data/pairs.csv:similarity")[::2] == ("mine", "similarity")
    assert parse_spec("mine=C:/data/pairs.csv")[2] == "auto"


def test_empty_sentences_are_left_out_and_said():
    frame = ROWS.assign(question2=["How can I study Python?", "  ", np.nan])
    dataset = read_dataset("x", _bytes(frame, "jsonl"), "x.jsonl")
    assert len(dataset) == 1 and any("2 row(s) with an empty sentence left out" in n for n in dataset.notes)
