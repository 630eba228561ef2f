"""Attention rollout and integrated gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbert.app.explain import attention_matrix, attention_rollout, cross_block, integrated_gradients
from mtbert.data import Example, bucketed_batches
from tests.test_multitask import make_model


def test_rollout_rows_are_distributions_and_one_layer_is_the_mixed_mean():
    rng = np.random.default_rng(0)
    att = rng.random((3, 4, 5, 5))
    att /= att.sum(-1, keepdims=True)
    rollout = attention_rollout(att)
    assert np.allclose(rollout.sum(-1), 1)
    assert np.allclose(attention_rollout(att[:1]), 0.5 * att[0].mean(0) + 0.5 * np.eye(5))


def test_attention_matrix_choices_and_cross_block(backbone_cache):
    model = make_model(backbone_cache, "cross")
    _, views = model.predict_similarity(["a cat sat"], ["a dog ran far"], return_attentions=True)
    view = views[0][0]
    assert np.allclose(attention_matrix(view, 2, "mean"), view.attentions[2].mean(0))
    assert np.allclose(attention_matrix(view, 2, "7"), view.attentions[2, 7])
    block, rows, cols = cross_block(view, attention_matrix(view, 0, "mean"))
    assert rows[0] == "[CLS]" and cols[-1] == "[SEP]" and block.shape == (len(rows), len(cols))


@pytest.mark.parametrize(
    "encoding,task,b",
    [
        ("cross", "similarity", "someone plays music"),
        ("concat", "paraphrase", "someone plays music"),
        ("cross", "sentiment", None),
    ],
)
def test_integrated_gradients_completeness(backbone_cache, encoding, task, b):
    """Attributions sum to f(input) - f(baseline) (the IG completeness axiom), up to the integral's error."""
    model = make_model(backbone_cache, encoding, mode="lora")
    a = "a man plays a guitar"
    parts, explained = integrated_gradients(model, task, a, b, n_steps=64)
    assert len(parts) == (2 if encoding == "concat" and b else 1) and explained
    batch = bucketed_batches(model.items_for([Example("0", a, b)]), 1, False)[0]
    special_ids = torch.tensor([model.tokenizer.cls_token_id, model.tokenizer.sep_token_id])
    with torch.no_grad():
        pooled = [model.embed(x)[0] for x in batch.inputs]
        out = model.head_output(task, pooled)
        target = int(out.argmax(-1)) if task == "sentiment" else None
        for k, (part, x) in enumerate(zip(parts, batch.inputs, strict=True)):
            # input k at its baseline ([PAD] for every word, [CLS]/[SEP] kept), any other input held as it is
            special = torch.isin(x["input_ids"], special_ids)
            baseline = {**x, "input_ids": torch.where(special, x["input_ids"], torch.zeros_like(x["input_ids"]))}
            base = model.head_output(task, [model.embed(baseline)[0] if j == k else p for j, p in enumerate(pooled)])
            delta = float((out - base)[0, target] if target is not None else (out - base)[0])
            assert abs(delta) > 1e-3  # the baseline moves the output, so the check below has something to check
            assert part.scores.sum() == pytest.approx(delta, abs=0.02 + 0.02 * abs(delta))
