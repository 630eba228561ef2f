"""CS224N file reading, malformed rows, data directory resolution and batching."""

from __future__ import annotations

import pytest

from mtbert.data import DataDirNotFound, Example, bucketed_batches, make_items, read_examples, resolve_data_dir


def test_malformed_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "sts-train.csv"
    path.write_text(
        "\tid\tsentence1\tsentence2\tsimilarity\n"
        "0\ta\tA man plays.\tA man is playing.\t4.5\n"
        "1\tb\tNo label here.\tStill none.\t\n"  # missing label
        "2\tc\tBad label.\tText.\tfive\n"  # non-numeric label
        "3\td\tToo few columns\t3.0\n"  # wrong column count
        "4\te\t   \tEmpty first sentence.\t2.0\n"  # empty sentence
        "5\tf\tA dog.\tA cat.\t1.0\n"
    )
    with pytest.warns(UserWarning, match=r"sts-train\.csv: skipped 4 malformed row\(s\), kept 2"):
        examples = read_examples(path, "similarity")
    assert [(e.id, e.label) for e in examples] == [("a", 4.5), ("f", 1.0)]
    assert examples[0].a == "A man plays." and examples[0].b == "A man is playing."


def test_unlabelled_test_file(tmp_path):
    path = tmp_path / "ids-sst-test-student.csv"
    path.write_text("0\t\tid\tsentence\n1\t0.0\tabc\t A sentence .\n")
    examples = read_examples(path, "sentiment", labelled=False)
    assert examples == [Example("abc", "A sentence .")]


def test_quora_rows_without_label_are_skipped(small_data):
    # The real quora-train file has two unlabelled rows; the reader must never return a None label.
    examples = read_examples(small_data / "quora-train.csv", "paraphrase")
    assert examples and all(e.label in (0.0, 1.0) for e in examples)


def test_missing_data_dir_names_the_option(tmp_path, monkeypatch):
    with pytest.raises(DataDirNotFound, match="--data-dir") as info:
        resolve_data_dir(tmp_path / "nope")
    assert "MTBERT_DATA_DIR" in str(info.value)
    monkeypatch.setenv("MTBERT_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path


def test_bucketing_reduces_padding_and_keeps_every_item(backbone_cache):
    _, tokenizer = backbone_cache.get("minilm-l6")
    texts = [("word " * (n % 37 + 1)).strip() for n in range(300)]
    items = make_items(tokenizer, [Example(str(i), t) for i, t in enumerate(texts)], "cross", 128)
    sorted_batches = bucketed_batches(items, 16, shuffle=False)
    shuffled = bucketed_batches(items, 16, shuffle=True, seed=3)
    for batches in (sorted_batches, shuffled):
        assert sorted(i for b in batches for i in b.indices) == list(range(300))
    padded = sum(b.inputs[0]["input_ids"].numel() for b in sorted_batches)
    assert padded < 1.1 * sum(it.length for it in items)
    assert [b.indices for b in shuffled] == [b.indices for b in bucketed_batches(items, 16, shuffle=True, seed=3)]
