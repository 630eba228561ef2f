"""The user's own models (``app.py --models PATH ...`` or ``$MTBERT_MODELS``), as catalog Variants beside the
shipped ones. A PATH is a checkpoint, a run folder (its ``best/`` checkpoint), a Hugging Face
``BertForSequenceClassification`` directory (``mtbert.hf_models``; ``PATH#scale=0-1`` reads a similarity model's
output on 0-1) or a folder of any of these. Paths come from the command line of whoever starts the server, never
from the web API."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mtbert import hf_models
from mtbert.catalog import USER, Variant, describe_checkpoint
from mtbert.checkpoint import CONFIG_FILE, CheckpointError

MODELS_ENV = "MTBERT_MODELS"  # paths separated by the OS path separator (":" on Linux)
BEST = "best"


SCALE = re.compile(r"^(?P<path>.+)#scale=(?P<low>-?[0-9.]+)-(?P<high>-?[0-9.]+)$")


def paths_from_env() -> list[str]:
    """The paths in ``$MTBERT_MODELS`` (none when unset)."""
    return [p for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p.strip()]


def split_scale(spec: str | os.PathLike) -> tuple[Path, hf_models.Scale | None]:
    """``PATH#scale=LOW-HIGH`` -> (PATH, (LOW, HIGH)); a plain path has no scale."""
    match = SCALE.match(str(spec))
    if match is None:
        return Path(spec), None
    return Path(match["path"]), (float(match["low"]), float(match["high"]))


def _model_at(folder: Path) -> Path | None:
    """The checkpoint or Hugging Face model a folder is (itself) or holds as a run (its best/), if any."""
    return next((c for c in (folder, folder / BEST) if (c / CONFIG_FILE).is_file()), None)


def describe_hf(variant: Variant, scale: hf_models.Scale | None) -> Variant:
    """Fill in a Hugging Face classifier's task and description; a folder that fails the check keeps the reason."""
    try:
        info = hf_models.read_classifier(variant.path, scale)
    except CheckpointError as err:
        variant.error = str(err)
        return variant
    variant.backbone = f"{info.hf_config.get('num_hidden_layers', '?')}-layer BERT"
    variant.kind, variant.description, variant.tasks = "multitask", info.description, [info.task]
    variant.loader = functools.partial(hf_models.load_classifier, scale=scale)
    variant.hasher = functools.partial(hf_models.fingerprint, scale=scale)
    return variant


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


def discover_user_models(paths: Sequence[str | os.PathLike], taken: Iterable[str] = ()) -> list[Variant]:
    """A Variant (source ``yours``) for every model under ``paths``, named by its folder (made unique against
    ``taken``, the shipped names). A path that holds no model is a Variant with the reason as its error."""
    names = set(taken)
    variants = []
    for spec in paths:
        path, scale = split_scale(spec)
        path = path.expanduser()
        found = _checkpoints(path) if path.is_dir() else []
        if not found:
            name = _unique(path.name or str(path), names)
            names.add(name)
            reason = (
                "does not exist"
                if not path.exists()
                else "holds no config.json: it is no checkpoint, run (best/), Hugging Face model or folder of these"
            )
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
            hf = hf_models.is_hf_model(checkpoint)
            variants.append(describe_hf(variant, scale) if hf else describe_checkpoint(variant, {}))
    return variants
