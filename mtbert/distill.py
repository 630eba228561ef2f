"""Knowledge distillation: a teacher's soft targets on the train files, computed once, and the loss that mixes them
with the gold labels (MT-DNN's distillation, Liu et al. 2019; BAM!'s teacher annealing, Clark et al. 2019).

A targets folder holds, per task, ``<task>-targets.csv`` (id, then p0..pC for a classes task, the probability for
a probability task, the score for a score task) and ``targets.json``, which names the teacher's members and the
sha256 of each train file the targets were computed on. A target file of another data file or another teacher is
refused by name. While it is computed, each member's predictions are kept in ``parts/`` so that an interrupted
pass resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mtbert import tasks as task_registry
from mtbert.data import Example, read_examples, sha256_file, task_file
from mtbert.ensemble import Model
from mtbert.files import read_json, write_atomic, write_json_atomic

TARGETS_FILE = "targets.json"
PARTS = "parts"


class TargetsError(ValueError):
    """Soft targets that do not belong to this data file or teacher, or are missing."""


def targets_csv(folder: Path, task: str) -> Path:
    return folder / f"{task}-targets.csv"


def _columns(task: str, width: int) -> list[str]:
    output = task_registry.get(task).output
    return [f"p{c}" for c in range(width)] if output == "classes" else [output]


def compute_targets(
    members: dict[str, Callable[[], Model]],
    data_dir: Path,
    out: Path,
    tasks: Sequence[str],
    progress: Callable[[Iterable[Any], str, int], Iterable[Any]] = lambda it, desc, total: it,
    batch_size: int = 64,
) -> Path:
    """The teacher's targets on each task's train file: the mean of its members' predictions (class
    probabilities, probabilities or scores). Each (task, member) part is saved as it is done, and a rerun skips
    the parts already there; ``members`` maps each member's name to a function that loads it."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_json(out / TARGETS_FILE) or {"teacher": sorted(members), "files": {}}
    if manifest["teacher"] != sorted(members):
        raise TargetsError(f"{out} holds the targets of teacher {manifest['teacher']}, not {sorted(members)}")
    for task in tasks:
        path = task_file(data_dir, task, "train")
        digest = sha256_file(path)
        known = manifest["files"].get(task)
        if known and known["sha256"] != digest:
            raise TargetsError(f"{out} was computed on another {path.name} (sha256 {known['sha256'][:12]}…)")
        examples = read_examples(path, task)
        parts = out / PARTS / task
        parts.mkdir(parents=True, exist_ok=True)
        todo = [m for m in members if not (parts / f"{m}.npy").exists()]
        for name in progress(todo, f"teacher on {path.name}", len(todo)):
            model = members[name]()
            # a member without the task adds nothing (an empty part says it was looked at)
            values = _predict(model, task, examples, batch_size) if task in model.tasks else np.zeros(0, np.float32)
            write_atomic(parts / f"{name}.npy", partial(np.save, arr=values, allow_pickle=False), suffix=".tmp.npy")
        stacked = [v for m in members if (v := np.load(parts / f"{m}.npy", allow_pickle=False)).size]
        if not stacked:
            raise TargetsError(f"no member of the teacher has a {task} model")
        mean = np.mean(np.stack(stacked), axis=0)
        mean = mean[:, None] if mean.ndim == 1 else mean
        frame = pd.DataFrame(mean, columns=_columns(task, mean.shape[1]))
        frame.insert(0, "id", [e.id for e in examples])
        write_atomic(targets_csv(out, task), partial(frame.to_csv, index=False, float_format="%.6g"))
        manifest["files"][task] = {"file": path.name, "sha256": digest, "rows": len(examples), "members": len(stacked)}
        write_json_atomic(out / TARGETS_FILE, manifest)
    return out


def _predict(model: Model, task: str, examples: list[Example], batch_size: int) -> np.ndarray:
    b = [e.b or "" for e in examples] if task_registry.is_pair(task) else None
    return model.predict(task, [e.a for e in examples], b, batch_size=batch_size).astype(np.float32)


def read_targets(folder: Path, task: str, train_file: Path, teacher: Sequence[str] | None = None) -> dict[str, Any]:
    """id -> the teacher's target on ``task`` (a class-probability array, a probability or a score), after
    checking that the targets were computed on this very train file (and, when given, by this teacher)."""
    manifest = read_json(folder / TARGETS_FILE)
    if not manifest:
        raise TargetsError(
            f"{folder} holds no {TARGETS_FILE}: compute the targets with python -m train.distill_targets"
        )
    if teacher is not None and sorted(teacher) != manifest["teacher"]:
        raise TargetsError(f"{folder} holds the targets of teacher {manifest['teacher']}, not {sorted(teacher)}")
    known = manifest["files"].get(task)
    if known is None:
        raise TargetsError(f"{folder} has no {task} targets (it has {', '.join(manifest['files']) or 'none'})")
    digest = sha256_file(train_file)
    if known["sha256"] != digest or known["file"] != train_file.name:
        raise TargetsError(
            f"the {task} targets in {folder} were computed on {known['file']} (sha256 {known['sha256'][:12]}…), "
            f"not on {train_file} (sha256 {digest[:12]}…): compute them again for this file"
        )
    frame = pd.read_csv(targets_csv(folder, task), dtype={"id": str})
    values = frame.drop(columns="id").to_numpy(dtype=np.float32)
    if task_registry.get(task).output != "classes":
        values = values[:, 0]
    return dict(zip(frame["id"], values, strict=True))


def teacher_weight(alpha: float, schedule: str, progress: float) -> float:
    """How much of the target is the teacher's: ``alpha`` throughout (``fixed``), or BAM's annealing from 1 (all
    teacher) at the start to 0 (all gold) at the end of training (``anneal``); ``progress`` is in [0, 1]."""
    if schedule == "anneal":
        return float(min(max(1.0 - progress, 0.0), 1.0))
    return float(alpha)


def distill_loss(
    task: str, values: torch.Tensor, gold: torch.Tensor, soft: torch.Tensor, weight: float, temperature: float = 1.0
) -> torch.Tensor:
    """The task's loss against the mix ``weight`` x teacher + (1 - weight) x gold: soft cross-entropy for a classes
    task, binary cross-entropy on the mixed probability for a probability task, MSE against the mixed score for a
    score task. A row whose teacher target is NaN (no target) trains on gold alone. ``temperature`` softens the
    teacher's classes (p^(1/T), renormalised)."""
    spec = task_registry.get(task)
    missing = torch.isnan(soft).reshape(len(soft), -1).any(-1)
    soft = torch.where(missing.reshape(-1, *[1] * (soft.dim() - 1)), torch.zeros_like(soft), soft)
    w = torch.where(missing, torch.zeros_like(gold), torch.full_like(gold, weight))
    if spec.output == "classes":
        if temperature != 1.0:
            soft = soft.clamp_min(1e-12) ** (1.0 / temperature)
            soft = soft / soft.sum(-1, keepdim=True)
        onehot = F.one_hot(gold.long(), values.shape[-1]).to(values.dtype)
        target = w[:, None] * soft + (1 - w[:, None]) * onehot
        return -(target * values.log_softmax(-1)).sum(-1).mean()
    target = w * soft + (1 - w) * gold
    if spec.output == "probability":
        return F.binary_cross_entropy_with_logits(values, target)
    return F.mse_loss(values, target)


def attach(examples: Sequence[Example], targets: dict[str, Any], task: str) -> list[Any]:
    """Each example's teacher target (NaN where the teacher has none), in the examples' order."""
    width = len(task_registry.get(task).class_names) if task_registry.get(task).output == "classes" else 0
    missing = np.full(width, np.nan, dtype=np.float32) if width else float("nan")
    return [targets.get(e.id, missing) for e in examples]


def describe(folder: Path) -> dict[str, Any]:
    """The targets folder's manifest (teacher and train files), for a run's config."""
    return json.loads((folder / TARGETS_FILE).read_text())
