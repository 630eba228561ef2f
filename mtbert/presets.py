"""Training presets: small TOML files in ``train/configs/``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from mtbert.files import write_text_atomic


def read_preset(path: str | Path) -> dict[str, Any]:
    """Read a preset TOML file into a nested dictionary (``[heads]`` and ``[finetune]`` are tables)."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)  # JSON's numbers and basic strings are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"a preset holds numbers, strings, booleans and lists of them, not {type(value).__name__}")


def preset_text(config: dict[str, Any]) -> str:
    """A nested config dictionary as preset TOML (top-level keys, then one table per dictionary; None is left
    out, as an absent key takes the default)."""
    top = [f"{k} = {_toml_value(v)}" for k, v in config.items() if v is not None and not isinstance(v, dict)]
    tables = [
        f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items() if v is not None)
        for name, table in config.items()
        if isinstance(table, dict)
    ]
    return "\n".join(["\n".join(top) + "\n", *tables])


def write_preset(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as a preset file, atomically."""
    write_text_atomic(path, preset_text(config))
    return path
