"""The seed study: other seeds of a preset are trained, recorded beside the shipped seed, summarised."""

from __future__ import annotations

import json

import pytest

from mtbert.lab.report import seeds_table
from mtbert.lab.seeds import read_seeds, seed_study, spread
from mtbert.lab.zoo_builder import recipe_fingerprint
from tests.lab.test_zoo_builder import write_tiny


def test_spread_is_mean_sample_sd_and_range():
    entry = {"seeds": {"1": {"sst_acc": 0.50, "sts_pearson": 0.8}, "2": {"sst_acc": 0.46}, "3": {"sst_acc": 0.48}}}
    s = spread(entry)
    assert list(s) == ["sst_acc"]  # a metric some seed lacks is not summarised
    assert s["sst_acc"]["mean"] == pytest.approx(0.48) and s["sst_acc"]["sd"] == pytest.approx(0.02)
    assert (s["sst_acc"]["min"], s["sst_acc"]["max"], s["sst_acc"]["n"]) == (0.46, 0.50, 3)


def test_spread_of_a_multitask_study_has_the_overall_score(tmp_path):
    seeds = {  # overall (SST + Quora + (Pearson + 1) / 2) / 3: 0.7 and 0.6
        "1": {"sst_acc": 0.6, "quora_acc": 0.9, "sts_pearson": 0.2},
        "2": {"sst_acc": 0.5, "quora_acc": 0.7, "sts_pearson": 0.2},
    }
    s = spread({"seeds": seeds})
    assert list(s) == ["sst_acc", "quora_acc", "sts_pearson", "overall"]
    assert (s["overall"]["min"], s["overall"]["max"]) == (pytest.approx(0.6), pytest.approx(0.7))
    (tmp_path / "seeds.json").write_text(json.dumps({"multi": {"seeds": seeds}}))
    assert "| multi | overall | 1: 0.7000, 2: 0.6000 | 0.6500 | 0.0707 | 0.1000 |" in seeds_table(tmp_path)


def test_seed_study_trains_other_seeds_and_records_them(small_data, tmp_path):
    presets, assets, runs = tmp_path / "configs", tmp_path / "assets", tmp_path / "runs"
    presets.mkdir()
    assets.mkdir()
    write_tiny(presets / "tiny-single.toml", runs / "tiny-single", mode="single")
    with pytest.raises(ValueError, match="build it first"):
        seed_study("tiny-single", [5], ["sentiment"], assets, small_data, presets, runs)
    shipped = {"sst_acc": 0.31, "sts_pearson": 0.2, "seed": 11711, "device": "cpu"}
    (assets / "results.json").write_text(json.dumps({"tiny-single": shipped}))

    entry = seed_study("tiny-single", [11711, 5], ["sentiment"], assets, small_data, presets, runs)
    assert list(entry["seeds"]) == ["11711", "5"]  # the shipped seed is not retrained
    assert entry["seeds"]["11711"] == {"sst_acc": 0.31, "device": "cpu"}
    trained = json.loads((runs / "tiny-single-s5" / "tasks" / "sentiment" / "best" / "metrics.json").read_text())
    assert trained["seed"] == 5 and entry["seeds"]["5"]["sst_acc"] == trained["sst_acc"]
    assert not (runs / "tiny-single-s5" / "tasks" / "similarity").exists()  # only the asked task trains
    assert read_seeds(assets) == {"tiny-single": json.loads(json.dumps(entry))}
    assert entry["recipe_sha256"] == recipe_fingerprint("tiny-single", presets)
    assert "| tiny-single | SST | 11711: 0.3100, 5: " in seeds_table(assets)

    # a second call resumes: the finished seed is read back, not trained again, and seeds recorded earlier stay
    stamp = (runs / "tiny-single-s5" / "tasks" / "sentiment" / "best" / "metrics.json").stat().st_mtime_ns
    with_earlier = {**read_seeds(assets)["tiny-single"]}
    with_earlier["seeds"] = {**with_earlier["seeds"], "6": {"sst_acc": 0.25, "device": "cpu"}}
    (assets / "seeds.json").write_text(json.dumps({"tiny-single": with_earlier}))
    again = seed_study("tiny-single", [5], ["sentiment"], assets, small_data, presets, runs)
    assert again["seeds"] == {**entry["seeds"], "6": {"sst_acc": 0.25, "device": "cpu"}}
    assert (runs / "tiny-single-s5" / "tasks" / "sentiment" / "best" / "metrics.json").stat().st_mtime_ns == stamp
    # ... unless the preset changed since: then the earlier seeds no longer describe it
    write_tiny(presets / "tiny-single.toml", runs / "tiny-single", mode="single", lr=2e-3)
    (assets / "seeds.json").write_text(json.dumps({"tiny-single": with_earlier}))
    assert list(seed_study("tiny-single", [], ["sentiment"], assets, small_data, presets, runs)["seeds"]) == ["11711"]


def test_seed_study_trains_a_multitask_preset_as_one_model(small_data, tmp_path):
    presets, assets, runs = tmp_path / "configs", tmp_path / "assets", tmp_path / "runs"
    presets.mkdir()
    assets.mkdir()
    write_tiny(presets / "tiny-multi.toml", runs / "tiny-multi")
    shipped = {"sst_acc": 0.3, "quora_acc": 0.6, "sts_pearson": 0.1, "seed": 1, "device": "cpu"}
    (assets / "results.json").write_text(json.dumps({"tiny-multi": shipped}))
    all_tasks = ["sentiment", "paraphrase", "similarity"]
    with pytest.raises(ValueError, match="multitask preset: its seeds train all of"):
        seed_study("tiny-multi", [5], ["sentiment"], assets, small_data, presets, runs)
    assert not (runs / "tiny-multi-s5").exists()  # refused before training

    entry = seed_study("tiny-multi", [5], all_tasks, assets, small_data, presets, runs)
    best = json.loads((runs / "tiny-multi-s5" / "best" / "metrics.json").read_text())
    assert best["seed"] == 5 and not (runs / "tiny-multi-s5" / "tasks").exists()
    assert entry["seeds"]["5"] == {k: best[k] for k in ("sst_acc", "quora_acc", "sts_pearson")} | {"device": "cpu"}
    assert entry["seeds"]["1"] == {"sst_acc": 0.3, "quora_acc": 0.6, "sts_pearson": 0.1, "device": "cpu"}


def test_a_seed_recorded_by_another_process_while_this_one_trains_is_kept(tmp_path, monkeypatch):
    import mtbert.lab.seeds as seeds

    presets, assets = tmp_path / "configs", tmp_path / "assets"
    presets.mkdir()
    assets.mkdir()
    write_tiny(presets / "tiny-single.toml", tmp_path / "runs" / "tiny-single", mode="single")
    (assets / "results.json").write_text(json.dumps({"tiny-single": {"sst_acc": 0.31, "seed": 1, "device": "cpu"}}))
    recipe = recipe_fingerprint("tiny-single", presets)

    def train_while_another_lands(variant, seed, *rest):
        other = {"recipe_sha256": recipe, "seeds": {"1": {"sst_acc": 0.31}, "3": {"sst_acc": 0.4, "device": "cpu"}}}
        (assets / "seeds.json").write_text(json.dumps({"tiny-single": other}))
        return {"sst_acc": 0.2, "device": "cpu"}

    monkeypatch.setattr(seeds, "train_seed", train_while_another_lands)
    entry = seed_study("tiny-single", [2], ["sentiment"], assets, tmp_path, presets, tmp_path / "runs")
    assert entry["seeds"]["3"] == {"sst_acc": 0.4, "device": "cpu"} and entry["seeds"]["2"]["sst_acc"] == 0.2
    assert read_seeds(assets)["tiny-single"]["seeds"].keys() == {"1", "2", "3"}
