"""Building the zoo: a tiny variant and an ensemble of it are trained, shipped and recorded; rebuilds skip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from mtbert.catalog import discover
from mtbert.checkpoint import CheckpointError, load
from mtbert.ensemble import EnsembleModel
from mtbert.lab.report import models_table
from mtbert.lab.zoo_builder import ZooVariant, build_variant, check_results, is_built
from tests.test_distributed import write_preset
from tests.tiny import tiny_backbone
from tests.tolerances import SAME_ORDER


def write_tiny(path, out, **overrides):
    """The tiny preset of the distributed tests (32 rows per task, one epoch) with ``out_dir`` = ``out``."""
    return write_preset(path, out_dir=str(out), train_limit=32, **overrides)


@pytest.fixture
def presets(tmp_path):
    presets = tmp_path / "configs"
    presets.mkdir()
    write_tiny(presets / "tiny.toml", tmp_path / "runs" / "tiny")
    write_tiny(presets / "tiny-full.toml", tmp_path / "runs" / "tiny-full", **{"finetune.mode": "full"})
    (presets / "duo.toml").write_text('members = ["tiny", "tiny"]\n')
    return presets


def test_build_ship_record_and_skip(small_data, tmp_path, presets, backbone_cache):
    assets = tmp_path / "assets"
    tiny = ZooVariant("tiny")
    assert not is_built(tiny, assets, presets)
    with pytest.raises(CheckpointError, match="not built yet"):
        build_variant(ZooVariant("duo"), assets, small_data, presets, cache=backbone_cache)
    entry = build_variant(tiny, assets, small_data, presets, cache=backbone_cache)
    assert is_built(tiny, assets, presets)
    results = json.loads((assets / "results.json").read_text())
    assert results["tiny"] == entry
    assert {"sst_acc", "quora_acc", "sts_pearson", "overall", "trainable_parameters", "train_seconds", "seed"} <= set(
        entry
    )
    assert entry["shipped"] and entry["backbone"] == tiny_backbone() and entry["trainable_parameters"] > 0
    shipped = assets / "checkpoints" / "tiny"
    assert not (shipped / "state").exists() and (shipped / "model.safetensors").exists()
    stored = load_file(str(shipped / "model.safetensors"))
    assert {v.dtype for v in stored.values()} == {torch.float16}  # the run's own checkpoint stays float32
    assert {v.dtype for v in load_file(str(tmp_path / "runs" / "tiny" / "best" / "model.safetensors")).values()} == {
        torch.float32
    }
    logs = assets / "runs" / "tiny"  # the run's step and epoch logs ship beside it, for the Runs tab
    assert (logs / "metrics.jsonl").read_text() == (tmp_path / "runs" / "tiny" / "metrics.jsonl").read_text()
    assert (logs / "log.jsonl").exists()
    predictions = assets / "predictions" / "tiny" / "similarity-dev-predictions.csv"
    assert "sentence1" not in predictions.read_text().splitlines()[0]  # ids only: no copy of the data set
    # the shipped checkpoint recomputes the recorded metrics
    assert max(check_results(assets, small_data)["tiny"].values()) < SAME_ORDER

    duo = build_variant(ZooVariant("duo"), assets, small_data, presets, cache=backbone_cache)
    assert isinstance(load(assets / "checkpoints" / "duo", backbone_cache), EnsembleModel)
    assert duo["sts_pearson"] == pytest.approx(entry["sts_pearson"], abs=SAME_ORDER)  # two equal members: same outputs
    assert duo["trainable_parameters"] == 2 * entry["trainable_parameters"] and duo["members"] == ["tiny", "tiny"]
    assert {v.name: v.description for v in discover(assets)}["duo"] == "ensemble of tiny + tiny"

    full = ZooVariant("tiny-full", ship=False)
    build_variant(full, assets, small_data, presets, cache=backbone_cache)
    assert is_built(full, assets, presets) and not (assets / "checkpoints" / "tiny-full").exists()
    table = models_table(assets)
    assert "| tiny-full |" in table and "no (local run)" in table and "| duo |" in table

    # a changed preset (here: one more epoch) makes the variant and the ensemble using it "not built"
    assert is_built(ZooVariant("duo"), assets, presets)
    (presets / "tiny.toml").write_text((presets / "tiny.toml").read_text().replace("epochs = 1", "epochs = 2"))
    assert not is_built(tiny, assets, presets) and not is_built(ZooVariant("duo"), assets, presets)
    (presets / "tiny.toml").write_text((presets / "tiny.toml").read_text().replace("epochs = 2", "epochs = 1"))
    assert is_built(tiny, assets, presets)

    # a damaged shipped checkpoint is no longer "built", so the next build_zoo run rebuilds it
    (shipped / "model.safetensors").unlink()
    assert not is_built(tiny, assets, presets)


def test_the_shipped_ensemble_averages_every_other_shipped_report_row():
    # the ensemble's rule has no choice in it: every shipped row of the report, single-cross first (it explains answers)
    from mtbert.lab.zoo_builder import ZOO
    from mtbert.layout import PRESETS
    from mtbert.presets import read_preset

    members = read_preset(PRESETS / "ensemble.toml")["members"]
    assert members[0] == "single-cross"
    assert sorted(members) == sorted(v.name for v in ZOO if v.ship and v.report_row and v.name != "ensemble")


def test_a_composed_variant_takes_each_task_model_from_a_shipped_single_task_variant(
    small_data, tmp_path, backbone_cache
):
    presets = tmp_path / "configs"
    presets.mkdir()
    write_tiny(presets / "one.toml", tmp_path / "runs" / "one", mode="single")
    write_tiny(presets / "two.toml", tmp_path / "runs" / "two", mode="single", lr=3e-3)
    (presets / "mix.toml").write_text('[tasks_from]\nsentiment = "two"\nparaphrase = "one"\nsimilarity = "one"\n')
    assets = tmp_path / "assets"
    with pytest.raises(CheckpointError, match="not built yet"):
        build_variant(ZooVariant("mix"), assets, small_data, presets, cache=backbone_cache)
    for name in ("one", "two"):
        build_variant(ZooVariant(name), assets, small_data, presets, cache=backbone_cache)
    entry = build_variant(ZooVariant("mix"), assets, small_data, presets, cache=backbone_cache)
    results = json.loads((assets / "results.json").read_text())
    assert entry["sst_acc"] == pytest.approx(results["two"]["sst_acc"])
    assert entry["quora_acc"] == pytest.approx(results["one"]["quora_acc"])
    assert entry["composed_from"] == {"sentiment": "two", "paraphrase": "one", "similarity": "one"}
    assert "composed" in entry["heads"] and is_built(ZooVariant("mix"), assets, presets)
    mix, two = load(assets / "checkpoints" / "mix"), load(assets / "checkpoints" / "two")
    a, b = mix.model_for("sentiment").state_dict(), two.model_for("sentiment").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    write_tiny(presets / "two.toml", tmp_path / "runs" / "two", mode="single", lr=2e-3)
    assert not is_built(ZooVariant("mix"), assets, presets)  # a source's recipe changed: the mix is stale


def test_every_preset_is_a_valid_recipe_ensemble_or_composition():
    from mtbert.config import TrainConfig, from_dict
    from mtbert.layout import PRESETS
    from mtbert.presets import read_preset

    for path in sorted(PRESETS.glob("*.toml")):
        raw = read_preset(path)
        if "members" in raw or "tasks_from" in raw:
            names = raw.get("members") or list(raw["tasks_from"].values())
            assert all((PRESETS / f"{n}.toml").exists() for n in names), path.name
        else:
            from_dict(TrainConfig, raw)
