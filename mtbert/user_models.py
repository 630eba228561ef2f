"""The user's own models (``app.py --models PATH ...`` or ``$MTBERT_MODELS``), as catalog Variants beside the
shipped ones. A PATH is a checkpoint, a run folder (its ``best/`` checkpoint) or a folder of runs (each run or
checkpoint in it). Paths come from the command line of whoever starts the server, never from the web API."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from mtbert.catalog import USER, Variant, describe_checkpoint
from mtbert.checkpoint import CONFIG_FILE

MODELS_ENV = "MTBERT_MODELS"  # paths separated by the OS path separator (":" on Linux)
BEST = "best"


def paths_from_env() -> list[Path]:
    """The paths in ``$MTBERT_MODELS`` (none when unset)."""
    return [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p.strip()]


def _model_at(folder: Path) -> Path | None:
    """The checkpoint a folder is (itself) or holds as a run (its best/), if any."""
    return next((c for c in (folder, folder / BEST) if (c / CONFIG_FILE).is_file()), None)


def _checkpoints(path: Path) -> list[tuple[str, Path]]:
    """(name, checkpoint folder) for every model a PATH holds: itself, its best/, or each run inside it."""
    own = _model_at(path)
    if own is not None:
        return [(path.name, own)]
    children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [(child.name, found) for child in children if (found := _model_at(child)) is not None]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def discover_user_models(paths: Sequence[Path], taken: Iterable[str] = ()) -> list[Variant]:
    """A Variant (source ``yours``) for every model under ``paths``, named by its folder (made unique against
    ``taken``, the shipped names). A path that holds no model is a Variant with the reason as its error."""
    names = set(taken)
    variants = []
    for path in paths:
        path = Path(path).expanduser()
        found = _checkpoints(path) if path.is_dir() else []
        if not found:
            name = _unique(path.name or str(path), names)
            names.add(name)
            reason = "does not exist" if not path.exists() else "holds no checkpoint, run (best/) or folder of runs"
            variants.append(Variant(name, path, source=USER, error=f"{path} {reason}"))
            continue
        for raw, checkpoint in found:
            name = _unique(raw, names)
            names.add(name)
            variant = Variant(name, checkpoint, source=USER)
            outside = not checkpoint.resolve().is_relative_to(path.resolve())
            if checkpoint != path and (checkpoint.is_symlink() or outside):
                variant.error = f"{checkpoint} is a link out of {path}: only real folders inside it are read"
                variants.append(variant)
                continue
            variants.append(describe_checkpoint(variant, {}))
    return variants
