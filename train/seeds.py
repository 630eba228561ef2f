"""Seed spread: ``python -m train.seeds VARIANT --seed S [--seed S ...] [--task T ...]``.

Retrains a zoo preset's models with other seeds (``runs/seeds/<variant>-s<seed>``, resumable; a multitask preset
trains its one model on all its tasks), records each seed's dev metrics beside the shipped seed's in
``assets/seeds.json`` and regenerates the README tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert import tasks
from mtbert.data import resolve_data_dir
from mtbert.lab.report import write_docs
from mtbert.lab.seeds import seed_study, spread
from mtbert.layout import ASSETS, FINDINGS, PRESETS, README, RUNS
from mtbert.run_state import TrainingDiverged, TrainingInterrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variant", help="a zoo preset, e.g. single-cross or distilled")
    parser.add_argument("--seed", type=int, action="append", dest="seeds", required=True, help="repeatable")
    parser.add_argument("--task", action="append", dest="tasks", choices=tasks.names(), help="default: all three")
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--runs", type=Path, default=RUNS / "seeds")
    args = parser.parse_args(argv)
    try:
        entry = seed_study(
            args.variant,
            args.seeds,
            args.tasks or list(tasks.CS224N_TASKS),
            args.assets,
            resolve_data_dir(args.data_dir),
            PRESETS,
            args.runs,
        )
    except (TrainingDiverged, TrainingInterrupted, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 130 if isinstance(err, TrainingInterrupted) else 1
    for key, s in spread(entry).items():
        print(f"{key}: mean {s['mean']:.4f}  sd {s['sd']:.4f}  range {s['min']:.4f}-{s['max']:.4f}  ({s['n']} seeds)")
    if args.assets.resolve() == ASSETS.resolve():
        write_docs(args.assets, [README, FINDINGS])
    return 0


if __name__ == "__main__":
    sys.exit(main())
