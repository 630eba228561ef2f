"""Integration steps of the app's saliency: ``python -m train.ig_steps [--json assets/ig_steps.json]``.

Integrated gradients on shipped variants over the first dev inputs of each task (``assets/data``), for each
quadrature rule and step count: the relative completeness error (median, p95, worst) and the time of one call.
Then the app's own rule, measured the same way: ``IG_STEPS`` Gauss-Legendre steps, and ``IG_FALLBACK_STEPS`` for an
input the first leave outside the tolerance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mtbert.app.explain import COMPLETENESS_TOLERANCE, IG_FALLBACK_STEPS, IG_METHOD, IG_STEPS, integrated_gradients
from mtbert.app.store import VariantStore
from mtbert.data import read_examples, task_file
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.benchmark import emit, machine_info
from mtbert.lab.ig_steps import ig_steps_study
from mtbert.layout import ASSETS
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["multi-cross", "single-concat"])
    parser.add_argument("--inputs", type=int, default=8, help="dev inputs per task")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 6, 8, 12, 16, 24, 32, 48])
    parser.add_argument("--methods", nargs="+", default=[IG_METHOD, "riemann_trapezoid"])
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--app-rule-only", action="store_true", help="keep the --json file's study; measure the app's rule"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # the app's serving threads
    store = VariantStore(args.assets)
    models = {name: store.model(name) for name in args.variants}
    data = args.assets / "data"
    inputs = {
        task: read_examples(task_file(data, task, "dev"), task)[: args.inputs]
        for task in (SENTIMENT, PARAPHRASE, SIMILARITY)
    }

    def explain(model, task, a, b, n_steps, method):  # an ensemble is explained through its first member, as in the app
        parts, _ = integrated_gradients(model.model_for(task), task, a, b, n_steps=n_steps, method=method)
        return parts

    if args.app_rule_only and args.json and args.json.exists():
        result = read_json(args.json)
    else:
        result = ig_steps_study(explain, models, inputs, args.steps, args.methods, COMPLETENESS_TOLERANCE)

    def app_rule(model, task, a, b, _n_steps, method):  # the app's call: no step count given
        parts, _ = integrated_gradients(model.model_for(task), task, a, b, method=method)
        return parts

    app = ig_steps_study(app_rule, models, inputs, [IG_STEPS], [IG_METHOD], COMPLETENESS_TOLERANCE)
    result |= {
        "app_steps": IG_STEPS,
        "app_fallback_steps": IG_FALLBACK_STEPS,
        "app_method": IG_METHOD,
        "app_rule": app["methods"][IG_METHOD][str(IG_STEPS)],
        "machine": machine_info(),
    }
    emit(result, None)
    if args.json:
        write_json_atomic(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
