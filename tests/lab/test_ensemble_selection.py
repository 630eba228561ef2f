"""Ensemble member selection on crafted dev predictions: the rule's score, greedy selection, cross-fitting."""

import numpy as np
import pandas as pd
import pytest

from mtbert.lab.ensemble_selection import greedy_selection, read_candidates, score, selection_study
from mtbert.lab.report import ensemble_selection_table
from mtbert.layout import ensemble_selection_file

N = 200


def write(assets, variant, task, gold, values):
    folder = assets / "predictions" / variant
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(len(gold))], "gold": gold})
    if task == "sentiment":
        for k in range(5):
            frame[f"p{k}"] = values[:, k]
        frame["predicted"] = values.argmax(1)
    elif task == "paraphrase":
        frame["probability"] = values
        frame["predicted"] = (values >= 0.5).astype(int)
    else:
        frame["predicted"] = values
    frame.sample(frac=1.0, random_state=len(variant)).to_csv(folder / f"{task}-dev-predictions.csv", index=False)


@pytest.fixture
def assets(tmp_path):
    """Three variants: 'sharp' knows most answers, 'noisy' guesses, 'half' knows the first half of each task."""
    rng = np.random.default_rng(0)
    sst = rng.integers(0, 5, N)
    quora = rng.integers(0, 2, N).astype(float)
    sts = rng.uniform(0, 5, N)
    right = rng.random(N) < 0.8
    for variant, known in (("sharp", right), ("noisy", np.zeros(N, bool)), ("half", np.arange(N) < N // 2)):
        guess = rng.integers(0, 5, N)
        probs = np.full((N, 5), 0.05)
        probs[np.arange(N), np.where(known, sst, guess)] = 0.8
        write(tmp_path, variant, "sentiment", sst, probs)
        write(tmp_path, variant, "paraphrase", quora, np.where(known, 0.2 + 0.6 * quora, rng.random(N)))
        write(tmp_path, variant, "similarity", sts, np.where(known, sts + rng.normal(0, 0.3, N), rng.uniform(0, 5, N)))
    return tmp_path


def test_candidates_align_on_the_first_variants_items(assets):
    gold, predictions = read_candidates(assets, "sentiment", ["sharp", "noisy", "absent"])
    assert set(predictions) == {"sharp", "noisy"} and predictions["sharp"].shape == (N, 5)
    every = np.arange(N)
    assert score("sentiment", gold, predictions["sharp"], every) == pytest.approx(0.8 + 0.2 / 5, abs=0.06)
    assert score("sentiment", gold, predictions["noisy"], every) < 0.35


def test_greedy_selection_takes_what_helps_and_stops():
    gold = np.array([0.0, 1.0, 0.0, 1.0])
    predictions = {
        "right": np.array([0.1, 0.9, 0.1, 0.9]),
        "wrong": np.array([0.9, 0.1, 0.9, 0.1]),
        "unsure": np.array([0.4, 0.6, 0.6, 0.4]),
    }
    assert greedy_selection("paraphrase", gold, predictions, np.arange(4)) == ["right"]
    # two half-right models whose mean is right on every item: greedy needs both
    pair = {"left": np.array([0.1, 0.9, 0.7, 0.45]), "righthalf": np.array([0.7, 0.45, 0.1, 0.9])}
    assert sorted(greedy_selection("paraphrase", gold, pair, np.arange(4))) == ["left", "righthalf"]


def test_study_scores_the_rule_fits_greedy_and_cross_fits_it(assets):
    study = selection_study(assets, ["sharp", "noisy"], ["sharp", "noisy", "half"], repeats=3)
    for task, row in study["tasks"].items():
        gold, predictions = read_candidates(assets, task, ["sharp", "noisy"])
        rule = score(task, gold, (predictions["sharp"] + predictions["noisy"]) / 2, np.arange(N))
        assert row["rule"] == pytest.approx(rule)
        assert "noisy" not in row["greedy_members"] and row["greedy_on_dev"] >= row["rule"]
        low, high = row["greedy_cross_fitted_range"]
        assert low <= row["greedy_cross_fitted"] <= high
    unit = [study["tasks"]["sentiment"]["rule"], study["tasks"]["paraphrase"]["rule"]]
    unit.append((study["tasks"]["similarity"]["rule"] + 1) / 2)
    assert study["overall"]["rule"] == pytest.approx(np.mean(unit))


def test_table_says_when_the_study_has_not_run(assets):
    from mtbert.files import write_json_atomic

    assert "python -m train.ensemble_selection" in ensemble_selection_table(assets)
    write_json_atomic(ensemble_selection_file(assets), selection_study(assets, ["sharp"], ["sharp", "half"], 2))
    table = ensemble_selection_table(assets)
    assert "| SST acc |" in table and "| STS Pearson |" in table and table.splitlines()[-1].startswith("| overall")
