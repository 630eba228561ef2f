"""What ships in assets/: small enough, complete, and consistent between results.json, checkpoints and cases."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtbert.checkpoint import check_checkpoint
from mtbert.zoo import DEFAULT_ASSETS, read_results

RESULTS = read_results(DEFAULT_ASSETS)
SHIPPED = [name for name, entry in RESULTS.items() if entry.get("shipped")]
REQUIRED = {"trainable_parameters", "train_seconds", "seed", "preset", "backbone", "heads", "shipped"}


def test_assets_stay_under_40_mb():
    size = sum(f.stat().st_size for f in DEFAULT_ASSETS.rglob("*") if f.is_file())
    assert size <= 40 * 1024 * 1024, f"assets/ is {size / 2**20:.1f} MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_variant_is_complete(name):
    entry = RESULTS[name]
    assert REQUIRED <= set(entry) and any(k in entry for k in ("sst_acc", "quora_acc", "sts_pearson"))
    check_checkpoint(DEFAULT_ASSETS / "checkpoints" / name)
    metrics = json.loads((DEFAULT_ASSETS / "checkpoints" / name / "metrics.json").read_text())
    assert {k: metrics[k] for k in entry} == entry  # the checkpoint carries the same record
    for task, key in (("sentiment", "sst_acc"), ("paraphrase", "quora_acc"), ("similarity", "sts_pearson")):
        if key in entry:
            frame = pd.read_csv(DEFAULT_ASSETS / "predictions" / name / f"{task}-dev-predictions.csv")
            assert "sentence1" not in frame and len(frame) > 800  # ids only, the whole dev split


def test_hard_cases_have_eight_examples_per_category_with_every_variant():
    path = DEFAULT_ASSETS / "hard_cases.json"
    if not RESULTS:
        pytest.skip("no zoo built yet")
    categories = json.loads(path.read_text())["categories"]
    assert {c["id"] for c in categories} == {"sts_summary", "sts_overlap", "quora_false_positive", "sst_neighbours"}
    for category in categories:
        metric = {"sentiment": "sst_acc", "paraphrase": "quora_acc", "similarity": "sts_pearson"}[category["task"]]
        with_task = {n for n in SHIPPED if metric in RESULTS[n]}
        assert len(category["examples"]) >= 8, category["id"]
        for example in category["examples"]:
            assert "gold" in example and set(example["predictions"]) == with_task
