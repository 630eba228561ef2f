"""Regenerate the README's and docs/findings.md's tables from assets/*.json: ``python -m train.update_readme``."""

from __future__ import annotations

import sys

from mtbert.lab.report import write_docs
from mtbert.layout import ASSETS, FINDINGS, README


def main() -> int:
    for path in write_docs(ASSETS, [README, FINDINGS]):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
