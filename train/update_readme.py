"""Regenerate the README's tables from assets/*.json: ``python -m train.update_readme``."""

from __future__ import annotations

import sys

from mtbert.report import write_readme
from mtbert.zoo import DEFAULT_ASSETS


def main() -> int:
    print(f"updated {write_readme(DEFAULT_ASSETS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
