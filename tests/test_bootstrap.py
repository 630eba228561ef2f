"""The paired bootstrap: a clear difference is found, no difference is a coin toss, and the interval covers it."""

from __future__ import annotations

import numpy as np

from mtbert.bootstrap import paired


def test_a_clear_difference_is_found_and_none_is_a_coin_toss():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 400)
    good = np.where(rng.random(400) < 0.9, gold, 1 - gold)
    poor = np.where(rng.random(400) < 0.6, gold, 1 - gold)
    out = paired("paraphrase", gold, good, poor)
    assert out["prob_a_better"] > 0.99 and out["low"] > 0 and out["low"] < out["difference"] < out["high"]
    assert abs(out["difference"] - ((good == gold).mean() - (poor == gold).mean())) < 1e-12
    same = paired("paraphrase", gold, good, good)
    assert same["prob_a_better"] == 0.5 and same["low"] == same["high"] == 0.0
    reverse = paired("paraphrase", gold, poor, good)
    assert abs(reverse["prob_a_better"] - (1 - out["prob_a_better"])) < 1e-12


def test_pearson_differences_on_scores():
    rng = np.random.default_rng(1)
    gold = rng.uniform(0, 5, 300)
    close, noisy = gold + rng.normal(0, 0.5, 300), gold + rng.normal(0, 2.0, 300)
    out = paired("similarity", gold, close, noisy)
    assert out["metric_a"] > out["metric_b"] and out["prob_a_better"] > 0.99 and out["resamples"] == 2000


def test_class_decisions_of_a_five_class_task():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 5, 200)
    a, b = np.where(rng.random(200) < 0.7, gold, 0), np.where(rng.random(200) < 0.4, gold, 0)
    out = paired("sentiment", gold, a, b)
    assert out["metric_a"] == (a == gold).mean() and out["metric_b"] == (b == gold).mean() and out["low"] > 0
