"""The supervised SimCSE loss and S-SimCSE's sampled dropout."""

from __future__ import annotations

import pytest
import torch

import mtbert.contrastive as contrastive
from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.data import bucketed_batches
from mtbert.model import SelfAttention
from mtbert.train_steps import build_model


def _config(small_data, **overrides) -> TrainConfig:
    return TrainConfig(
        heads=HeadConfig(tasks=["similarity"], pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4, lora_targets=["query", "value"]),
        contrastive_weight=1.0,
        train_limit=160,
        data_dir=str(small_data),
        **overrides,
    )


@pytest.fixture(scope="module")
def model_and_batch(small_data):
    cfg = _config(small_data)
    model = build_model(cfg, ["similarity"])
    positives = contrastive.positive_items(model, cfg, small_data)
    assert len(positives) > 16
    assert all(item.label >= 4 and len(item.inputs) == 2 for item in positives)
    return model, bucketed_batches(positives[:16], 16, shuffle=False)[0]


def test_contrastive_loss_prefers_the_true_pairs(model_and_batch):
    model, batch = model_and_batch
    model.eval()
    shuffled = type(batch)([batch.inputs[0], {k: v.roll(1, 0) for k, v in batch.inputs[1].items()}], None, [])
    true_pairs = contrastive.contrastive_loss(model, batch, 0.05).item()
    wrong_pairs = contrastive.contrastive_loss(model, shuffled, 0.05).item()
    assert true_pairs < 0.5 * wrong_pairs


def test_sampled_dropout_draws_a_rate_per_pass_in_range_and_restores_the_model(model_and_batch, monkeypatch):
    model, batch = model_and_batch
    model.train()
    seen: list[tuple[float, float]] = []
    original = contrastive.dropout_rate

    def recording(module, rate):
        attention = next(m for m in module.modules() if isinstance(m, SelfAttention))
        seen.append((rate, attention.attention_dropout))
        return original(module, rate)

    monkeypatch.setattr(contrastive, "dropout_rate", recording)
    torch.manual_seed(0)
    contrastive.contrastive_loss(model, batch, 0.05, "sampled", (0.1, 0.2))
    rates = [rate for rate, _ in seen]
    assert len(rates) == 2 and rates[0] != rates[1] and all(0.1 <= r <= 0.2 for r in rates)
    dropouts = {m.p for m in model.backbone.modules() if isinstance(m, torch.nn.Dropout)}
    attention = {m.attention_dropout for m in model.backbone.modules() if isinstance(m, SelfAttention)}
    assert dropouts == {0.1} and attention == {0.1}  # the backbone's own rate again

    seen.clear()
    contrastive.contrastive_loss(model, batch, 0.05, "fixed")
    assert seen == []  # the fixed recipe leaves dropout alone
    model.eval()
    contrastive.contrastive_loss(model, batch, 0.05, "sampled")
    assert seen == []  # no dropout outside training


def test_sampled_dropout_changes_the_loss_and_a_seed_repeats_it(model_and_batch):
    model, batch = model_and_batch
    model.train()

    def loss(mode: str, seed: int) -> float:
        torch.manual_seed(seed)
        return contrastive.contrastive_loss(model, batch, 0.05, mode, (0.25, 0.3)).item()

    assert loss("sampled", 1) == loss("sampled", 1)
    assert loss("sampled", 1) != loss("fixed", 1)


def test_contrastive_dropout_options_are_checked():
    with pytest.raises(ValueError, match="contrastive_dropout"):
        TrainConfig(contrastive_dropout="random")
    with pytest.raises(ValueError, match="contrastive_dropout_range"):
        TrainConfig(contrastive_dropout_range=[0.3, 0.1])
