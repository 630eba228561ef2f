"""A user's model gets dev metrics and predictions on first open, over the dev sets in assets/data, cached on disk
under the model's fingerprint and the dataset's hash."""

from __future__ import annotations

import pytest

from mtbert.app import explorer
from mtbert.app.store import VariantStore
from mtbert.app.ui import default_variant, variant_choices
from mtbert.checkpoint import fingerprint


def test_a_users_model_is_evaluated_once_and_then_read_from_the_cache(app_assets, user_models, tmp_path, monkeypatch):
    monkeypatch.setenv("MTBERT_CACHE_DIR", str(tmp_path / "cache"))
    store = VariantStore(app_assets, models=[user_models])
    assert not store.has_predictions("my-run", "STS dev")
    assert "sts_pearson" not in store.variants["my-run"].metrics
    seen: list[tuple[str, str, float]] = []
    store.evaluate_user_models(lambda v, d: lambda done, desc: seen.append((v.name, d.name, done)))
    dev_sets = ("SST dev", "Quora dev", "STS dev")
    expected = {(n, d) for n in ("my-run", "tiny-run") for d in dev_sets} | {("my-hf-paraphrase", "Quora dev")}
    assert {(name, data) for name, data, _ in seen} == expected
    assert all(done == 1.0 for *_, done in seen)  # the 80-row dev sets fit in one chunk
    assert store.has_predictions("my-run", "STS dev")
    metrics = store.variants["my-run"].metrics
    assert {"sst_acc", "quora_acc", "sts_pearson", "overall"} <= set(metrics)
    assert len(store.dev_predictions("my-run", "similarity")) == len(store.dev_predictions("multi-cross", "similarity"))

    restarted = VariantStore(app_assets, models=[user_models])
    monkeypatch.setattr(restarted, "model", lambda name: pytest.fail(f"{name} was loaded again"))
    restarted.evaluate_user_models()
    assert restarted.variants["my-run"].metrics == metrics
    out = explorer.explore(restarted, "similarity", "my-run", "multi-cross", "any", "any", 0, "any", "any", "", False)
    assert "sentence1" in out["table"] and "B predicted" in out["table"]  # the Explorer treats it as any variant
    labels = dict((name, label) for label, name in variant_choices(restarted))
    assert labels["my-run"].startswith("yours · ") and not labels["multi-cross"].startswith("yours")
    assert default_variant(restarted) != "my-run"  # the app opens on a shipped variant
    frame = restarted.results_frame().set_index("variant")
    assert frame.loc["my-run", "from"] == "yours" and frame.loc["multi-cross", "from"] == "shipped"
    assert frame.loc["my-run", "overall"] == metrics["overall"]


def test_the_fingerprint_follows_the_weights(user_models, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(user_models / "my-run" / "best", copy)
    assert fingerprint(copy) == fingerprint(user_models / "my-run" / "best")
    config = (copy / "config.json").read_text()
    (copy / "config.json").write_text(config.replace('"weights_sha256": "', '"weights_sha256": "0'))
    assert fingerprint(copy) != fingerprint(user_models / "my-run" / "best")


def test_a_users_model_that_does_not_load_is_listed_with_its_reason_and_the_others_serve(
    app_assets, user_models, tmp_path, monkeypatch
):
    import shutil

    import torch
    from safetensors.torch import load_file

    from tests.app.assets import save_weights

    monkeypatch.setenv("MTBERT_CACHE_DIR", str(tmp_path / "cache"))
    odd = tmp_path / "runs" / "odd-run" / "best"
    shutil.copytree(user_models / "my-run" / "best", odd)
    state = load_file(str(odd / "model.safetensors"))
    state["heads.similarity.linear.weight"] = torch.zeros(1, 7)  # a shape the config's head does not have
    save_weights(odd, state)
    store = VariantStore(app_assets, models=[tmp_path / "runs", tmp_path / "nowhere", user_models])
    store.evaluate_user_models()
    broken = {v.name: v.error for v in store.broken()}
    assert "odd-run" in broken and "nowhere" in broken and "does not exist" in broken["nowhere"]
    assert {"my-run", "multi-cross"} <= {v.name for v in store.usable()} and "odd-run" not in dict(
        (name, label) for label, name in variant_choices(store)
    )
