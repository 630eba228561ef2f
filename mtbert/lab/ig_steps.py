"""How many integration steps integrated gradients need: completeness error and time against the step count.

Integrated gradients approximate a path integral with ``n`` evaluations of the model (one batch). Fewer steps are
faster and less exact: the attributions' sum drifts from f(input) - f(baseline). This study measures, for every
(rule, steps), the relative completeness error over dev inputs of shipped variants and the time of one call, and
picks the fewest steps of each rule whose worst error stays within the tolerance.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from mtbert.data import Example


class Attribution(Protocol):
    completeness_error: float


Explain = Callable[[Any, str, str, "str | None", int, str], Sequence[Attribution]]


def ig_steps_study(
    explain: Explain,
    models: dict[str, Any],
    inputs: dict[str, list[Example]],
    steps: Sequence[int],
    methods: Sequence[str],
    tolerance: float,
) -> dict[str, Any]:
    """Measure ``explain(model, task, a, b, n_steps, method)`` on every model, task and input.

    ``inputs`` maps a task to its examples. Returns per rule and step count the median, 95th percentile and worst
    relative completeness error, the median milliseconds of one call, and ``chosen``: per rule, the fewest steps
    whose worst error is within ``tolerance`` (None when no measured count is).
    """
    for model in models.values():  # one call each first: lazy setup is not timed
        task, examples = next(iter(inputs.items()))
        explain(model, task, examples[0].a, examples[0].b, min(steps), methods[0])
    rows: dict[str, dict[str, Any]] = {}
    for method in methods:
        rows[method] = {}
        for n in steps:
            errors, ms = [], []
            for model in models.values():
                for task, examples in inputs.items():
                    for example in examples:
                        start = time.perf_counter()
                        parts = explain(model, task, example.a, example.b, n, method)
                        ms.append((time.perf_counter() - start) * 1000)
                        errors += [part.completeness_error for part in parts]
            rows[method][str(n)] = {
                "error_p50": float(np.percentile(errors, 50)),
                "error_p95": float(np.percentile(errors, 95)),
                "error_max": float(max(errors)),
                "ms_p50": statistics.median(ms),
                "attributions": len(errors),
            }
    chosen = {
        method: next((int(n) for n, row in by_steps.items() if row["error_max"] <= tolerance), None)
        for method, by_steps in rows.items()
    }
    return {
        "tolerance": tolerance,
        "variants": list(models),
        "inputs": {task: len(examples) for task, examples in inputs.items()},
        "methods": rows,
        "chosen": chosen,
    }
