"""Regenerate the README's tables from assets/*.json: ``python -m train.update_readme``."""

from __future__ import annotations

import sys
from pathlib import Path

from mtbert.report import render_readme
from mtbert.zoo import DEFAULT_ASSETS


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    readme.write_text(render_readme(readme.read_text(), DEFAULT_ASSETS))
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
