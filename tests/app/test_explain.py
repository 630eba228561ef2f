"""Attention rollout and integrated gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbert.app.explain import attention_matrix, attention_rollout, cross_block, integrated_gradients
from mtbert.data import Example, bucketed_batches
from tests.test_multitask import make_model

pytestmark = pytest.mark.numerics


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
    """Attributions sum to f(input) - f(baseline) (the IG completeness axiom), up to the integral's error.

    The error is measured relative to what the integral moves through: the larger of |f(input) - f(baseline)|
    and the attributions' total size (the sum of their absolute values), so that a small difference between
    the ends, which cancelling attributions can give on any machine, is neither a failure nor a free pass.
    RIEMANN: 64 steps of captum's Gauss-Legendre rule integrate these smooth paths to well under 1%; 2% is the
    bound. FLOOR: f itself is evaluated in float32 (about 1e-6 relative of its value on another kernel path).
    """
    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = make_model(backbone_cache, encoding, mode="lora")
    a = "a man plays a guitar"
    parts, explained = integrated_gradients(model, task, a, b, n_steps=64)
    assert len(parts) == (2 if encoding == "concat" and b else 1) and explained
    batch = bucketed_batches(model.items_for([Example("0", a, b)]), 1, False)[0]
    special_ids = torch.tensor([model.tokenizer.cls_token_id, model.tokenizer.sep_token_id])
    riemann = 0.02
    with torch.no_grad():
        pooled = [model.embed(x)[0] for x in batch.inputs]
        out = model.head_output(task, pooled)
        target = int(out.argmax(-1)) if task == "sentiment" else None
        for k, (part, x) in enumerate(zip(parts, batch.inputs, strict=True)):
            # input k at its baseline ([PAD] for every word, [CLS]/[SEP] kept), any other input held as it is
            special = torch.isin(x["input_ids"], special_ids)
            baseline = {**x, "input_ids": torch.where(special, x["input_ids"], torch.zeros_like(x["input_ids"]))}
            base = model.head_output(task, [model.embed(baseline)[0] if j == k else p for j, p in enumerate(pooled)])
            f_input, f_base = (float(v[0, target] if target is not None else v[0]) for v in (out, base))
            delta = f_input - f_base
            total, size = float(part.scores.sum()), float(np.abs(part.scores).sum())
            floor = 1e-5 * (abs(f_input) + abs(f_base))
            bound = riemann * max(abs(delta), size) + floor
            assert abs(total - delta) <= bound, (total, delta, size)
            assert part.delta == pytest.approx(delta, rel=1e-3, abs=1e-4)  # the delta it reports is f's own
            assert part.completeness_error <= riemann + floor / max(abs(delta), size)
            # the check has teeth: no attribution at all, or every attribution of the wrong sign, fails it
            assert abs(0.0 - delta) > bound or abs(-total - delta) > bound, (total, delta, size)


def test_integrated_gradients_hook_nothing_so_other_requests_share_the_model(backbone_cache):
    """IG attributes through word embeddings passed in: no hook is left on (or put on) the shared model, and
    predictions made while it runs in another thread are the plain ones."""
    import threading

    model = make_model(backbone_cache, "cross", mode="lora")
    pairs = (["a cat sat on the mat", "two dogs run"], ["a cat is sitting", "a man sleeps"])
    reference = model.predict_similarity(*pairs)
    seen: list[int] = []
    original = model.backbone.embeddings.word.forward

    def counting(*args, **kwargs):  # any hook captum put on the embedding table would show here
        seen.append(len(model.backbone.embeddings.word._forward_hooks))
        return original(*args, **kwargs)

    model.backbone.embeddings.word.forward = counting
    done = threading.Event()

    def explain() -> None:
        for _ in range(3):
            integrated_gradients(model, "similarity", "a man plays a guitar", "someone plays music", n_steps=16)
        done.set()

    worker = threading.Thread(target=explain)
    worker.start()
    while not done.is_set():
        np.testing.assert_allclose(model.predict_similarity(*pairs), reference, rtol=1e-4, atol=1e-5)
    worker.join()
    assert seen and set(seen) == {0}
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_an_input_the_first_pass_leaves_outside_the_tolerance_is_integrated_again_with_more_steps(
    backbone_cache, monkeypatch
):
    from mtbert.app import explain

    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = make_model(backbone_cache, "cross", mode="lora")
    args = (model, "similarity", "a man plays a guitar on a stage tonight", "someone plays music")
    rough, _ = integrated_gradients(*args, n_steps=2)  # two steps: far outside the tolerance
    assert rough[0].completeness_error > explain.COMPLETENESS_TOLERANCE
    steps: list[int] = []
    attribute = explain.IntegratedGradients.attribute

    def counting(self, *a, **kw):
        steps.append(kw["n_steps"])
        return attribute(self, *a, **kw)

    monkeypatch.setattr(explain.IntegratedGradients, "attribute", counting)
    monkeypatch.setattr(explain, "IG_STEPS", 2)
    parts, _ = integrated_gradients(*args)  # the app's rule: the first pass, then the fallback
    assert steps == [2, explain.IG_FALLBACK_STEPS]
    assert parts[0].completeness_error <= explain.COMPLETENESS_TOLERANCE
