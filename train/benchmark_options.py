"""Cost per step of each training option: ``python -m train.benchmark_options [--rows 128] [--rounds 3]
[--distill-targets DIR] [--only NAME ...]``.

Writes ``assets/option_costs.json`` (``--only`` times those options and their baselines, and updates their
entries) and regenerates the README's options table. Distillation is timed when a targets folder is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtbert.data import resolve_data_dir
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.option_costs import option_costs, options
from mtbert.lab.report import write_docs
from mtbert.layout import ASSETS, README, option_costs_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--rows", type=int, default=128, help="training rows per task in a timed epoch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (each times an epoch of every option)")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--distill-targets", help="a teacher's targets folder (python -m train.distill_targets)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="time only these options (and their baselines)")
    args = parser.parse_args(argv)
    timed = options(args.distill_targets, args.only)
    costs = option_costs(resolve_data_dir(args.data_dir), args.rows, args.rounds, timed)
    if args.only:  # only these entries change; each keeps the baseline time it was measured against beside it
        measured = {
            n: costs[n] | {"baseline_seconds_per_step": costs[costs[n]["baseline"]]["seconds_per_step"]}
            for n in args.only
        }
        costs = read_json(option_costs_file(args.assets)) | measured
    write_json_atomic(option_costs_file(args.assets), costs)
    print(json.dumps(costs, indent=2))
    write_docs(args.assets, [README])
    return 0


if __name__ == "__main__":
    sys.exit(main())
