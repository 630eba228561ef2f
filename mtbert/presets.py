"""Training presets: small TOML files in ``train/configs/``."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_preset(path: str | Path) -> dict[str, Any]:
    """Read a preset TOML file into a nested dictionary (``[heads]`` and ``[finetune]`` are tables)."""
    with open(path, "rb") as f:
        return tomllib.load(f)
