"""Mixed-adapter passes: an ensemble's LoRA and frozen members answer in one encoder pass, as they would alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from mtbert.ensemble import EnsembleModel
from mtbert.multitask import SingleTaskModels
from tests.test_checkpoint import _perturb_heads
from tests.test_multitask import make_model
from tests.tolerances import REORDERED

A = ["a man plays a guitar.", "how do i learn python?", "the film is a long, slow and deeply moving portrait."]
B = ["someone plays music.", "how can i learn python fast?", "it moves."]
TASKS = ("sentiment", "paraphrase", "similarity")


@pytest.fixture(scope="module")
def members(backbone_cache):
    torch.manual_seed(0)
    full = make_model(backbone_cache, mode="full")
    with torch.no_grad():
        full.backbone.blocks[0].ffn.up.weight.mul_(1.01)  # its own encoder weights: it cannot share a pass
    return {
        "cross": _perturb_heads(make_model(backbone_cache)),
        "cross-mean-shared": _perturb_heads(make_model(backbone_cache, pooling="mean", shared=True)),
        "concat": _perturb_heads(make_model(backbone_cache, "concat", "uv_diff_prod")),
        "frozen": _perturb_heads(make_model(backbone_cache, "concat", mode="frozen")),
        "single": SingleTaskModels({"similarity": _perturb_heads(make_model(backbone_cache, tasks=["similarity"]))}),
        "full": _perturb_heads(full),
    }


@pytest.mark.numerics
def test_a_fused_ensemble_answers_as_its_members_do_one_by_one(members):
    fused, plain = EnsembleModel(members), EnsembleModel(members, fuse=False)
    assert [len(g.models) for g in fused.fused.groups] == [5] and not plain.fused.groups
    assert not fused.fused.fused(members["full"].model_for("sentiment"))
    for task in TASKS:
        expected = plain.predict(task, A, B)
        np.testing.assert_allclose(fused.predict(task, A, B), expected, rtol=REORDERED, atol=REORDERED)
        np.testing.assert_allclose(fused.predict(task, A, B, batch_size=5), expected, rtol=REORDERED, atol=REORDERED)
        values, views = fused.predict(task, A[:1], B[:1], return_attentions=True)
        np.testing.assert_allclose(values, expected[:1], rtol=REORDERED, atol=REORDERED)
        assert views[0][0].attentions.shape[:2] == (6, 12)
    # the members differ, so an answer that ignored an adapter or a head would not match
    one = [m.model_for("similarity").predict_similarity(A, B) for m in members.values()]
    assert min(np.abs(x - y).max() for i, x in enumerate(one) for y in one[i + 1 :]) > 1e-3


def test_one_encoder_pass_answers_every_fused_member(members):
    ens = EnsembleModel(members)
    (group,) = ens.fused.groups
    calls = []
    hook = group.encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    try:
        ens.predict_similarity(A[0], B[0])
    finally:
        hook.remove()
    # cross, cross-mean-shared and single: one row each; concat and frozen: a row per sentence
    assert calls == [torch.Size([7, calls[0][1]])]


def test_concurrent_fused_passes_keep_their_own_rows(members):
    ens = EnsembleModel(members)
    models = [m.model_for("similarity") for m in members.values()]
    subsets = [models[:2], models[2:5]]
    expected = [[m.predict_similarity(A, B) for m in subset] for subset in subsets]
    errors = []

    def loop(k: int) -> None:
        for _ in range(15):
            got = ens.fused.run("similarity", subsets[k], A, B, 64)
            pairs = zip(got, expected[k], strict=True)
            if any(not np.allclose(g, e, rtol=REORDERED, atol=REORDERED) for g, e in pairs):
                errors.append(k)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
