"""What each training option costs per optimizer step, relative to the recipe it changes.

Every option trains the same model (the multi-cross recipe) through whole epochs of the first rows of each
training file, so that each kind of step in the epoch's mix is timed. Options are timed in interleaved
rounds so that a slower moment of the machine hits every option alike; the median step time of each is
divided by its baseline's. Steps per epoch on the full training files are counted too, since ``joint``
steps and phrase-level SST change how many steps an epoch holds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.config import TrainConfig, from_dict
from mtbert.layout import PRESETS, preset_file
from mtbert.presets import read_preset
from mtbert.train_steps import epoch_plan, load_training_data
from mtbert.training import Trainer

BASE_PRESET = "multi-cross"


@dataclass(frozen=True)
class Option:
    """One option as timed: its overrides of the base recipe and the option it is compared with."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    baseline: str = "sequential"


OPTIONS: tuple[Option, ...] = (
    Option("sequential"),
    Option("joint", {"schedule": "joint"}),
    Option("joint + pcgrad", {"schedule": "joint", "gradient_surgery": "pcgrad"}, "joint"),
    Option("joint + gradvac", {"schedule": "joint", "gradient_surgery": "gradvac"}, "joint"),
    Option("joint + cagrad", {"schedule": "joint", "gradient_surgery": "cagrad"}, "joint"),
    Option("joint + uncertainty", {"schedule": "joint", "loss_weighting": "uncertainty"}, "joint"),
    Option("smart (all tasks)", {"smart_tasks": ["sentiment", "paraphrase", "similarity"]}),
    Option("rdrop (all tasks)", {"rdrop_tasks": ["sentiment", "paraphrase", "similarity"]}),
    Option("contrastive fixed", {"contrastive_weight": 0.1}),
    Option("contrastive sampled", {"contrastive_weight": 0.1, "contrastive_dropout": "sampled"}, "contrastive fixed"),
    Option("sst_phrases", {"sst_phrases": True}),
)
DISTILLATION = "distillation"  # timed when a targets folder is given: it needs the teacher's targets


def options(distill_targets: str | None = None, only: list[str] | None = None) -> list[Option]:
    """The options to time: every one (distillation with the targets given), or those in ``only`` and their
    baselines."""
    every = [*OPTIONS] + ([Option(DISTILLATION, {"distill_targets": distill_targets})] if distill_targets else [])
    if not only:
        return every
    by_name = {o.name: o for o in every}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise ValueError(f"unknown options {unknown}; known: {sorted(by_name)}")
    wanted = {n for name in only for n in (name, by_name[name].baseline)}
    return [o for o in every if o.name in wanted]


def _config(data_dir: Path, option: Option, rows: int) -> TrainConfig:
    raw = read_preset(preset_file(PRESETS, BASE_PRESET))
    raw.update(option.overrides, data_dir=str(data_dir), train_limit=rows, device="cpu", out_dir="unused")
    return from_dict(TrainConfig, raw)


def steps_per_epoch(config: TrainConfig, trainer: Trainer) -> int:
    """Optimizer steps of one epoch on the full training files (the trainer's data is only their first rows)."""
    full = replace(config, train_limit=0)
    data = load_training_data(trainer.model, full, trainer.data_dir)
    sizes = {t: -(-len(d.epoch_items(0)) // config.batch_size) for t, d in data.items()}
    return len(epoch_plan(full, {t: list(range(n)) for t, n in sizes.items()}, 0))  # type: ignore[arg-type]


def option_costs(
    data_dir: Path, rows: int = 128, rounds: int = 3, timed: list[Option] | None = None
) -> dict[str, dict[str, Any]]:
    """Per option: median seconds per step, its ratio to its baseline's, steps per full epoch and their ratio
    (``timed``: the options to time, every one by default; each one's baseline must be among them)."""
    chosen = list(timed or OPTIONS)
    tasks = list(task_registry.CS224N_TASKS)
    trainers = {
        o.name: Trainer.from_config(_config(data_dir, o, rows), tasks, Path("unused"), data_dir) for o in chosen
    }
    times: dict[str, list[float]] = {name: [] for name in trainers}
    for round_ in range(rounds + 1):
        for name, trainer in trainers.items():
            plan = epoch_plan(trainer.config, trainer._batches(round_), round_)  # every task's steps, in their mix
            trainer.model.train()
            start = time.perf_counter()
            for step in plan:
                trainer.train_step(step)
            if round_:  # the first round warms up
                times[name].append((time.perf_counter() - start) / len(plan))
    result: dict[str, dict[str, Any]] = {}
    for option in chosen:
        seconds = statistics.median(times[option.name])
        epoch = steps_per_epoch(trainers[option.name].config, trainers[option.name])
        result[option.name] = {
            "seconds_per_step": round(seconds, 4),
            "steps_per_epoch": epoch,
            "baseline": option.baseline,
        }
    for option in chosen:
        base = result[option.baseline]
        entry = result[option.name]
        entry["step_cost"] = round(entry["seconds_per_step"] / base["seconds_per_step"], 2)
        entry["epoch_cost"] = round(entry["step_cost"] * entry["steps_per_epoch"] / base["steps_per_epoch"], 2)
    return result


@dataclass(frozen=True)
class OptionDoc:
    """A row of the README's options table: a TrainConfig key, its values, what it does, the costs to show."""

    key: str
    values: str
    meaning: str
    timed: tuple[str, ...] = ()


OPTION_DOCS: tuple[OptionDoc, ...] = (
    OptionDoc(
        "schedule",
        "`sequential`, `joint`, `round_robin`, `annealed`",
        "`joint`: every step holds one batch of every task; the smaller tasks cycle (`round_robin` is its older name)",
        ("joint",),
    ),
    OptionDoc(
        "gradient_surgery",
        "`none`, `pcgrad`, `gradvac`, `cagrad`",
        "on joint steps, how the tasks' gradients on the shared parameters (backbone or LoRA adapters) "
        "combine; head gradients pass unchanged",
        ("joint + pcgrad", "joint + gradvac", "joint + cagrad"),
    ),
    OptionDoc("cagrad_c", "float", "CAGrad's radius c (0 gives the plain sum)"),
    OptionDoc("gradvac_beta", "float", "rate of GradVac's moving-average similarity targets"),
    OptionDoc(
        "loss_weighting",
        "`sum`, `uncertainty`",
        "`uncertainty`: learnt per-task log-variances (Kendall et al.), trained by the optimizer and logged per epoch",
        ("joint + uncertainty",),
    ),
    OptionDoc(
        "smart_tasks",
        "list of tasks",
        "SMART's adversarial smoothness term on these tasks (no Bregman proximal term)",
        ("smart (all tasks)",),
    ),
    OptionDoc(
        "smart_weight / smart_noise_std / smart_step_size",
        "floats",
        "its weight, the initial noise and the ascent step on the embedding output",
    ),
    OptionDoc(
        "rdrop_tasks",
        "list of tasks",
        "R-Drop on these tasks: two dropout passes and the divergence between them",
        ("rdrop (all tasks)",),
    ),
    OptionDoc("rdrop_weight", "float", "weight of R-Drop's divergence"),
    OptionDoc(
        "contrastive_dropout",
        "`fixed`, `sampled`",
        "S-SimCSE: each contrastive pass draws its dropout rate from `contrastive_dropout_range` (needs "
        "`contrastive_weight` > 0)",
        ("contrastive sampled",),
    ),
    OptionDoc("contrastive_dropout_range", "[low, high]", "the range the sampled rates are drawn from"),
    OptionDoc(
        "init_from",
        "checkpoint folder",
        "MT-DNN: in `single` mode, each task model starts from this multitask checkpoint's backbone, "
        "adapters and head (same recipe)",
    ),
    OptionDoc(
        "sst_phrases",
        "bool",
        "sentiment also trains on the labelled phrases of the train trees (`sst-train-trees.txt`); dev "
        "stays on sentences",
        ("sst_phrases",),
    ),
    OptionDoc(
        "sst_phrase_ratio",
        "float",
        "phrases sampled afresh each epoch, as a multiple of the train sentences (0: all 150,740 every epoch)",
    ),
    OptionDoc(
        "distill_targets",
        "targets folder",
        "distillation: each task also learns from a teacher's soft targets on the train files (`python -m "
        "train.distill_targets`; a folder of another train file or teacher is refused)",
        (DISTILLATION,),
    ),
    OptionDoc(
        "distill_alpha / distill_schedule / distill_temperature",
        "float / `fixed`, `anneal` / float",
        "the teacher's share of the target (soft cross-entropy for classes, BCE on the mixed probability, MSE "
        "against the mixed score); `anneal` (BAM!) moves it from 1 to 0 over training; T softens the teacher's "
        "classes",
    ),
    OptionDoc(
        "backbone_dropout",
        "float or unset",
        "replaces the backbone's hidden and attention dropout (0 makes runs comparable weight for weight)",
    ),
)
