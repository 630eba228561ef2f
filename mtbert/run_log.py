"""A run's step-level record: ``metrics.jsonl`` in its folder, and accelerate's experiment trackers.

``metrics.jsonl`` is always written, append-only, one whole JSON object per line:

- ``{"kind": "start", "step": 0, "total_steps": ..., "steps_per_epoch": ..., "device": "cpu", "time": ...}`` each
  time the run starts or resumes;
- ``{"kind": "step", "step": 40, "epoch": 0.31, "examples": 3840, "train_seconds": 71.2, "loss": {task: mean},
  "lr": ..., "grad_norm": ..., "examples_per_second": ..., ["loss_weights": ..., "surgery": ...]}`` every
  ``log_every_steps`` optimizer steps: the means over the steps since the last record;
- ``{"kind": "epoch", "step": ..., "epoch": 2, "examples": ..., "train_seconds": ..., "dev": metrics,
  "score": ..., "best": bool}`` after each epoch's dev evaluation.

The same values go to the trackers named in ``TrainConfig.log_with`` (``tensorboard``, ``trackio``, ``wandb``,
``mlflow``, ...), through ``accelerate.Accelerator(log_with=...)``; a tracker whose package is missing is skipped
with a note. On ``--resume`` the records after the saved state (and a torn last line) are dropped, so that a resumed
run logs every step once.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from mtbert.files import write_atomic

METRICS_LOG = "metrics.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The whole records of a ``metrics.jsonl`` (a line cut short by a killed writer is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "kind" in record:
            records.append(record)
    return records


def keep_until(path: Path, step: int, epochs_done: int) -> list[dict[str, Any]]:
    """Cut ``path`` back to what a state saved at ``step`` after ``epochs_done`` whole epochs has seen; returns the
    records kept. Step records after ``step`` and epoch records after ``epochs_done`` are dropped, and so is a torn
    last line: the resumed run logs them again, once."""
    kept = [
        r
        for r in read_records(path)
        if (r["kind"] in ("step", "start") and r["step"] <= step)
        or (r["kind"] == "epoch" and r["epoch"] <= epochs_done)
    ]
    write_atomic(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8"))
    return kept


def flat_values(record: dict[str, Any]) -> dict[str, float]:
    """A record as a tracker takes it: ``train/loss/sentiment``, ``train/lr``, ``dev/sst_acc``, ... (numbers only)."""
    prefix = "train" if record["kind"] == "step" else "dev"
    values: dict[str, float] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                put(f"{name}/{key}", inner)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            values[name] = float(value)

    for key, value in record.items():
        if key in ("kind", "step"):
            continue
        name = key if key == "dev" else f"{prefix}/{key}"
        put(name, value)
    return values


def available_trackers(names: list[str]) -> tuple[list[str], list[str]]:
    """(usable, missing): the trackers among ``names`` whose packages are installed, and the others."""
    if not names:
        return [], []
    from accelerate.tracking import filter_trackers

    usable = [str(t) for t in filter_trackers(list(names), logging_dir=".")]
    return usable, [n for n in names if n not in usable]


class StepWindow:
    """Sums over the optimizer steps since the last step record."""

    def __init__(self) -> None:
        self.steps, self.examples, self.seconds, self.grad_norm = 0, 0, 0.0, 0.0
        self.losses: dict[str, list[float]] = {}
        self.surgery: dict[str, list[float]] = {}

    def add(self, losses: dict[str, float], examples: int, seconds: float, grad_norm: float, surgery: dict) -> None:
        self.steps += 1
        self.examples += examples
        self.seconds += seconds
        self.grad_norm += grad_norm
        for task, value in losses.items():
            self.losses.setdefault(task, []).append(value)
        for key, value in surgery.items():
            self.surgery.setdefault(key, []).append(value)


class RunLog:
    """Writes a run's ``metrics.jsonl`` and feeds its trackers (rank 0 only; other processes get a silent one)."""

    def __init__(
        self,
        out_dir: Path,
        log_every_steps: int,
        log_with: list[str],
        config: dict[str, Any],
        enabled: bool = True,
    ) -> None:
        self.out_dir, self.path = out_dir, out_dir / METRICS_LOG
        self.every, self.enabled = max(1, log_every_steps), enabled
        self.window = StepWindow()
        self.accelerator: Any = None
        self.tracker_names, self.missing = available_trackers(log_with) if enabled else ([], [])
        self._config = config

    def start(
        self, resume_step: int | None, epochs_done: int, total_steps: int, steps_per_epoch: int, device: str
    ) -> None:
        """A fresh run empties ``metrics.jsonl``; a resumed one keeps what its saved state has seen. Either writes
        a ``start`` record."""
        if not self.enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            keep_until(self.path, resume_step, epochs_done)
        for name in self.missing:
            print(f"log_with: {name} is not installed; logging to {self.path} without it")
        if self.tracker_names:
            from accelerate import Accelerator

            self.accelerator = Accelerator(log_with=self.tracker_names, project_dir=str(self.out_dir / "trackers"))
            self.accelerator.init_trackers(self.out_dir.name, config=tracker_config(self._config))
        start = {"kind": "start", "step": resume_step or 0, "total_steps": total_steps}
        self._write(start | {"steps_per_epoch": steps_per_epoch, "device": device, "time": round(time.time(), 1)})

    def step(
        self,
        step: int,
        epoch: float,
        examples: int,
        train_seconds: float,
        losses: dict[str, float],
        lr: float,
        head_lr: float | None,
        grad_norm: float,
        step_examples: int,
        step_seconds: float,
        surgery: dict[str, float] | None = None,
        loss_weights: dict[str, float] | None = None,
    ) -> None:
        """Count one optimizer step; every ``log_every_steps`` steps, write the window's means."""
        if not self.enabled:
            return
        self.window.add(losses, step_examples, step_seconds, grad_norm, surgery or {})
        if step % self.every:
            return
        w = self.window
        record: dict[str, Any] = {
            "kind": "step",
            "step": step,
            "epoch": round(epoch, 4),
            "examples": examples,
            "train_seconds": round(train_seconds, 2),
            "loss": {t: sum(v) / len(v) for t, v in w.losses.items()},
            "lr": lr,
            **({"head_lr": head_lr} if head_lr is not None else {}),
            "grad_norm": w.grad_norm / w.steps,
            "examples_per_second": w.examples / w.seconds if w.seconds > 0 else None,
        }
        if w.surgery:
            record["surgery"] = {k: sum(v) / len(v) for k, v in w.surgery.items()}
        if loss_weights:
            record["loss_weights"] = loss_weights
        self.window = StepWindow()
        self._write(record)

    def epoch(
        self,
        epoch: int,
        step: int,
        examples: int,
        train_seconds: float,
        dev: dict[str, float],
        score: float,
        best: bool,
    ) -> None:
        """One record after an epoch's dev evaluation."""
        if not self.enabled:
            return
        record = {
            "kind": "epoch",
            "step": step,
            "epoch": epoch,
            "examples": examples,
            "train_seconds": round(train_seconds, 2),
            "dev": dev,
            "score": score,
            "best": best,
        }
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:  # one write of one whole line, flushed at once
            f.write(line)
            f.flush()
        if self.accelerator is not None and record["kind"] != "start":
            self.accelerator.log(flat_values(record), step=record["step"])

    def close(self) -> None:
        """Flush and close the trackers (``metrics.jsonl`` is closed after every line)."""
        if self.accelerator is not None:
            self.accelerator.end_training()
            self.accelerator = None


def tracker_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config as trackers' hyperparameter tables take it: flat keys, scalar values (lists as strings)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in tracker_config(value).items()})
        elif value is None or isinstance(value, (bool, int, float, str)):
            flat[key] = value if value is not None else "none"
        else:
            flat[key] = json.dumps(value)
    return flat
