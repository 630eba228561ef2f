"""Gradient surgery and learnt loss weights on small hand-made gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbert.surgery import UncertaintyWeights, cagrad, cagrad_weights, gradvac, pcgrad, plain_sum


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


AGREEING = torch.tensor([[1.0, 2.0, 0.0], [0.5, 1.0, 1.0], [2.0, 0.0, 1.0]])
CONFLICTING = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])


def test_without_conflicts_pcgrad_and_gradvac_are_the_plain_sum():
    assert torch.allclose(pcgrad(AGREEING, _gen()), plain_sum(AGREEING))
    targets = torch.zeros(3, 3)
    assert torch.allclose(gradvac(AGREEING, targets, _gen()), plain_sum(AGREEING))
    assert (targets[~torch.eye(3, dtype=bool)] > 0).all()  # the running targets moved towards the cosines


def test_pcgrad_removes_the_conflicting_components():
    combined = pcgrad(CONFLICTING, _gen())
    g1, g2 = CONFLICTING
    # Each projected gradient is orthogonal to the other task's original gradient.
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    assert torch.allclose(combined, p1 + p2)
    assert combined @ g1 >= 0 and combined @ g2 >= 0  # the update no longer hurts either task
    assert not torch.allclose(combined, plain_sum(CONFLICTING))


def test_gradvac_raises_a_pairs_similarity_to_its_target():
    g1, g2 = CONFLICTING
    # Row 0 is adjusted towards g2 up to the target cosine 0.5:
    single = gradvac(torch.stack([g1, g2]), torch.tensor([[0.0, 0.5], [-1.0, 0.0]]), _gen(), beta=0.0)
    row0 = single - g2  # row 1's target (-1) is below every cosine: it is left alone
    cos = row0 @ g2 / (row0.norm() * g2.norm())
    assert cos == pytest.approx(0.5, abs=1e-5)  # a float32 projection of two short vectors


def test_cagrad_with_c_zero_is_the_sum_and_with_c_it_helps_the_worst_task():
    assert torch.allclose(cagrad(CONFLICTING, c=0.0), plain_sum(CONFLICTING))
    grads = torch.tensor([[4.0, 0.0], [-1.0, 0.5]])
    plain, averse = plain_sum(grads), cagrad(grads, c=0.8)
    worst = lambda d: min(float(d @ g) for g in grads)  # noqa: E731
    assert worst(averse / averse.norm()) > worst(plain / plain.norm())


def test_cagrad_weights_lie_on_the_simplex():
    gram = (CONFLICTING @ CONFLICTING.T).numpy().astype(float)
    w = cagrad_weights(gram, 0.5)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    assert not np.allclose(w, [0.5, 0.5])  # the conflict moves the weights off the average


def test_pcgrad_order_comes_from_the_generator():
    grads = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-0.5, -1.0, 1.0]])
    results = {tuple(pcgrad(grads, _gen(s)).round(decimals=5).tolist()) for s in range(8)}
    assert len(results) > 1  # the order matters for three tasks, so the generator decides it
    assert torch.equal(pcgrad(grads, _gen(3)), pcgrad(grads, _gen(3)))


def test_uncertainty_weights_learn_to_down_weight_a_noisy_task():
    weights = UncertaintyWeights(["sentiment", "similarity"], regression=["similarity"])
    assert weights.weights() == {"sentiment": 1.0, "similarity": 0.5}
    optimizer = torch.optim.SGD(weights.parameters(), lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        loss = weights("sentiment", torch.tensor(0.1)) + weights("similarity", torch.tensor(5.0))
        loss.backward()
        optimizer.step()
    learnt = weights.weights()
    # The optimum of f exp(-s) L + s/2 is exp(-s) = 1 / (2 f L): the large loss gets the small weight.
    assert learnt["sentiment"] == pytest.approx(1 / (2 * 0.1), rel=0.05)
    assert learnt["similarity"] == pytest.approx(0.5 / (2 * 0.5 * 5.0), rel=0.05)
