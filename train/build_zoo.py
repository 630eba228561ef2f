"""Rebuild the model zoo: ``python -m train.build_zoo [NAME ...] [--force] [--check]``.

Trains every preset of the zoo in order (resuming an interrupted run from its state), evaluates it on dev,
ships its checkpoint and dev predictions in assets/, records assets/results.json, then mines the hard cases
and regenerates the README tables. Variants already built from their current preset are skipped unless ``--force``
(a changed preset, e.g. more epochs, counts as not built).
``--check`` only recomputes the shipped variants' dev metrics and compares them with results.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert.checkpoint import BackboneCache
from mtbert.data import resolve_data_dir
from mtbert.lab.hard_cases import write_hard_cases
from mtbert.lab.report import write_docs
from mtbert.lab.zoo_builder import ZOO, build_variant, check_results, is_built
from mtbert.layout import ASSETS, FINDINGS, README
from mtbert.run_state import TrainingDiverged, TrainingInterrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"variants to build (default: all of {[v.name for v in ZOO]})")
    parser.add_argument("--force", action="store_true", help="retrain from scratch even if built (else a run resumes)")
    parser.add_argument("--check", action="store_true", help="recompute shipped dev metrics, compare with results")
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    args = parser.parse_args(argv)
    unknown = set(args.names) - {v.name for v in ZOO}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    data_dir = resolve_data_dir(args.data_dir)
    if args.check:
        gaps = check_results(args.assets, data_dir, args.names or None)
        for name, gap in gaps.items():
            print(f"{name}: largest |results.json - recomputed| = {max(gap.values()):.2e}")
        return 0 if all(max(g.values()) < 1e-4 for g in gaps.values()) else 1
    cache = BackboneCache()
    for variant in [v for v in ZOO if not args.names or v.name in args.names]:
        if is_built(variant, args.assets) and not args.force:
            print(f"{variant.name}: built, skipped (--force rebuilds it)")
            continue
        print(f"{variant.name}: building")
        try:
            entry = build_variant(variant, args.assets, data_dir, fresh=args.force, cache=cache)
        except (TrainingDiverged, TrainingInterrupted, ValueError) as err:  # ValueError: a state of another recipe
            print(f"error: {variant.name}: {err}", file=sys.stderr)
            return 130 if isinstance(err, TrainingInterrupted) else 1
        print(f"{variant.name}: " + "  ".join(f"{k}={v:.4f}" for k, v in entry.items() if isinstance(v, float)))
    path = write_hard_cases(args.assets, data_dir)
    print(f"hard cases: {path}")
    if args.assets.resolve() == ASSETS.resolve():
        write_docs(args.assets, [README, FINDINGS])
        print(f"README and docs/findings.md regenerated from {args.assets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
