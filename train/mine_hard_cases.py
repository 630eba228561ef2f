"""Mine ``assets/hard_cases.json`` from the shipped dev predictions: ``python -m train.mine_hard_cases``.

The rules (one per category) are in ``mtbert/hard_cases.py``; the output is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtbert.data import resolve_data_dir
from mtbert.hard_cases import write_hard_cases
from mtbert.zoo import DEFAULT_ASSETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--assets", type=Path, default=DEFAULT_ASSETS)
    args = parser.parse_args(argv)
    path = write_hard_cases(args.assets, resolve_data_dir(args.data_dir))
    for category in json.loads(path.read_text())["categories"]:
        print(f"{category['id']}: {len(category['examples'])} examples (reference {category['reference']})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
