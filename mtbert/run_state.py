"""A training run's folder and state: what a run saves to resume (``TrainState``, RNG), the devices and seeds it
uses, how it stops (signals, errors) and saves safely, and whether a run in a folder is finished.

``mtbert.training`` runs the loop; this module holds what the loop, the zoo builder and the app's training jobs
share about a run folder.
"""

from __future__ import annotations

import json
import math
import random
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtbert import tasks as task_registry
from mtbert.checkpoint import CONFIG_FILE, METRICS_FILE, load, read_metrics, save_checkpoint
from mtbert.config import TrainConfig, from_dict, recipe_changes, to_dict
from mtbert.evaluation import overall_score
from mtbert.files import read_json
from mtbert.multitask import SingleTaskModels

LOG_FILE = "log.jsonl"  # one line per epoch in a run's folder


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(RuntimeError):
    """Ctrl-C or SIGTERM: state was saved and ``--resume`` continues."""


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` is the GPU when PyTorch sees one, else the CPU; anything else is a torch device string."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """A device as results.json records it: its kind, ``cpu`` or ``cuda``."""
    return device.type


def joint_device(records: list[dict[str, Any]]) -> str:
    """The devices that trained a set of runs, as one string (``cpu``, or ``cpu, cuda`` when mixed)."""
    return ", ".join(sorted({d for r in records for d in r.get("device", "cpu").split(", ")}))


@contextmanager
def stop_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT (Ctrl-C) call ``request_stop``: training then stops after the current step."""

    def handler(signum: int, frame: Any) -> None:
        request_stop()

    try:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class CheckpointSaveFailed(RuntimeError):
    """A save failed (full disk, read-only folder): the last good checkpoint is untouched."""


@contextmanager
def saving(what: str, target: Path) -> Iterator[None]:
    """Turn an OSError while writing ``target`` into CheckpointSaveFailed, saying why and what is left."""
    try:
        yield
    except OSError as err:
        kept = "the last good one there is intact" if target.exists() else "nothing was saved there before"
        raise CheckpointSaveFailed(
            f"could not save the {what} in {target}: {err.strerror or err} ({type(err).__name__}); {kept}. "
            "Free space or make the folder writable, then run again with --resume"
        ) from err


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's random generators (CPU, and the GPU's when training on one)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor] | torch.Tensor, device: torch.device) -> None:
    if isinstance(state, torch.Tensor):  # saved before states were per process
        state = {"cpu": state}
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


@dataclass
class TrainState:
    """Where a run is and what it has seen: saved and loaded whole as ``state/state.json``."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: float = -math.inf
    best_epoch: int = -1
    train_seconds: float = 0.0
    epoch_losses: dict[str, list[float]] = field(default_factory=dict)
    examples_seen: int = 0  # training rows (each task's batches, not the contrastive ones) in all steps so far
    devices: list[str] = field(default_factory=list)  # every kind of device the run has trained on, resumes included

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})  # older states lack devices

    @property
    def device(self) -> str:
        """The devices this run trained on, as results.json records them (``cpu``, or ``cpu, cuda``)."""
        return ", ".join(sorted(self.devices))


def read_log(path: Path) -> list[dict[str, Any]]:
    """The epoch lines of a run's ``log.jsonl`` (none when it does not exist)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def refuse_another_recipe(where: Path, saved: dict[str, Any], config: TrainConfig) -> None:
    """Raise ValueError when the run saved in ``where`` (its config dict) trained another recipe than ``config``."""
    changes = recipe_changes(from_dict(TrainConfig, saved), config)
    if changes:
        shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())
        raise ValueError(
            f"{where} belongs to a run with other settings ({shown}); resuming it would mix two "
            "recipes: move that folder away or train into another out_dir"
        )


def is_finished(out_dir: Path, config: TrainConfig) -> bool:
    """Whether the run in ``out_dir`` trained all of ``config``'s epochs and has its best checkpoint: its training
    state says so, or, for a run kept without ``state/``, a log line for the last epoch with the best checkpoint's
    recipe. A finished run of another recipe raises ValueError, as resuming an unfinished one does."""
    if not (out_dir / "best" / METRICS_FILE).exists():
        return False
    state = read_json(out_dir / "state" / "state.json", {})
    if "config" in state:
        saved, epoch, where = state["config"], state["epoch"], out_dir / "state"
    else:
        saved, where = read_json(out_dir / "best" / CONFIG_FILE, {}).get("train"), out_dir / "best"
        epoch = max((e["epoch"] for e in read_log(out_dir / LOG_FILE)), default=0)
        if saved is None:
            return False
    if epoch < config.epochs:
        return False
    refuse_another_recipe(where, saved, config)
    return True


def assemble_single_task(config: TrainConfig, out_dir: Path, tasks: list[str]) -> Path:
    """Join the finished per-task models under ``out_dir/tasks/`` into one single-task checkpoint ``best/``.

    Its metrics are each task's best dev metric, the overall score when all three are there, and the summed
    training cost.
    """
    metrics = {task: read_metrics(out_dir / "tasks" / task / "best") for task in tasks}
    models = {task: load(out_dir / "tasks" / task / "best") for task in tasks}
    keys = task_registry.metric_keys(task_registry.names())
    combined = {k: v for m in metrics.values() for k, v in m.items() if k in keys}
    overall = overall_score(combined)
    if overall is not None:
        combined[task_registry.OVERALL] = overall
    combined["train_seconds"] = round(sum(m["train_seconds"] for m in metrics.values()), 1)
    combined["trainable_parameters"] = sum(m["trainable_parameters"] for m in metrics.values())
    combined["seed"] = config.seed
    combined["device"] = joint_device(list(metrics.values()))
    combined["per_task"] = metrics
    return save_checkpoint(SingleTaskModels(models), out_dir / "best", {"train": to_dict(config)}, combined)  # type: ignore[arg-type]
