"""SMART and R-Drop: divergences, dropout handling, and that each term does what it says."""

from __future__ import annotations

import pytest
import torch

from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.data import bucketed_batches, read_examples
from mtbert.model import Embeddings
from mtbert.regularizers import divergence, dropout_rate, rdrop_loss, smart_loss
from mtbert.train_steps import build_model, task_loss


@pytest.mark.parametrize("task", ["sentiment", "paraphrase", "similarity"])
def test_divergence_is_zero_for_equal_outputs_symmetric_and_positive_otherwise(task):
    torch.manual_seed(0)
    shape = (4, 5) if task == "sentiment" else (4,)
    a, b = torch.randn(shape), torch.randn(shape)
    # equal inputs: both sides are the same float32 operations, which cancel to a few units of 6e-8
    assert divergence(task, a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert divergence(task, a, b).item() > 0
    assert divergence(task, a, b).item() == pytest.approx(divergence(task, b, a).item(), rel=1e-5)  # sums reordered


@pytest.fixture(scope="module")
def model_and_batches(small_data):
    cfg = TrainConfig(
        heads=HeadConfig(tasks=["sentiment", "similarity"], pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4, lora_targets=["query", "value"]),
        data_dir=str(small_data),
    )
    model = build_model(cfg, ["sentiment", "similarity"])
    batches = {}
    for task, stem in [("sentiment", "ids-sst"), ("similarity", "sts")]:
        items = model.items_for(read_examples(small_data / f"{stem}-train.csv", task)[:8])
        batches[task] = bucketed_batches(items, 8, shuffle=False)[0]
    return model, batches


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_rdrop_without_dropout_is_the_plain_loss_and_with_dropout_adds_a_positive_term(model_and_batches, task):
    model, batches = model_and_batches
    batch = batches[task]
    model.eval()
    plain = task_loss(model, task, batch).item()
    assert rdrop_loss(model, task, batch, weight=5.0).item() == pytest.approx(plain, rel=1e-5)  # two passes, one order
    model.train()
    with dropout_rate(model.backbone, 0.3):
        torch.manual_seed(1)
        without = rdrop_loss(model, task, batch, weight=0.0).item()
        torch.manual_seed(1)
        with_term = rdrop_loss(model, task, batch, weight=5.0).item()
    assert with_term > without


@pytest.mark.parametrize("task", ["sentiment", "similarity"])
def test_smart_term_grows_with_the_adversarial_step_and_trains_the_adapters(model_and_batches, task):
    model, batches = model_and_batches
    batch = batches[task]
    model.eval()
    clean = model(task, batch.inputs).values
    no_step = smart_loss(model, task, batch, clean, weight=1.0, noise_std=0.0, step_size=0.0)
    assert no_step.item() == pytest.approx(0.0, abs=1e-6)  # no step: the divergence of equal outputs
    stepped = smart_loss(model, task, batch, clean, weight=1.0, noise_std=1e-5, step_size=1.0)
    assert stepped.item() > 1e-6
    model.zero_grad()
    stepped.backward()
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lora)


def test_smart_restores_training_mode_and_leaves_no_hook(model_and_batches):
    model, batches = model_and_batches
    model.train()
    clean = model("sentiment", batches["sentiment"].inputs).values
    smart_loss(model, "sentiment", batches["sentiment"], clean, weight=1.0)
    embeddings = next(m for m in model.modules() if isinstance(m, Embeddings))
    assert model.training and model.backbone.training
    assert not embeddings._forward_hooks


def test_the_training_loss_applies_the_regularisers_named_in_the_config(model_and_batches, monkeypatch):
    import mtbert.train_steps as train_steps

    model, batches = model_and_batches
    calls = []
    monkeypatch.setattr(train_steps, "smart_loss", lambda *a, **k: calls.append("smart") or torch.tensor(0.0))
    monkeypatch.setattr(train_steps, "rdrop_loss", lambda *a, **k: calls.append("rdrop") or torch.tensor(0.0))
    cfg = TrainConfig(
        heads=HeadConfig(tasks=["sentiment", "similarity"]), smart_tasks=["similarity"], rdrop_tasks=["sentiment"]
    )
    task_loss(model, "sentiment", batches["sentiment"], cfg)
    task_loss(model, "similarity", batches["similarity"], cfg)
    assert calls == ["rdrop", "smart"]
    with pytest.raises(ValueError, match="smart_tasks"):
        TrainConfig(heads=HeadConfig(tasks=["sentiment"]), smart_tasks=["similarity"])
