"""The user's own data in the app: an uploaded file becomes a dataset that the Explorer, the map and Results read
like a dev set; predictions are cached under the model's and the dataset's hashes; bad files say why."""

from __future__ import annotations

import pandas as pd
import pytest

from mtbert.app import embeddings, explorer, results, uploads
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore
from mtbert.data import read_examples


@pytest.fixture
def pairs_csv(app_assets, tmp_path):
    """The Quora rows of the test assets as a user's CSV with Quora's own column names."""
    examples = read_examples(app_assets / "data" / "quora-dev.csv", "paraphrase")
    frame = pd.DataFrame(
        {
            "question1": [e.a for e in examples],
            "question2": [e.b for e in examples],
            "is_duplicate": [e.label for e in examples],
        }
    )
    path = tmp_path / "my pairs.csv"
    frame.astype({"is_duplicate": int}).to_csv(path, index=False)
    return path


@pytest.fixture
def store(app_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("MTBERT_CACHE_DIR", str(tmp_path / "cache"))
    return VariantStore(app_assets)


def _explore(store, task, variant, other="none", dataset=None, **filters):
    args = {"gold": "any", "predicted": "any", "min_error": 0, "length": "any", "overlap": "any", "word": ""}
    args |= filters
    return explorer.explore(store, task, variant, other, *args.values(), filters.get("disagree", False), dataset)


def test_an_upload_is_explored_like_a_dev_set_with_the_bootstrap(store, pairs_csv, monkeypatch):
    found = uploads.file_columns(str(pairs_csv))
    assert found["name"] == "my pairs" and found["columns"] == ["auto", "question1", "question2", "is_duplicate"]
    summary = uploads.add_dataset(store, str(pairs_csv), "my pairs")
    assert (summary["task"], summary["labelled"], summary["rows"]) == ("paraphrase", True, 80)
    out = _explore(store, "paraphrase", "multi-cross", "single-cross", "my pairs")
    assert out["summary"].startswith("80 of 80 rows of my pairs") and "B predicted" in out["table"]
    test = out["bootstrap"]
    assert 0 <= test["prob_a_better"] <= 1 and test["low"] <= test["difference"] <= test["high"] and test["items"] == 80
    assert "Is the difference real?" in out["significance"] and "paired bootstrap" in out["significance"]
    # the same rows as the dev set give the same predictions as the shipped ones
    dev = _explore(store, "paraphrase", "multi-cross", "single-cross")
    assert dev["bootstrap"]["metric_a"] == pytest.approx(test["metric_a"], abs=1e-9)

    restarted = VariantStore(store.assets_dir)
    restarted.add_dataset(store.dataset("my pairs"))
    monkeypatch.setattr(restarted, "model", lambda name: pytest.fail(f"{name} was run again"))
    assert restarted.has_predictions("single-cross", "my pairs") is False  # not in memory, but on disk:
    again = _explore(restarted, "paraphrase", "multi-cross", "single-cross", "my pairs")
    assert again["bootstrap"] == test


def test_results_and_the_map_read_a_labelled_upload(store, pairs_csv):
    uploads.add_dataset(store, str(pairs_csv), "my pairs")
    assert "my pairs" in results.dataset_choices(store)
    out = results.results_on(store, "multi-cross", "my pairs")
    assert out["quora"] is not None and out["sst"] is None and "Quora acc" in out["note"]
    drawn = embeddings.embedding_map(
        store, "paraphrase", "multi-cross", "PCA", "error", "", "", "my pairs", lambda *a, **k: None
    )
    assert "my pairs (80 examples" in drawn["map"].layout.title.text


def test_an_unlabelled_upload_gives_predictions_and_says_it_has_no_metrics(store, pairs_csv, tmp_path):
    bare = tmp_path / "unlabelled.jsonl"
    pd.read_csv(pairs_csv).drop(columns="is_duplicate").to_json(bare, orient="records", lines=True)
    summary = uploads.add_dataset(store, str(bare), "no labels", "paraphrase")
    assert not summary["labelled"]
    out = _explore(store, "paraphrase", "multi-cross", "single-cross", "no labels")
    assert "predicted" in out["table"] and "gold" not in out["table"] and out["slices"] is None
    assert "no labels: predictions only" in out["note"] and "no labels, so there is no metric" in out["significance"]
    with pytest.raises(InputError, match="has no labels: the gold and error filters"):
        _explore(store, "paraphrase", "multi-cross", dataset="no labels", min_error=0.5)
    with pytest.raises(InputError, match="colour it by prediction"):
        embeddings.embedding_map(
            store, "paraphrase", "multi-cross", "PCA", "gold", "", "", "no labels", lambda *a, **k: None
        )
    with pytest.raises(InputError, match="no labels"):
        results.results_on(store, "multi-cross", "no labels")


def test_bad_uploads_say_why_and_names_stay_unique(store, pairs_csv, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("left,right,y\na,b,1\n")
    with pytest.raises(InputError, match=r"columns \['left', 'right', 'y'\]: pick them by hand"):
        uploads.add_dataset(store, str(wrong), "wrong", "paraphrase")
    picked = uploads.add_dataset(store, str(wrong), "wrong", "paraphrase", "left", "right", "y")
    assert picked["rows"] == 1
    with pytest.raises(InputError, match="a different dataset is already named 'wrong'"):
        uploads.add_dataset(store, str(pairs_csv), "wrong")
    with pytest.raises(InputError, match="choose a file first"):
        uploads.add_dataset(store, None, "x")
    with pytest.raises(InputError, match="dataset 'wrong' is a paraphrase dataset, not similarity"):
        _explore(store, "similarity", "multi-cross", dataset="wrong")
    assert _explore(store, "similarity", "multi-cross", dataset="Quora dev")["summary"].endswith(
        "rows of STS dev match."
    )
    with pytest.raises(KeyError, match="unknown dataset"):
        _explore(store, "similarity", "multi-cross", dataset="../../etc/passwd")
