"""Cost per step of each training option: ``python -m train.benchmark_options [--rows 128] [--rounds 3]``.

Writes ``assets/option_costs.json`` and regenerates the README's options table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtbert.data import resolve_data_dir
from mtbert.files import write_json_atomic
from mtbert.lab.option_costs import option_costs
from mtbert.lab.report import write_docs
from mtbert.layout import ASSETS, README, option_costs_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--rows", type=int, default=128, help="training rows per task in a timed epoch")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (each times an epoch of every option)")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    args = parser.parse_args(argv)
    costs = option_costs(resolve_data_dir(args.data_dir), args.rows, args.rounds)
    write_json_atomic(option_costs_file(args.assets), costs)
    print(json.dumps(costs, indent=2))
    write_docs(args.assets, [README])
    return 0


if __name__ == "__main__":
    sys.exit(main())
