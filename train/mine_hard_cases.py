"""Mine ``assets/hard_cases.json`` from the shipped dev predictions: ``python -m train.mine_hard_cases``.

The rules (one per category) are in ``mtbert/lab/hard_cases.py``; the output is the same on every run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert.data import resolve_data_dir
from mtbert.files import read_json
from mtbert.lab.hard_cases import write_hard_cases
from mtbert.layout import ASSETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    args = parser.parse_args(argv)
    path = write_hard_cases(args.assets, resolve_data_dir(args.data_dir))
    for category in read_json(path)["categories"]:
        print(f"{category['id']}: {len(category['examples'])} examples (reference {category['reference']})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
