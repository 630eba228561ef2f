from __future__ import annotations

from dataclasses import dataclass

from mtbert.data import Example
from mtbert.lab.ig_steps import ig_steps_study


@dataclass
class Part:
    completeness_error: float


def test_the_study_picks_the_fewest_steps_whose_worst_error_is_within_the_tolerance():
    calls = []

    def explain(model, task, a, b, n_steps, method):  # error falls with the steps; the trapezoid rule is worse
        calls.append((model, task, n_steps, method))
        scale = 1.0 if method == "gausslegendre" else 4.0
        return [Part(scale * model / n_steps**2), Part(scale * 0.5 * model / n_steps**2)]

    inputs = {"sentiment": [Example("0", "a", None)], "similarity": [Example("1", "a", "b"), Example("2", "c", "d")]}
    out = ig_steps_study(explain, {"one": 1.0, "two": 2.0}, inputs, [2, 8, 16, 32], ["gausslegendre", "trap"], 0.02)
    # worst error is the model 2.0 input: 2/n^2 <= 0.02 from n=10 (Gauss-Legendre), 8/n^2 from n=20 (trapezoid)
    assert out["chosen"] == {"gausslegendre": 16, "trap": 32}
    row = out["methods"]["gausslegendre"]["8"]
    assert row["error_max"] == 2.0 / 64 and row["attributions"] == 2 * 3 * 2 and row["ms_p50"] >= 0
    assert len(calls) == 2 + 2 * 4 * 2 * 3  # one untimed warm-up per model, then every rule x steps x model x input
    assert ig_steps_study(explain, {"two": 2.0}, inputs, [2], ["trap"], 0.02)["chosen"] == {"trap": None}
