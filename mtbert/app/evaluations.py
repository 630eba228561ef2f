"""Dev metrics and predictions of the user's models: computed on first open over the dev sets that ship in
``assets/data`` (else the data folder's), then cached on disk under a hash of the model's files and the dev files,
so that a restart reads them and Results, the Explorer and the map treat the model like a shipped variant."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.backbones import cache_dir
from mtbert.checkpoint import CONFIG_FILE, read_config
from mtbert.data import DataDirNotFound, resolve_data_dir, sha256_file, task_file
from mtbert.evaluation import evaluate, write_report
from mtbert.files import read_json
from mtbert.layout import shipped_data_dir
from mtbert.multitask import Model

METRICS = "metrics-dev.json"
Progress = Callable[[Iterable[str]], Iterable[str]]


def dev_set_dir(assets_dir: Path, data_dir: Path | None) -> Path | None:
    """Where the dev sets are read from: ``<assets>/data`` when it holds them, else the data folder."""
    shipped = shipped_data_dir(assets_dir)
    if any(task_file(shipped, t, "dev").exists() for t in task_registry.CS224N_TASKS):
        return shipped
    try:
        return resolve_data_dir(data_dir)
    except DataDirNotFound:
        return None


def fingerprint(checkpoint: Path) -> str:
    """A hash of what a checkpoint's answers depend on: its config files (each names its weights' sha256), the
    weights of a model whose config does not, and an ensemble's members."""
    digest = hashlib.sha256()

    def add(directory: Path) -> None:
        config = read_config(directory)
        digest.update((directory / CONFIG_FILE).read_bytes())
        if config.get("kind") == "multitask" and not config.get("weights_sha256"):
            digest.update(sha256_file(directory / "model.safetensors").encode())
        for sub in config.get("tasks", {}).values() if config.get("kind") == "single" else []:
            add(directory / sub)
        for member in config.get("members", []) if config.get("kind") == "ensemble" else []:
            add(directory.parent / member)

    add(checkpoint)
    return digest.hexdigest()


def cache_key(checkpoint: Path, dev_dir: Path) -> str:
    """The cache folder's name: the checkpoint's fingerprint and every dev file's sha256."""
    dev_files = sorted(task_file(dev_dir, t, "dev") for t in task_registry.names())
    dev = [f"{f.name}:{sha256_file(f)}" for f in dev_files if f.exists()]
    return hashlib.sha256(json.dumps([fingerprint(checkpoint), dev]).encode()).hexdigest()[:32]


def cached_evaluation(
    checkpoint: Path, model: Callable[[], Model], dev_dir: Path, progress: Progress | None = None
) -> tuple[Path, dict[str, Any]]:
    """The folder with the checkpoint's dev predictions (ids only) and its dev metrics, computed once per
    (checkpoint, dev sets): ``model()`` is called only when they are not cached yet."""
    target = cache_dir() / "evaluations" / cache_key(checkpoint, dev_dir)
    if (target / METRICS).exists():
        return target, read_json(target / METRICS)
    loaded = model()
    tasks = [t for t in task_registry.names() if t in loaded.tasks and task_file(dev_dir, t, "dev").exists()]
    report = evaluate(loaded, dev_dir, "dev", tasks=tasks, progress=progress)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    write_report(report, staging, "dev", include_text=False)  # then renamed into place: the folder appears whole
    try:
        staging.rename(target)
    except OSError:  # another process cached the same evaluation meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target, read_json(target / METRICS)
