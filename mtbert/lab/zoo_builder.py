"""Build the model zoo: train each preset, evaluate it on dev, ship it in ``assets/`` and record results.json.

Every variant is a preset ``<presets>/<name>.toml``. Training resumes from its ``out_dir``'s ``state/`` after an
interruption; a variant already recorded in ``results.json`` (and, if shipped, present under ``checkpoints/``) is
skipped unless forced. An ensemble preset lists ``members`` instead of training
arguments: it is built from the shipped members and carries no weights. A composed preset (``tasks_from``) takes
each task's model from a shipped single-task variant: it trains nothing either.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mtbert import tasks as task_registry
from mtbert.catalog import describe, read_results
from mtbert.checkpoint import (
    BackboneCache,
    CheckpointError,
    cast_weights,
    check_checkpoint,
    load,
    read_config,
    read_metrics,
    save_checkpoint,
    save_ensemble,
    stored_state_dict,
)
from mtbert.config import TrainConfig, from_dict, training_recipe
from mtbert.evaluation import evaluate, write_report
from mtbert.files import staged_directory, write_json_atomic
from mtbert.layout import PRESETS, checkpoint_dir, predictions_dir, preset_file, results_file, run_logs_dir
from mtbert.multitask import SingleTaskModels
from mtbert.presets import read_preset
from mtbert.run_log import METRICS_LOG
from mtbert.run_state import joint_device
from mtbert.runs import EPOCH_LOG, log_files
from mtbert.training import train

# Shipped checkpoints store their weights (heads, LoRA adapters) in float16: half the size; storing the zoo's
# float32 runs so moved no variant's dev metrics by more than 2e-6 (the ensemble's SST by one sentence).
SHIPPED_DTYPE = torch.float16


@dataclass(frozen=True)
class ZooVariant:
    """A zoo entry: its preset name, whether its weights ship in assets/ (full fine-tunes do not), and whether it
    is one of the report's rows (the ensemble averages those; a single-task extra such as sts-cross-lora is not)."""

    name: str
    ship: bool = True
    report_row: bool = True


# Build order: the shipped variants, cheapest first (then the rows beyond the report); the ensemble once its members
# exist, then the model distilled from it; the local full run; the STS-only model the README's API example uses.
ZOO: tuple[ZooVariant, ...] = (
    ZooVariant("single-cross"),
    ZooVariant("frozen"),
    ZooVariant("single-concat"),
    ZooVariant("multi-cross"),
    ZooVariant("small-l3"),
    ZooVariant("multi-cross-shared"),
    ZooVariant("multi-cross-shared-contrastive"),
    ZooVariant("sst-phrases"),
    ZooVariant("sts-rdrop"),
    ZooVariant("sst-smart"),
    ZooVariant("multi-joint-pcgrad"),
    ZooVariant("multi-joint"),
    ZooVariant("multi-joint-gradvac"),
    ZooVariant("multi-joint-cagrad"),
    ZooVariant("multi-joint-uncertainty"),
    ZooVariant("multi-cross-shared-ssimcse"),
    ZooVariant("multi-combo"),
    ZooVariant("ensemble"),
    ZooVariant("distilled", report_row=False),  # learns from the ensemble, so it is none of its members
    ZooVariant("sts-distilled", report_row=False),
    ZooVariant("single-distilled", report_row=False),
    ZooVariant("single-cross-full", ship=False),
    ZooVariant("sts-cross-lora", report_row=False),
    ZooVariant("single-best", report_row=False),
    ZooVariant("sst-mtdnn", report_row=False),
    ZooVariant("mtdnn-cross", report_row=False),
)


def recipe_fingerprint(name: str, presets_dir: Path = PRESETS) -> str:
    """sha256 of what a preset trains (its recipe; for an ensemble, its members' fingerprints).

    results.json records it, so a variant whose preset changed since it was built counts as not built.
    """
    raw = read_preset(preset_file(presets_dir, name))
    if "members" in raw:
        content: dict[str, Any] = {"members": {m: recipe_fingerprint(m, presets_dir) for m in raw["members"]}}
    elif "tasks_from" in raw:
        content = {"tasks_from": {t: recipe_fingerprint(v, presets_dir) for t, v in raw["tasks_from"].items()}}
    else:
        content = training_recipe(from_dict(TrainConfig, raw))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def is_built(variant: ZooVariant, assets_dir: Path, presets_dir: Path = PRESETS) -> bool:
    """Recorded in results.json from the current preset and, when shipped, its checkpoint is complete."""
    entry = read_results(assets_dir).get(variant.name)
    if entry is None or entry.get("recipe_sha256") != recipe_fingerprint(variant.name, presets_dir):
        return False
    if not variant.ship:
        return True
    try:
        check_checkpoint(checkpoint_dir(assets_dir, variant.name))
    except CheckpointError:
        return False
    return True


def ship_checkpoint(source: Path, target: Path) -> None:
    """Copy a trained checkpoint into assets/ atomically: inference files only, weights stored as SHIPPED_DTYPE."""
    with staged_directory(target) as tmp:
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("state", "*.tmp"), dirs_exist_ok=True)
        cast_weights(tmp, SHIPPED_DTYPE)


def _ensemble_costs(members: list[str], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An ensemble's training cost is its members' (it trains nothing of its own)."""
    missing = [m for m in members if m not in results]
    if missing:
        raise CheckpointError(f"ensemble members not built yet: {missing}")
    return {
        "trainable_parameters": sum(results[m]["trainable_parameters"] for m in members),
        "train_seconds": round(sum(results[m]["train_seconds"] for m in members), 1),
        "seed": results[members[0]]["seed"],
        "device": joint_device([results[m] for m in members]),
        "members": members,
    }


def compose_single_task(tasks_from: dict[str, str], assets_dir: Path, target: Path) -> dict[str, Any]:
    """A single-task checkpoint whose task models are copied from shipped variants; returns its costs.

    Its cost is what its models cost: a source's per-task training seconds when recorded, else the whole source's.
    """
    results = read_results(assets_dir)
    missing = sorted({v for v in tasks_from.values() if v not in results})
    if missing:
        raise CheckpointError(f"variants to compose from are not built yet: {missing}")
    models, parameters = {}, 0
    for task, variant in tasks_from.items():
        model = load(checkpoint_dir(assets_dir, variant)).model_for(task)
        models[task] = model
        parameters += sum(t.numel() for t in stored_state_dict(model).values())
    sources = sorted(set(tasks_from.values()))
    costs = {
        "trainable_parameters": parameters,
        "train_seconds": round(sum(results[v]["train_seconds"] for v in sources), 1),
        "seed": results[sources[0]]["seed"],
        "device": joint_device([results[v] for v in sources]),
        "composed_from": dict(tasks_from),
    }
    save_checkpoint(SingleTaskModels(models), target, {"composed_from": dict(tasks_from)}, dtype=SHIPPED_DTYPE)
    return costs


def ship_training_logs(run_dir: Path, target: Path) -> list[Path]:
    """Copy the logs a run left (``metrics.jsonl``, ``log.jsonl``; a single-task run's per task under ``tasks/``)
    into ``assets/runs/<variant>/`` for the app's Runs tab; returns the files copied."""
    copied = []
    for part, folder in log_files(run_dir):
        for name in (METRICS_LOG, EPOCH_LOG):
            if (folder / name).exists():
                out = target / "tasks" / part / name if part else target / name
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, out)
                copied.append(out)
    return copied


def build_variant(
    variant: ZooVariant,
    assets_dir: Path,
    data_dir: Path,
    presets_dir: Path = PRESETS,
    fresh: bool = False,
    cache: BackboneCache | None = None,
) -> dict[str, Any]:
    """Train (or resume) one variant, evaluate it on dev, ship it, and record it in results.json."""
    raw = read_preset(preset_file(presets_dir, variant.name))
    target = checkpoint_dir(assets_dir, variant.name)
    results = read_results(assets_dir)
    if "members" in raw:
        costs = _ensemble_costs(list(raw["members"]), results)
        source = save_ensemble(target, costs["members"])
    elif "tasks_from" in raw:
        costs = compose_single_task(dict(raw["tasks_from"]), assets_dir, target)
        source = target
    else:
        config = from_dict(TrainConfig, {**raw, "data_dir": str(data_dir)})
        source = train(config, resume=not fresh)
        trained = read_metrics(source)
        costs = {k: trained[k] for k in ("trainable_parameters", "train_seconds", "seed")}
        costs["device"] = trained.get("device", "cpu")
        if "epoch" in trained:
            costs["best_epoch"] = trained["epoch"]
    if variant.ship and source != target:
        ship_checkpoint(source, target)
    model = load(target if variant.ship else source, cache)  # the dev figures are the shipped files'
    report = evaluate(model, data_dir, "dev")
    entry: dict[str, Any] = {
        **report.metrics,
        **costs,
        "preset": f"train/configs/{variant.name}.toml",  # as the repository names it
        "recipe_sha256": recipe_fingerprint(variant.name, presets_dir),
    }
    backbone, description, _ = describe(read_config(source), source)
    entry.update(backbone=backbone, heads=description, shipped=variant.ship)
    if variant.ship:
        write_json_atomic(target / "metrics.json", entry)
        write_report(report, predictions_dir(assets_dir, variant.name), "dev", include_text=False)
        if source != target:
            ship_training_logs(source.parent, run_logs_dir(assets_dir, variant.name))
    results = read_results(assets_dir)  # re-read: another variant may have finished meanwhile
    results[variant.name] = entry
    write_json_atomic(results_file(assets_dir), results)
    return entry


def check_results(assets_dir: Path, data_dir: Path, names: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Recompute each shipped variant's dev metrics; returns {variant: {metric: |recorded - recomputed|}}."""
    cache = BackboneCache()
    gaps = {}
    for name, recorded in read_results(assets_dir).items():
        if not recorded.get("shipped") or (names and name not in names):
            continue
        metrics = evaluate(load(checkpoint_dir(assets_dir, name), cache), data_dir, "dev").metrics
        keys = [*task_registry.metric_keys(task_registry.names()), task_registry.OVERALL]
        gaps[name] = {k: abs(recorded[k] - metrics[k]) for k in keys if k in metrics and k in recorded}
    return gaps
