"""The ensemble's fused pass: ``python -m train.benchmark_ensemble [--calls 30] [--json assets/benchmark.json]``
(recorded under "ensemble_fusion"; the README's table is regenerated from it).

One pair's latency through the shipped ensemble with every member on its own against the members that share a base
encoder in one pass, with and without attentions, and how far the two paths' answers differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert.app.store import VariantStore
from mtbert.ensemble import EnsembleModel
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.benchmark import emit, machine_info
from mtbert.lab.ensemble_fusion import fusion_benchmark
from mtbert.lab.report import write_docs
from mtbert.layout import ASSETS, README


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="ensemble")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--json", type=Path, help="record the result here (e.g. assets/benchmark.json)")
    args = parser.parse_args(argv)
    model = VariantStore(args.assets).model(args.variant)
    if not isinstance(model, EnsembleModel):
        parser.error(f"{args.variant} is not an ensemble")
    result = {"variant": args.variant, **fusion_benchmark(model, calls=args.calls), "machine": machine_info()}
    emit(result, None)
    if args.json:
        write_json_atomic(args.json, {**read_json(args.json), "ensemble_fusion": result})
        write_docs(args.assets, [README])
    return 0


if __name__ == "__main__":
    sys.exit(main())
