"""Seed spread: retrain a zoo preset with other seeds and record how far its dev metrics move.

The zoo trains each variant once (seed 11711), so a difference between two variants mixes their effect with the
luck of one seed. ``seed_study`` retrains a preset's task models with other seeds (``<runs>/<variant>-s<seed>``,
resumable) and records each seed's best-epoch dev metric in ``seeds.json``; later calls add seeds while the
preset is unchanged::

    {variant: {"recipe_sha256": ..., "seeds": {"11711": {"sst_acc": ..., "device": ...}, "11712": {...}}}}

The shipped seed's numbers come from results.json; the others from the trainer's dev evaluation of its best epoch.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.catalog import read_results
from mtbert.checkpoint import read_metrics
from mtbert.config import TrainConfig, from_dict
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.zoo_builder import recipe_fingerprint
from mtbert.layout import preset_file, seeds_file
from mtbert.presets import read_preset
from mtbert.run_state import joint_device
from mtbert.training import train


def read_seeds(assets_dir: Path) -> dict[str, dict[str, Any]]:
    """seeds.json, or {} when no study has run."""
    return read_json(seeds_file(assets_dir))


def train_seed(
    variant: str, seed: int, tasks: list[str], data_dir: Path, presets_dir: Path, runs_dir: Path
) -> dict[str, Any]:
    """Train (or resume) a preset's ``tasks`` with ``seed``; returns each task's best dev metric.

    A single-task preset trains just ``tasks``' models. A multitask model trains its tasks at once, so ``tasks``
    must be all of them; its one best epoch gives every task's metric.
    """
    raw = read_preset(preset_file(presets_dir, variant))
    out_dir = runs_dir / f"{variant}-s{seed}"
    config = from_dict(TrainConfig, {**raw, "seed": seed, "data_dir": str(data_dir), "out_dir": str(out_dir)})
    if config.mode == "multi":
        if sorted(tasks) != sorted(config.heads.tasks):
            raise ValueError(f"{variant} is a multitask preset: its seeds train all of {config.heads.tasks} at once")
        train(config, resume=True)
        records = [read_metrics(out_dir / "best")] * len(tasks)
    else:
        train(config, resume=True, only_tasks=tasks)
        records = [read_metrics(out_dir / "tasks" / t / "best") for t in tasks]
    keys = task_registry.metric_keys(tasks)
    metrics: dict[str, Any] = {k: r[k] for k, r in zip(keys, records, strict=True)}
    metrics["device"] = joint_device(records)
    return metrics


def seed_study(
    variant: str,
    seeds: list[int],
    tasks: list[str],
    assets_dir: Path,
    data_dir: Path,
    presets_dir: Path,
    runs_dir: Path,
) -> dict[str, Any]:
    """Retrain ``variant``'s ``tasks`` with each of ``seeds`` and record them (with the shipped seed) in seeds.json."""
    shipped = read_results(assets_dir).get(variant)
    if shipped is None:
        raise ValueError(f"{variant} is not in results.json: build it first")
    keys = task_registry.metric_keys(tasks)
    recipe = recipe_fingerprint(variant, presets_dir)
    trained = {
        str(seed): train_seed(variant, seed, tasks, data_dir, presets_dir, runs_dir)
        for seed in seeds
        if seed != shipped["seed"]
    }
    study = read_seeds(assets_dir)  # read after training: a study of other seeds in another process may have landed
    earlier = study.get(variant, {})
    entry: dict[str, Any] = {
        "recipe_sha256": recipe,
        "seeds": earlier.get("seeds", {}) if earlier.get("recipe_sha256") == recipe else {},
    }
    entry["seeds"][str(shipped["seed"])] = {k: shipped[k] for k in keys} | {"device": shipped.get("device", "cpu")}
    entry["seeds"] |= trained
    study[variant] = entry
    write_json_atomic(seeds_file(assets_dir), study)
    return entry


def spread(entry: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{metric: {mean, sd, min, max, n}} over an entry's seeds (sd is the sample standard deviation); the overall
    score too where every seed has all three CS224N metrics (a multitask study)."""
    runs = list(entry["seeds"].values())
    keys = [k for k in task_registry.metric_keys(task_registry.names()) if all(k in r for r in runs)]
    overall = [task_registry.overall_score(r) for r in runs]
    columns = {k: [r[k] for r in runs] for k in keys}
    if all(v is not None for v in overall):
        columns[task_registry.OVERALL] = overall
    out = {}
    for key, values in columns.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        mean = statistics.fmean(values)
        out[key] = {"mean": mean, "sd": sd, "min": min(values), "max": max(values), "n": len(values)}
    return out
