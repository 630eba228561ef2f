"""Training: single-task and multitask (sequential, round-robin, annealed) with resumable state.

Layout of an output directory ``out_dir``:
- ``best/``: the best checkpoint by dev metric (the task's metric, or the overall score for multitask).
- ``state/``: what ``--resume`` continues from (trainable weights, optimizer, scheduler, RNG, position).
- ``log.jsonl``: one line per epoch with training losses and dev metrics.
- ``metrics.jsonl``: step and epoch records (``mtbert/run_log.py``), also sent to the ``log_with`` trackers.
Single-task mode trains one model per task under ``out_dir/tasks/<task>/`` and assembles ``best/``.

The loss of each step is in ``mtbert/train_steps.py``, the run folder's state and its helpers in
``mtbert/run_state.py``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mtbert import tasks as task_registry
from mtbert.checkpoint import METRICS_FILE, read_metrics, save_checkpoint, stored_state_dict
from mtbert.config import TrainConfig, to_dict
from mtbert.contrastive import CONTRASTIVE, contrastive_loss
from mtbert.data import Batch, bucketed_batches, resolve_data_dir, sha256_file, task_file
from mtbert.distill import teacher_weight
from mtbert.distributed import Workers
from mtbert.distributed import finish as finish_workers
from mtbert.distributed import start as start_workers
from mtbert.evaluation import EvalReport, evaluate, overall_score, task_score
from mtbert.files import read_json, recover_directory, staged_directory, write_json_atomic, write_text_atomic
from mtbert.multitask import MultitaskModel
from mtbert.phrases import TREES_FILE
from mtbert.run_log import RunLog
from mtbert.run_state import (
    LOG_FILE,
    TrainingDiverged,
    TrainingInterrupted,
    TrainState,
    assemble_single_task,
    describe_device,
    is_finished,
    read_log,
    refuse_another_recipe,
    resolve_device,
    rng_state,
    saving,
    set_rng_state,
    set_seed,
    stop_signals,
)
from mtbert.step import StepGradients
from mtbert.train_steps import (
    TaskData,
    build_model,
    epoch_plan,
    linear_schedule,
    load_training_data,
    make_optimizer,
    task_loss,
)


class Trainer:
    """Trains one model (single task or multitask) into ``out_dir`` with resumable state.

    The model and its training data are passed in; ``Trainer.from_config`` builds both from a config.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: MultitaskModel,
        data: dict[str, TaskData],
        out_dir: Path,
        data_dir: Path,
        workers: Workers | None = None,
    ) -> None:
        self.config, self.model, self.data = config, model, data
        self.tasks, self.out_dir, self.data_dir = model.tasks, out_dir, data_dir
        self.state_dir, self.best_dir, self.log_path = out_dir / "state", out_dir / "best", out_dir / LOG_FILE
        self.device = model.device
        self.workers = workers or Workers()
        self.workers.broadcast_from_main(model)
        self.gradients = StepGradients(model, config, self.workers, self.loss)
        self.optimizer = make_optimizer(model, config, self.gradients.extra_parameters())
        self.stop_requested = False
        self._cached_batches: tuple[int, dict[str, list[Batch]]] = (-1, {})
        steps_per_epoch = len(epoch_plan(config, self._batches(0), 0))
        self.total_steps = steps_per_epoch * config.epochs
        self.scheduler = linear_schedule(self.optimizer, self.total_steps, config.warmup_ratio)
        self.state = TrainState()
        self.steps_per_epoch = steps_per_epoch
        self.run_log = RunLog(
            out_dir, config.log_every_steps, list(config.log_with), to_dict(config), enabled=self.workers.is_main
        )

    @classmethod
    def from_config(
        cls,
        config: TrainConfig,
        tasks: list[str],
        out_dir: Path,
        data_dir: Path,
        workers: Workers | None = None,
        device: torch.device | None = None,
    ) -> Trainer:
        """Seed, build a fresh model for ``tasks`` on ``device`` (default: the configured one), read its data."""
        workers = workers or Workers()
        set_seed(config.seed)
        model = build_model(config, tasks).to(device or resolve_device(config.device))
        torch.manual_seed(config.seed + workers.rank)  # each process its own dropout masks
        return cls(config, model, load_training_data(model, config, data_dir), out_dir, data_dir, workers)

    def _batches(self, epoch: int) -> dict[str, list[Batch]]:
        """The epoch's shuffled, bucketed batches per task (kept for the epoch last asked for)."""
        if self._cached_batches[0] != epoch:
            pad_id = self.model.tokenizer.pad_token_id or 0
            seed = self.config.seed + 1000 * epoch
            batches = {
                t: bucketed_batches(d.epoch_items(seed + i), self.config.batch_size, True, seed + i, pad_id)
                for i, (t, d) in enumerate(self.data.items())
            }
            self._cached_batches = (epoch, batches)
        return self._cached_batches[1]

    def data_hashes(self) -> dict[str, str]:
        """sha256 of every data file used (train and dev)."""
        hashes = {}
        for task in self.tasks:
            for split in ("train", "dev"):
                path = task_file(self.data_dir, task, split, self.config.sst_file)
                if path.exists():
                    hashes[path.name] = sha256_file(path)
        if any(d.pool for d in self.data.values()):
            hashes[TREES_FILE] = sha256_file(self.data_dir / TREES_FILE)
        return hashes

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    # ----- resumable state ---------------------------------------------------------------------------------
    def save_state(self) -> None:
        """Trainable weights, optimizer, scheduler, every process's RNG and the TrainState, replaced atomically.

        Every process calls it (the RNG states are gathered); rank 0 alone writes.
        """
        rng = self.workers.gather(rng_state(self.device))
        if not self.workers.is_main:
            return
        with saving("training state", self.state_dir), staged_directory(self.state_dir) as tmp:
            save_file(stored_state_dict(self.model), str(tmp / "weights.safetensors"))
            # Our own file, read back with weights_only=True (tensors and plain containers only).
            torch.save(
                {
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng,
                    "step_gradients": self.gradients.state_dict(),
                },
                tmp / "optimizer.pt",
            )
            write_json_atomic(tmp / "state.json", {**asdict(self.state), "config": to_dict(self.config)})

    def load_state(self) -> bool:
        """Continue from ``state/``; False when there is none. A state of another recipe is refused."""
        recover_directory(self.state_dir)
        saved = read_json(self.state_dir / "state.json")
        if not saved:
            return False
        refuse_another_recipe(self.state_dir, saved["config"], self.config)
        weights = load_file(str(self.state_dir / "weights.safetensors"), device=str(self.device))
        self.model.load_state_dict(weights, strict=False)
        extra = torch.load(self.state_dir / "optimizer.pt", map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(extra["optimizer"])
        self.scheduler.load_state_dict(extra["scheduler"])
        self.gradients.load_state_dict(extra.get("step_gradients", {}))
        rng = extra["rng"] if "rng" in extra else [extra["torch_rng"]]  # states saved before per-process RNG
        if len(rng) != self.workers.world_size:
            raise ValueError(
                f"{self.state_dir} was saved by {len(rng)} process(es); resume it with as many "
                f"(this run has {self.workers.world_size})"
            )
        set_rng_state(rng[self.workers.rank], self.device)
        self.state = TrainState.from_json(saved)
        return True

    def loss(self, task: str, batch: Batch) -> torch.Tensor:
        """A task's loss, or the weighted auxiliary contrastive loss."""
        if task == CONTRASTIVE:
            return self.config.contrastive_weight * contrastive_loss(
                self.model,
                batch,
                self.config.contrastive_temperature,
                self.config.contrastive_dropout,
                tuple(self.config.contrastive_dropout_range),
            )
        teacher = teacher_weight(
            self.config.distill_alpha, self.config.distill_schedule, self.state.global_step / max(self.total_steps, 1)
        )
        return task_loss(self.model, task, batch, self.config, teacher)

    # ----- loop --------------------------------------------------------------------------------------------
    def score(self, metrics: dict[str, float]) -> float:
        """What picks the best epoch: the task's metric, or the overall score for multitask."""
        if len(self.tasks) == 1:
            return task_score(self.tasks[0], metrics)
        overall = overall_score(metrics)
        return overall if overall is not None else float(np.mean([task_score(t, metrics) for t in self.tasks]))

    def run(self, resume: bool = False) -> dict[str, Any]:
        """Train to the configured number of epochs; returns the best checkpoint's metrics (rank 0's view)."""
        resumed = resume and self.load_state()
        if resumed and self.workers.is_main:
            print(f"resuming {self.out_dir} at epoch {self.state.epoch + 1}, step {self.state.step_in_epoch}")
        elif not resume and self.log_path.exists() and self.workers.is_main:
            self.log_path.unlink()
        if (device := describe_device(self.device)) not in self.state.devices:
            self.state.devices.append(device)
        self.run_log.start(
            self.state.global_step if resumed else None,
            self.state.epoch,
            self.total_steps,
            self.steps_per_epoch,
            str(self.device),
        )
        with stop_signals(self.request_stop):
            try:
                while self.state.epoch < self.config.epochs:
                    self.train_epoch()
                    self.end_epoch()
            except KeyboardInterrupt:
                # Raised outside the signal handler (between two steps' bookkeeping): one process can save.
                if self.workers.distributed:
                    raise TrainingInterrupted(f"interrupted; resume from the last state in {self.state_dir}") from None
                self.save_state()
                raise self._interrupted() from None
            finally:
                self.run_log.close()
        self.workers.barrier()
        return read_metrics(self.best_dir)

    def request_stop(self) -> None:
        self.stop_requested = True

    def _interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(
            f"interrupted at epoch {self.state.epoch + 1}, step {self.state.step_in_epoch}; state saved in "
            f"{self.state_dir}: run again with --resume to continue"
        )

    def _should_stop(self) -> bool:
        """Whether any process was asked to stop (agreed by all, so that they stop at the same step)."""
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        return bool(self.workers.sum(flag).item() > 0)

    def train_epoch(self) -> None:
        """The optimizer steps of the current epoch, from where the state says it is."""
        state = self.state
        plan = epoch_plan(self.config, self._batches(state.epoch), state.epoch)
        self.model.train()
        start = time.time()
        bar = tqdm(
            total=len(plan),
            initial=state.step_in_epoch,
            desc=f"epoch {state.epoch + 1}/{self.config.epochs}",
            disable=not self.workers.is_main,
        )
        for step in plan[state.step_in_epoch :]:
            began, rates = time.perf_counter(), self.learning_rates()
            try:
                total, losses, grad_norm = self.train_step(step)
            except TrainingDiverged:
                bar.close()
                raise
            state.step_in_epoch += 1
            state.global_step += 1
            examples = sum(len(batch.indices) for task, batch in step if task != CONTRASTIVE)
            state.examples_seen += examples
            elapsed = state.train_seconds + time.time() - start
            self.log_step(losses, rates, grad_norm, examples, time.perf_counter() - began, elapsed)
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            every = self.config.save_every_steps
            stop = self._should_stop()
            if stop or (every and state.step_in_epoch % every == 0):
                state.train_seconds += time.time() - start
                start = time.time()
                self.save_state()
            if stop:
                bar.close()
                raise self._interrupted()
        bar.close()
        state.train_seconds += time.time() - start

    def train_step(self, step: list[tuple[str, Batch]]) -> tuple[float, dict[str, float], float]:
        """One optimizer step over the step's (task, batch) losses; returns their sum, each one and the gradient
        norm before clipping."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.gradients.compute(step, self.state.global_step)
        for task, value in losses.items():
            if not math.isfinite(value):
                raise self._diverged(task, value)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.gradients.trainable, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        for task, value in losses.items():
            self.state.epoch_losses.setdefault(task, []).append(value)
        return sum(losses.values()), losses, float(grad_norm)

    def learning_rates(self) -> dict[str, float]:
        """The backbone's and the heads' learning rates of the next step."""
        group = self.optimizer.param_groups[0]
        scale = group["lr"] / group["initial_lr"] if group.get("initial_lr") else 1.0
        rates = {"lr": self.config.lr * scale}
        if self.config.head_lr is not None and self.config.head_lr != self.config.lr:
            rates["head_lr"] = self.config.head_lr * scale
        return rates

    def log_step(
        self,
        losses: dict[str, float],
        rates: dict[str, float],
        grad_norm: float,
        examples: int,
        seconds: float,
        train_seconds: float,
    ) -> None:
        """Count the step (its losses, the rates it used) in ``metrics.jsonl``, written every ``log_every_steps``."""
        state = self.state
        self.run_log.step(
            step=state.global_step,
            epoch=state.epoch + state.step_in_epoch / max(self.steps_per_epoch, 1),
            examples=state.examples_seen,
            train_seconds=train_seconds,
            losses=losses,
            lr=rates["lr"],
            head_lr=rates.get("head_lr"),
            grad_norm=grad_norm,
            step_examples=examples,
            step_seconds=seconds,
            surgery=self.gradients.last_stats,
            loss_weights=self.gradients.loss_weights(),
        )

    def _diverged(self, task: str, loss: float) -> TrainingDiverged:
        state = self.state
        where = f"best checkpoint (epoch {state.best_epoch + 1}) is in {self.best_dir}"
        return TrainingDiverged(
            f"loss became {loss} on task {task} at epoch {state.epoch + 1}, step {state.step_in_epoch}; "
            "training stopped. The last good " + (where if state.best_epoch >= 0 else f"state is in {self.state_dir}")
        )

    def end_epoch(self) -> None:
        """Evaluate on dev, keep the checkpoint if it is the best, log the epoch, move on and save state.

        Rank 0 alone evaluates and writes; the other processes wait for it at the next step.
        """
        if self.workers.is_main:
            report = self.evaluate_dev()
            score = self.score(report.metrics)
            best = score > self.state.best_score
            if best:
                self.save_best(report, score)
            if self.state.epoch + 1 == self.config.epochs:
                self.record_run_time()
            self.log_epoch(report)
            st, dev = self.state, report.metrics
            self.run_log.epoch(st.epoch + 1, st.global_step, st.examples_seen, st.train_seconds, dev, score, best)
        self.state.epoch += 1
        self.state.step_in_epoch = 0
        self.state.epoch_losses = {}
        self.save_state()

    def evaluate_dev(self) -> EvalReport:
        return evaluate(self.model, self.data_dir, "dev", self.tasks, self.config.sst_file, self.config.eval_batch_size)

    def save_best(self, report: EvalReport, score: float) -> None:
        """Save the current model as ``best/`` with its dev metrics and training cost so far."""
        self.state.best_score, self.state.best_epoch = score, self.state.epoch
        metrics = {
            **report.metrics,
            "epoch": self.state.epoch + 1,
            "train_seconds": round(self.state.train_seconds, 1),
            "trainable_parameters": self.trainable_parameters(),
            "seed": self.config.seed,
            "device": self.state.device,
        }
        extra = {"train": to_dict(self.config), "data_sha256": self.data_hashes()}
        with saving("best checkpoint", self.best_dir):
            save_checkpoint(self.model, self.best_dir, extra, metrics)

    def record_run_time(self) -> None:
        """A finished run cost every epoch, not only those up to the best: ``best/`` records the whole time and
        every device the run trained on."""
        cost = {"train_seconds": round(self.state.train_seconds, 1), "device": self.state.device}
        with saving("run time", self.best_dir):
            write_json_atomic(self.best_dir / METRICS_FILE, {**read_metrics(self.best_dir), **cost})

    def log_epoch(self, report: EvalReport) -> None:
        """Print and write one ``log.jsonl`` line: losses, dev metrics, loss weights and time so far.

        A line for this epoch or a later one (left by a run killed after logging, before saving its state)
        is replaced, so each epoch appears once.
        """
        entry = {
            "epoch": self.state.epoch + 1,
            "global_step": self.state.global_step,
            "train_loss": {t: float(np.mean(v)) for t, v in self.state.epoch_losses.items()},
            "dev": report.metrics,
            "train_seconds": round(self.state.train_seconds, 1),
        }
        if self.gradients.loss_weights():
            entry["loss_weights"] = self.gradients.loss_weights()
        print(json.dumps(entry))
        kept = [json.dumps(e) for e in read_log(self.log_path) if e["epoch"] < entry["epoch"]]
        with saving("training log", self.log_path):
            write_text_atomic(self.log_path, "".join(line + "\n" for line in [*kept, json.dumps(entry)]))


def train(config: TrainConfig, resume: bool = False, only_tasks: list[str] | None = None) -> Path:
    """Train as configured; returns the best checkpoint directory (``out_dir/best``).

    With ``resume``, a finished run is not trained again. In single-task mode ``only_tasks`` trains just those
    tasks' models (so that separate processes can train them side by side); ``best/`` is assembled once every
    task's model is finished.
    """
    data_dir = resolve_data_dir(config.data_dir)
    out_dir = Path(config.out_dir)
    tasks = list(config.heads.tasks)
    for task in [*tasks, *(only_tasks or [])]:
        task_registry.get(task)  # an unknown task fails here, naming the known ones
    if config.mode == "multi" and only_tasks:
        raise ValueError("only_tasks is for single-task mode: a multitask model trains all its tasks at once")
    workers, device = start_workers(config.device)  # one process, or this one of `accelerate launch`'s
    runs = [(tasks, out_dir)] if config.mode == "multi" else [([t], out_dir / "tasks" / t) for t in only_tasks or tasks]
    for run_tasks, run_dir in runs:
        if not (resume and is_finished(run_dir, config)):
            Trainer.from_config(config, run_tasks, run_dir, data_dir, workers, device).run(resume)
    finished = all(is_finished(out_dir / "tasks" / task, config) for task in tasks)
    if config.mode == "single" and finished and workers.is_main:
        assemble_single_task(config, out_dir, tasks)
    finish_workers(workers)
    return out_dir / "best"
