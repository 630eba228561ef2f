"""What ships in assets/: small enough, complete, and consistent between results.json, checkpoints and cases."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtbert import tasks
from mtbert.catalog import read_results
from mtbert.checkpoint import check_checkpoint
from mtbert.layout import ASSETS as DEFAULT_ASSETS
from mtbert.layout import checkpoint_dir, predictions_file

RESULTS = read_results(DEFAULT_ASSETS)
SHIPPED = [name for name, entry in RESULTS.items() if entry.get("shipped")]
REQUIRED = {"trainable_parameters", "train_seconds", "seed", "preset", "backbone", "heads", "shipped"}


def test_assets_stay_under_56_mb():
    # 25 shipped variants (LoRA adapters and heads, 2-4 MB each), their dev predictions and the teacher targets.
    size = sum(f.stat().st_size for f in DEFAULT_ASSETS.rglob("*") if f.is_file())
    assert size <= 56 * 1024 * 1024, f"assets/ is {size / 2**20:.1f} MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_variant_is_complete(name):
    entry = RESULTS[name]
    assert REQUIRED <= set(entry) and any(k in entry for k in tasks.metric_keys())
    assert entry.get("device", "cpu") in ("cpu", "cuda", "cpu, cuda")  # the kind of machine, not its model
    check_checkpoint(checkpoint_dir(DEFAULT_ASSETS, name))
    metrics = json.loads((checkpoint_dir(DEFAULT_ASSETS, name) / "metrics.json").read_text())
    assert {k: metrics[k] for k in entry} == entry  # the checkpoint carries the same record
    for task in tasks.CS224N_TASKS:
        if tasks.get(task).metric_key in entry:
            frame = pd.read_csv(predictions_file(DEFAULT_ASSETS, name, task))
            assert "sentence1" not in frame and len(frame) > 800  # ids only, the whole dev split


def test_hard_cases_have_eight_examples_per_category_with_every_variant():
    path = DEFAULT_ASSETS / "hard_cases.json"
    if not RESULTS:
        pytest.skip("no zoo built yet")
    categories = json.loads(path.read_text())["categories"]
    assert {c["id"] for c in categories} == {"sts_summary", "sts_overlap", "quora_false_positive", "sst_neighbours"}
    for category in categories:
        metric = tasks.get(category["task"]).metric_key
        with_task = {n for n in SHIPPED if metric in RESULTS[n]}
        assert len(category["examples"]) >= 8, category["id"]
        for example in category["examples"]:
            assert "gold" in example and set(example["predictions"]) == with_task


def test_the_shipped_dev_sets_are_the_files_the_shipped_models_were_scored_on():
    from mtbert.data import read_examples, sha256_file, task_file
    from mtbert.layout import shipped_data_dir

    recorded: dict[str, set[str]] = {}  # dev file -> every sha256 a shipped checkpoint records for it
    for path in DEFAULT_ASSETS.glob("checkpoints/**/config.json"):
        for name, digest in json.loads(path.read_text()).get("data_sha256", {}).items():
            recorded.setdefault(name, set()).add(digest)
    for task in tasks.CS224N_TASKS:
        dev = task_file(shipped_data_dir(DEFAULT_ASSETS), task, "dev")
        assert recorded[dev.name] == {sha256_file(dev)}, dev.name
        ids = {e.id for e in read_examples(dev, task)}
        for name in SHIPPED:
            path = predictions_file(DEFAULT_ASSETS, name, task)
            if path.exists():
                assert set(pd.read_csv(path, dtype={"id": str})["id"]) <= ids, (name, task)
    provenance = (shipped_data_dir(DEFAULT_ASSETS) / "README.md").read_text()
    assert "CS224N" in provenance and "Quora" in provenance


def test_the_shipped_teacher_targets_name_the_ensemble_and_cover_every_train_row():
    """assets/distill/ensemble: the shipped ensemble's soft targets on the train files (ids and outputs, no text),
    each row's class probabilities summing to 1; with the train files here, their sha256 and row counts match."""
    from mtbert.data import DataDirNotFound, resolve_data_dir, sha256_file
    from mtbert.distill import TARGETS_FILE, read_targets, targets_csv

    folder = DEFAULT_ASSETS / "distill" / "ensemble"
    manifest = json.loads((folder / TARGETS_FILE).read_text())
    members = json.loads((checkpoint_dir(DEFAULT_ASSETS, "ensemble") / "config.json").read_text())["members"]
    assert manifest["teacher"] == sorted(members) and set(manifest["files"]) == set(tasks.CS224N_TASKS)
    for task, entry in manifest["files"].items():
        frame = pd.read_csv(targets_csv(folder, task))
        assert len(frame) == entry["rows"] and frame["id"].is_unique and not {"sentence", "sentence1"} & set(frame)
        if tasks.get(task).output == "classes":
            assert (frame.drop(columns="id").sum(axis=1) - 1).abs().max() < 1e-4
    try:
        data = resolve_data_dir()
    except DataDirNotFound:
        return
    for task, entry in manifest["files"].items():
        path = data / entry["file"]
        if path.exists():
            assert sha256_file(path) == entry["sha256"]
            assert len(read_targets(folder, task, path, members)) == entry["rows"]
