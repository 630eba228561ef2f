"""The paired bootstrap behind the README findings, on crafted dev predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtbert.lab.significance import interval, prob_better


def write(assets, variant, task, gold, predicted):
    folder = assets / "predictions" / variant
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"id{i}" for i in range(len(gold))]
    pd.DataFrame({"id": ids, "gold": gold, "predicted": predicted}).to_csv(folder / f"{task}-dev-predictions.csv")


@pytest.fixture
def assets(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    flipped = np.where(rng.random(400) < 0.3, 1 - labels, labels)  # 70% right
    one_off = labels.copy()
    one_off[0] = 1 - one_off[0]  # one item worse than perfect
    write(tmp_path, "good", "paraphrase", labels, labels)
    write(tmp_path, "poor", "paraphrase", labels, flipped)
    write(tmp_path, "almost", "paraphrase", labels, one_off)
    scores = rng.uniform(0, 5, 300)
    write(tmp_path, "good", "similarity", scores, scores + rng.normal(0, 0.3, 300))
    write(tmp_path, "poor", "similarity", scores, scores + rng.normal(0, 3.0, 300))
    write(tmp_path, "good", "sentiment", labels, labels)
    write(tmp_path, "poor", "sentiment", labels, flipped)
    return tmp_path


def test_a_large_gap_is_clear_and_symmetric(assets):
    assert prob_better(assets, "good", "poor", "quora_acc") == 1.0
    assert prob_better(assets, "poor", "good", "quora_acc") == 0.0
    assert prob_better(assets, "good", "poor", "sts_pearson") > 0.99
    assert prob_better(assets, "good", "poor", "overall") > 0.99


def test_a_one_item_gap_and_a_tie_are_not_clear(assets):
    p = prob_better(assets, "good", "almost", "quora_acc")
    assert 0.5 < p < 0.95  # one item of 400: the item is left out of a third of the resamples
    assert prob_better(assets, "good", "good", "quora_acc") == 0.5


def test_missing_predictions_give_none(assets):
    assert prob_better(assets, "good", "nowhere", "quora_acc") is None
    assert prob_better(assets, "good", "almost", "overall") is None  # "almost" has no STS or SST predictions


def test_interval_brackets_the_metric_and_shrinks_with_certainty(assets):
    # "poor" is right on 70% of 400 items: the binomial standard error is about 0.023, so a 95% interval ~ ±0.045
    frame = pd.read_csv(assets / "predictions" / "poor" / "paraphrase-dev-predictions.csv")
    accuracy = float((frame["gold"] == frame["predicted"]).mean())
    low, high = interval(assets, "poor", "quora_acc")
    assert low < accuracy < high and 0.06 < high - low < 0.12
    assert interval(assets, "good", "quora_acc") == (1.0, 1.0)  # always right: every resample is right
    low, high = interval(assets, "poor", "overall")
    assert 0.4 < low < high < 0.9
    assert interval(assets, "almost", "overall") is None
