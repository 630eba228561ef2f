"""What a folder of shipped checkpoints holds (``assets/`` by default; see ``mtbert.layout``): each variant
described and checked, with its recorded dev metrics from ``results.json``. The user's own models come in through
``mtbert.user_models`` as Variants of the same kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.checkpoint import (
    BackboneCache,
    CheckpointError,
    check_checkpoint,
    fingerprint,
    load,
    read_config,
    read_metrics,
)
from mtbert.files import read_json
from mtbert.layout import checkpoints_dir, results_file

SHIPPED, USER = "shipped", "yours"  # where a variant comes from


@dataclass
class Variant:
    """A checkpoint: where it is, where it came from, what it is, its dev metrics, or why it cannot be used."""

    name: str
    path: Path
    source: str = SHIPPED  # SHIPPED (assets/checkpoints) or USER (app.py --models)
    backbone: str = "?"
    kind: str = "?"  # multitask, single or ensemble
    description: str = ""
    tasks: list[str] = field(default_factory=list)
    metrics: dict[str, float | int] = field(default_factory=dict)  # dev metrics, parameters, training time
    error: str | None = None
    # How this source builds the model and hashes what its answers depend on (an mtbert checkpoint by default;
    # mtbert.hf_models for a Hugging Face directory).
    loader: Callable[[Path, BackboneCache], Any] = field(default=load, repr=False)
    hasher: Callable[[Path], str] = field(default=fingerprint, repr=False)

    def load(self, cache: BackboneCache) -> Any:
        """The model (a ``mtbert.multitask.Model``)."""
        return self.loader(self.path, cache)

    def fingerprint(self) -> str:
        """A hash of the files the model's answers depend on (keys its cached predictions)."""
        return self.hasher(self.path)

    @property
    def label(self) -> str:
        """Name for pickers: backbone / variant, then its dev metrics."""
        specs = [task_registry.get(t) for t in task_registry.names()]
        scores = " · ".join(
            f"{s.metric_label} {self.metrics[s.metric_key]:.3f}" for s in specs if s.metric_key in self.metrics
        )
        mark = "yours · " if self.source == USER else ""
        return f"{mark}{self.backbone} / {self.name} ({self.description})" + (f" — {scores}" if scores else "")


def describe(config: dict[str, Any], directory: Path) -> tuple[str, str, list[str]]:
    """(backbone, head description, tasks) of a checkpoint; a single-task one is described by its first model."""
    if config.get("kind") == "ensemble":
        members = [describe(read_config(directory.parent / m), directory.parent / m) for m in config["members"]]
        backbones = sorted({backbone for backbone, _, _ in members})
        tasks = [t for t in task_registry.names() if any(t in m[2] for m in members)]
        return "+".join(backbones), f"ensemble of {' + '.join(config['members'])}", tasks
    kind = "multitask"
    tasks = list(config.get("heads", {}).get("tasks", []))
    if config.get("kind") == "single" and config.get("composed_from"):
        tasks = list(config.get("tasks", {}))
        sources: dict[str, list[str]] = {}
        for task, variant in config["composed_from"].items():
            sources.setdefault(variant, []).append(task)
        backbone = read_config(directory / config["tasks"][tasks[0]])["backbone"]
        parts = [f"{variant} ({', '.join(names)})" for variant, names in sources.items()]
        return backbone, "single-task · composed of " + " + ".join(parts), tasks
    if config.get("kind") == "single":
        kind = "single-task"
        tasks = list(config.get("tasks", {}))
        config = read_config(directory / config["tasks"][tasks[0]])
    heads, finetune = config["heads"], config["finetune"]
    parts = [kind, heads.get("pair_encoding", "?")]
    if heads.get("pair_encoding") == "concat":
        parts.append(heads.get("combine", "uv"))
    if heads.get("shared_layer"):
        parts.append("shared layer")
    train = config.get("train", {})
    contrastive = train.get("contrastive_weight", 0)
    if contrastive:
        parts.append(
            f"contrastive {contrastive:g}"
            + (" sampled dropout" if train.get("contrastive_dropout") == "sampled" else "")
        )
    parts += _training_options(train)
    mode = finetune.get("mode", "?")
    parts.append(f"LoRA r{finetune.get('lora_rank')}" if mode == "lora" else mode)
    return config["backbone"], " · ".join(parts), tasks


SURGERY_NAMES = {"pcgrad": "PCGrad", "gradvac": "GradVac", "cagrad": "CAGrad"}


def _training_options(train: dict[str, Any]) -> list[str]:
    """Short names of the training options beyond the report's recipe that a checkpoint was trained with."""
    parts = []
    if train.get("schedule") in ("joint", "round_robin"):
        parts.append("joint steps")
    if train.get("gradient_surgery", "none") != "none":
        parts.append(SURGERY_NAMES.get(train["gradient_surgery"], train["gradient_surgery"]))
    if train.get("loss_weighting") == "uncertainty":
        parts.append("uncertainty weights")
    parts += [
        f"{name} on {', '.join(train[key])}"
        for key, name in (("smart_tasks", "SMART"), ("rdrop_tasks", "R-Drop"))
        if train.get(key)
    ]
    if train.get("sst_phrases"):
        parts.append("SST phrases")
    if train.get("init_from"):
        parts.append("from a multitask checkpoint")
    return parts


def read_results(assets_dir: Path) -> dict[str, dict[str, Any]]:
    """``results.json`` (empty when absent)."""
    return read_json(results_file(assets_dir))


def discover(assets_dir: Path) -> list[Variant]:
    """Every checkpoint under ``<assets>/checkpoints``, checked; a broken one carries its error instead."""
    results = read_results(assets_dir)
    variants = []
    root = checkpoints_dir(assets_dir)
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []:
        variant = Variant(path.name, path)
        if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
            variant.error = f"{path} is a link or lies outside {root}: only real folders there are read"
            variants.append(variant)
            continue
        variants.append(describe_checkpoint(variant, results))
    variants.sort(key=lambda v: (v.backbone, v.name))
    return variants


def describe_checkpoint(variant: Variant, results: dict[str, dict[str, Any]]) -> Variant:
    """Check ``variant.path`` and fill in what it is and its dev metrics (``results`` first, else its own
    metrics.json); a checkpoint that fails the check keeps the reason as ``variant.error``."""
    try:
        config = check_checkpoint(variant.path)
        variant.backbone, variant.description, variant.tasks = describe(config, variant.path)
        variant.kind = config["kind"]
        metrics = results.get(variant.name) or read_metrics(variant.path)
        variant.metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    except (CheckpointError, KeyError, TypeError, ValueError) as err:
        variant.error = str(err)
    return variant
