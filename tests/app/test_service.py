"""App-facing helpers: input checks, task choice, disagreement lines, batch CSVs, zoo discovery."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mtbert.app.batch import BatchInputError, predict_frame, read_batch_csv
from mtbert.app.service import (
    InputError,
    Prediction,
    disagreement,
    predict_input,
    saliency_spans,
    short_names,
    tasks_for,
)
from mtbert.app.store import VariantStore
from mtbert.catalog import discover
from tests.app.assets import BACKBONE
from tests.test_multitask import make_model


def test_tasks_for_all_three():
    assert tasks_for("all three", True) == ["sentiment", "paraphrase", "similarity"]
    assert tasks_for("all three", False) == ["sentiment"]
    assert tasks_for("paraphrase", True) == ["paraphrase"]


def test_predict_input_checks(backbone_cache):
    model = make_model(backbone_cache, tasks=["sentiment", "similarity"])
    partial = predict_input(model, "all three", "text", "more", with_attentions=False)
    assert partial.value("paraphrase") is None and "no paraphrase" in partial.notes[0]
    with pytest.raises(InputError, match="Sentence A is empty"):
        predict_input(model, "sentiment", " \t", None)
    with pytest.raises(InputError, match="sentence B is empty"):
        predict_input(model, "similarity", "text", "  ")
    with pytest.raises(InputError, match="no paraphrase"):
        predict_input(model, "paraphrase", "a", "b")
    only_sentiment = predict_input(model, "all three", "text", "")
    assert only_sentiment.value("sentiment") and only_sentiment.value("similarity") is None
    assert only_sentiment.notes == ["Only sentiment ran: paraphrase and similarity need sentence B."]
    both = predict_input(model, "all three", "text", "more text", with_attentions=False)
    assert both.value("similarity") is not None and both.views == {}
    with pytest.raises(InputError, match="unknown task 'nonsense'"):
        predict_input(model, "nonsense", "a", "b")


def test_disagreement_lines():
    agree = {"x": Prediction({"paraphrase": 0.9}), "y": Prediction({"paraphrase": 0.7})}
    assert disagreement("paraphrase", agree) == "All variants agree it is paraphrase (probabilities differ by 0.20)."
    split = {"x": Prediction({"paraphrase": 0.9}), "y": Prediction({"paraphrase": 0.2})}
    assert disagreement("paraphrase", split) == "They disagree: x say paraphrase; y say not."
    assert split["y"].summary("paraphrase") == "not paraphrase (0.20)"
    scores = {"x": Prediction({"similarity": 4.5}), "y": Prediction({"similarity": 1.0})}
    assert "differ by 3.50" in disagreement("similarity", scores) and scores["x"].summary("similarity") == "4.50 / 5"
    labels = {
        "x": Prediction({"sentiment": {"neutral": 0.6, "positive": 0.4}}),
        "y": Prediction({"sentiment": {"neutral": 0.1, "positive": 0.9}}),
    }
    assert "x says neutral" in disagreement("sentiment", labels)
    assert "at least two" in disagreement("sentiment", {"x": labels["x"]})


def test_saliency_spans_scale_and_skip_specials():
    import numpy as np

    spans = saliency_spans(["[CLS]", "good", "film", "[SEP]"], np.array([0.0, 2.0, -1.0, 0.0]))
    assert spans == [("good ", 1.0), ("film ", -0.5), ("[SEP] ", None)]


def test_batch_csv_checks_and_prediction(tmp_path, backbone_cache):
    good = tmp_path / "good.csv"
    good.write_text('sentence1,sentence2\n"a, b",c\nd,e\n')
    frame = read_batch_csv(good, "similarity")
    out = predict_frame(make_model(backbone_cache), "similarity", frame, progress=lambda f: None)
    assert list(out.columns) == ["sentence1", "sentence2", "similarity"] and out["similarity"].between(0, 5).all()
    with pytest.raises(BatchInputError, match="too many rows: 2 "):
        read_batch_csv(good, "similarity", max_rows=1)
    with pytest.raises(BatchInputError, match="wrong columns for sentiment"):
        read_batch_csv(good, "sentiment")
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence\na, b\n")
    with pytest.raises(BatchInputError, match="double quotes"):
        read_batch_csv(bad, "sentiment")
    header_only = tmp_path / "header.csv"
    header_only.write_text("sentence\n")
    with pytest.raises(BatchInputError, match="no rows"):
        read_batch_csv(header_only, "sentiment")


def test_discover_marks_broken_variants(app_assets, tmp_path):
    variants = {v.name: v for v in discover(app_assets)}
    assert variants["broken-variant"].error and "config.json is corrupt" in variants["broken-variant"].error
    good = variants["single-cross"]
    assert good.error is None and good.backbone == BACKBONE and good.tasks == ["sentiment", "paraphrase", "similarity"]
    assert "single-task" in good.description and "sts_pearson" in good.metrics
    assert good.label.startswith(f"{BACKBONE} / single-cross (single-task · cross · LoRA r4) — SST ")


def test_a_linked_variant_folder_is_refused(app_assets, tmp_path):
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(app_assets, root)
    outside = tmp_path / "elsewhere"
    shutil.copytree(root / "checkpoints" / "multi-cross", outside)
    (root / "checkpoints" / "linked").symlink_to(outside, target_is_directory=True)
    variants = {v.name: v for v in discover(root)}
    assert variants["linked"].error and "link" in variants["linked"].error
    store = VariantStore(root)
    with pytest.raises(Exception, match="unavailable"):
        store.model("linked")
    with pytest.raises(KeyError, match="unknown variant"):
        store.model("../checkpoints/multi-cross")


def test_store_loads_once_and_reports_late_corruption(app_assets, tmp_path):
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(app_assets, root)
    store = VariantStore(root)
    assert store.model("multi-cross") is store.model("multi-cross")
    weights = root / "checkpoints" / "single-cross" / "sentiment" / "model.safetensors"
    weights.write_bytes(b"garbage")
    with pytest.raises(Exception, match="corrupt"):
        store.model("single-cross")
    assert store.variants["single-cross"].error
    frame = store.results_frame()
    assert isinstance(frame, pd.DataFrame) and "multi-cross" in set(frame["variant"])
    assert list(frame.columns[:2]) == ["variant", "sst_acc"] and list(frame.columns[-2:]) == ["backbone", "heads"]
    assert store.dev_predictions("multi-cross", "similarity") is not None
    assert json.loads((root / "hard_cases.json").read_text())["categories"] == store.hard_cases()["categories"]


def test_store_serves_fp32_lora_models_folded_and_keeps_the_last_used(app_assets, monkeypatch):
    from peft.tuners.lora import LoraLayer

    from mtbert.app import store as store_module

    monkeypatch.setattr(store_module, "MERGED_KEPT", 1)
    store = VariantStore(app_assets)
    served = store.model("multi-cross")
    assert not any(isinstance(m, LoraLayer) for m in served.modules()) and store.model("multi-cross") is served
    assert store.model("single-concat") is store.model("single-concat")  # frozen: nothing folded, served as loaded
    sentences = ["a fine film", "dull and long"]
    single = store.model("single-cross")  # folded too: multi-cross is no longer among the last MERGED_KEPT
    assert store.model("multi-cross") is not served
    assert (
        store.model("multi-cross").predict_sentiment(sentences).tolist() == served.predict_sentiment(sentences).tolist()
    )
    assert store.model("single-cross") is not single
    int8 = VariantStore(app_assets, precision="int8")
    assert int8.model("multi-cross") is int8.model("multi-cross")


def test_recent_makes_each_key_once_and_forgets_the_least_recently_used(app_assets, monkeypatch):
    from mtbert.app import store as store_module

    monkeypatch.setattr(store_module, "RECENT_KEPT", 2)
    store, made = VariantStore(app_assets), []

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    first = store.recent("a", lambda: make("a"))
    assert store.recent("a", lambda: make("a")) is first and made == ["a"]
    store.recent("b", lambda: make("b"))
    store.recent("a", lambda: make("a"))  # "a" used last: "b" goes first
    store.recent("c", lambda: make("c"))
    store.recent("a", lambda: make("a"))
    store.recent("b", lambda: make("b"))
    assert made == ["a", "b", "c", "b"]


def test_backbone_cache_reads_each_backbone_from_disk_once(monkeypatch):
    import mtbert.checkpoint as checkpoint

    calls = []
    real = checkpoint.load_backbone
    monkeypatch.setattr(checkpoint, "load_backbone", lambda name: calls.append(name) or real(name))
    cache = checkpoint.BackboneCache()
    first, _ = cache.get("minilm-l6")
    second, _ = cache.get("minilm-l6")
    assert calls == ["minilm-l6"] and first is not second
    assert all((a == b).all() for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))


def test_lora_models_share_the_backbones_weights_and_int8_merging_one_leaves_the_others(tmp_path):
    """Two LoRA checkpoints loaded through one cache hold the same base tensors (one backbone in memory, not one a
    model); quantising one to int8 folds its adapters into a copy, so the other answers as before, and a private
    copy from the cache still has the pretrained weights."""
    import torch

    from mtbert.app.store import quantized
    from mtbert.checkpoint import BackboneCache, load, save_checkpoint

    cache = BackboneCache()
    pristine = {k: v.clone() for k, v in cache.get("minilm-l6")[0].state_dict().items()}
    for name, seed in (("a", 0), ("b", 1)):
        model = make_model(cache, tasks=["sentiment"])
        torch.manual_seed(seed)
        for key, tensor in model.named_parameters():
            if "lora_B" in key:  # B starts at zero: make the adapters change the outputs
                tensor.data.normal_(0.0, 0.05)
        save_checkpoint(model, tmp_path / name)
    a, b = load(tmp_path / "a", cache), load(tmp_path / "b", cache)
    query = "blocks.0.attention.query.base_layer.weight"
    assert a.backbone.get_parameter(query).data_ptr() == b.backbone.get_parameter(query).data_ptr()
    sentences = ["a gripping, beautifully made film", "dull and far too long"]
    before = b.predict_sentiment(sentences)
    int8 = quantized(a)
    assert isinstance(int8, type(a)) and int8 is not a
    assert b.predict_sentiment(sentences).tolist() == before.tolist()
    private = cache.get("minilm-l6")[0].state_dict()
    assert all(torch.equal(private[k], v) for k, v in pristine.items())


def test_merged_serving_folds_adapters_into_private_weights_and_shares_the_rest(backbone_cache):
    """fp32 serving folds a LoRA model's adapters into its own copy of the adapted Linear weights: the same answers
    to float32 rounding, every other tensor shared with the loaded model, which answers as before."""
    import torch
    from peft.tuners.lora import LoraLayer

    from mtbert.app.store import merged
    from mtbert.multitask import SingleTaskModels

    model = make_model(backbone_cache, tasks=["sentiment", "similarity"]).eval()
    torch.manual_seed(0)
    for key, tensor in model.named_parameters():
        if "lora_B" in key:  # B starts at zero: make the adapters change the outputs
            tensor.data.normal_(0.0, 0.05)
    sentences, others = ["a gripping, beautifully made film", "dull"], ["a fine film", "far too long and dull"]
    before = model.predict_sentiment(sentences), model.predict("similarity", sentences, others)
    served = merged(model)
    assert served is not model and not any(isinstance(m, LoraLayer) for m in served.modules())
    assert any(isinstance(m, LoraLayer) for m in model.modules())  # the loaded model keeps its adapters
    after = served.predict_sentiment(sentences), served.predict("similarity", sentences, others)
    for old, new in zip(before, after, strict=True):
        assert torch.allclose(torch.as_tensor(new), torch.as_tensor(old), rtol=1e-4, atol=1e-5)
    assert model.predict_sentiment(sentences).tolist() == before[0].tolist()
    originals = {n: p for n, p in model.named_parameters()}
    for name, tensor in served.named_parameters():
        folded = name not in originals  # a Linear that had an adapter: its weight is its own copy, its bias shared
        module, leaf = name.rsplit(".", 1)
        source = originals[f"{module}.base_layer.{leaf}" if folded else name]
        assert (tensor.data_ptr() == source.data_ptr()) != (folded and leaf == "weight"), name
    assert served.tokenizer is model.tokenizer
    single = SingleTaskModels({"sentiment": model})
    assert isinstance(merged(single), SingleTaskModels) and merged(single).models["sentiment"] is not model
    frozen = make_model(backbone_cache, tasks=["sentiment"], mode="frozen")
    assert merged(frozen) is frozen  # nothing to fold: served as loaded


def test_confusion_counts_sentiment_classes_from_the_file():
    from mtbert.app.service import confusion_from_predictions

    binary = pd.DataFrame({"gold": [0, 1, 1], "predicted": [0, 1, 0], "p0": [0.9, 0.1, 0.6], "p1": [0.1, 0.9, 0.4]})
    matrix, labels = confusion_from_predictions(binary, "sentiment")
    assert labels == ["negative", "positive"] and matrix.tolist() == [[1, 0], [1, 1]]
    five = binary.assign(**{f"p{c}": 0.2 for c in range(5)})
    assert len(confusion_from_predictions(five, "sentiment")[1]) == 5
    assert confusion_from_predictions(binary, "paraphrase")[1] == ["not duplicate", "duplicate"]


def test_describe_names_the_contrastive_objective(tmp_path):
    from mtbert.catalog import describe

    config = {
        "kind": "multitask",
        "backbone": "minilm-l6",
        "heads": {"tasks": ["similarity"], "pair_encoding": "cross", "shared_layer": True},
        "finetune": {"mode": "lora", "lora_rank": 16},
        "train": {"contrastive_weight": 0.5},
    }
    assert describe(config, tmp_path)[1] == "multitask · cross · shared layer · contrastive 0.5 · LoRA r16"
    config["train"]["contrastive_weight"] = 0.0
    assert "contrastive" not in describe(config, tmp_path)[1]


def test_short_names_are_distinct_and_lengthen_earlier_parts_where_initials_collide():
    names = ["single-cross", "single-concat", "multi-cross", "mtdnn-cross", "multi-cross-shared", "ensemble", "mj"]
    short = short_names(names)
    assert len(set(short.values())) == len(names)
    assert short["single-cross"] == "scr" and short["multi-cross-shared"] == "mcs" and short["mj"] == "mj"
    assert short["multi-cross"] == "muc" and short["mtdnn-cross"] == "mtc"  # both have the initials mcross


def test_short_names_keep_names_whole_that_no_abbreviation_separates():
    names = ["ab-cd", "ac", "acd", "abc", "abcd"]  # every abbreviation of ab-cd is another variant's name
    assert short_names(names) == {"ab-cd": "ab-cd", "ac": "ac", "acd": "acd", "abc": "abc", "abcd": "abcd"}
