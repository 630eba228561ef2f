"""Reading a run's curves: its ``metrics.jsonl`` (step and epoch records, ``mtbert.run_log``), or, for a run that
left only ``log.jsonl``, its epoch lines (and no steps: nothing is invented).

A single-task run keeps one log per task model under ``tasks/<task>/``; its records are read together, each
tagged with its ``part``. A shipped variant's logs live in ``assets/runs/<variant>/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mtbert.run_log import METRICS_LOG, read_records

EPOCH_LOG = "log.jsonl"  # the trainer's one line per epoch (mtbert.run_state.LOG_FILE)
X_AXES = {"steps": "step", "epochs": "epoch", "examples": "examples"}


@dataclass
class RunCurves:
    """What a run's logs hold: its records and how fine they are."""

    name: str
    folder: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    step_level: bool = False  # False: only epoch lines survive (or nothing at all)

    @property
    def found(self) -> bool:
        return bool(self.records)

    def note(self) -> str:
        """What the curves of this run can and cannot show."""
        if not self.records:
            return f"{self.name}: no training log survives for this run"
        if not self.step_level:
            return f"{self.name}: only one line per epoch survives (no step curves)"
        return ""

    def latest(self) -> dict[str, Any] | None:
        """The last step record (None before the first)."""
        return next((r for r in reversed(self.records) if r["kind"] == "step"), None)

    def start(self) -> dict[str, Any] | None:
        """The last ``start`` record: the run's total steps and device."""
        return next((r for r in reversed(self.records) if r["kind"] == "start"), None)


def log_files(folder: Path) -> list[tuple[str, Path]]:
    """(part, folder) for every log a run folder holds: itself, or each single-task model's under ``tasks/``."""
    if (folder / METRICS_LOG).exists() or (folder / EPOCH_LOG).exists():
        return [("", folder)]
    tasks = folder / "tasks"
    if tasks.is_dir():
        return [(p.name, p) for p in sorted(tasks.iterdir()) if (p / METRICS_LOG).exists() or (p / EPOCH_LOG).exists()]
    return []


def epoch_lines(path: Path) -> list[dict[str, Any]]:
    """``log.jsonl``'s epoch lines as epoch records (``step`` is the line's ``global_step``)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        records.append(
            {
                "kind": "epoch",
                "epoch": entry["epoch"],
                "step": entry.get("global_step"),
                "dev": entry.get("dev", {}),
                "train_loss": entry.get("train_loss", {}),
                "train_seconds": entry.get("train_seconds"),
            }
        )
    return records


def read_run(name: str, folder: Path) -> RunCurves:
    """A run's curves from its folder (none when it has no log)."""
    run = RunCurves(name, folder)
    parts = log_files(folder)
    run.step_level = bool(parts) and all((p / METRICS_LOG).exists() for _, p in parts)
    for part, path in parts:
        records = read_records(path / METRICS_LOG) if run.step_level else epoch_lines(path / EPOCH_LOG)
        run.records += [{**r, "part": part} for r in records]
    if run.step_level:
        _last_best(run.records)
    else:
        _mark_best(run.records)
    return run


def _last_best(records: list[dict[str, Any]]) -> None:
    """An epoch record's ``best`` says it improved on the epochs before; the run's best epoch is each part's last
    such record: it alone stays marked."""
    last = {r["part"]: r for r in records if r["kind"] == "epoch" and r.get("best")}
    for record in records:
        if record["kind"] == "epoch":
            record["best"] = record is last.get(record["part"])


def _mark_best(records: list[dict[str, Any]]) -> None:
    """Mark each part's best epoch on epoch lines that do not say (the mean of its dev metrics, as the trainer
    scores a multitask run by its overall score only when all three are there: close enough to mark, not to pick)."""
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    for record in records:
        values = [v for v in record["dev"].values() if isinstance(v, (int, float))]
        score = record["dev"].get("overall", sum(values) / len(values) if values else float("-inf"))
        record["best"] = False
        if record["part"] not in best or score > best[record["part"]][0]:
            best[record["part"]] = (score, record)
    for _, record in best.values():
        record["best"] = True


def step_frame(run: RunCurves) -> pd.DataFrame:
    """One row per step record and task: run, part, step, epoch, examples, task, loss, lr, grad_norm,
    examples_per_second."""
    rows = [
        {
            "run": run.name,
            "part": r["part"],
            "step": r["step"],
            "epoch": r["epoch"],
            "examples": r.get("examples"),
            "task": task,
            "loss": loss,
            "lr": r.get("lr"),
            "grad_norm": r.get("grad_norm"),
            "examples_per_second": r.get("examples_per_second"),
        }
        for r in run.records
        if r["kind"] == "step"
        for task, loss in r.get("loss", {}).items()
    ]
    return pd.DataFrame(rows)


def epoch_frame(run: RunCurves) -> pd.DataFrame:
    """One row per epoch record and dev metric: run, part, step, epoch, examples, metric, value, best."""
    rows = [
        {
            "run": run.name,
            "part": r["part"],
            "step": r.get("step"),
            "epoch": r["epoch"],
            "examples": r.get("examples"),
            "metric": metric,
            "value": value,
            "best": bool(r.get("best")),
        }
        for r in run.records
        if r["kind"] == "epoch"
        for metric, value in r.get("dev", {}).items()
        if isinstance(value, (int, float))
    ]
    return pd.DataFrame(rows)
