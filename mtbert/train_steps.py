"""What a run's steps are made of: the model it starts from, each task's training data (with the SST phrases, the
contrastive positives and a teacher's targets), the plan of an epoch's steps under each schedule, each task's loss
(with SMART, R-Drop and distillation), the optimizer and its learning-rate schedule. ``mtbert.training`` runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mtbert import tasks as task_registry
from mtbert.backbones import load_backbone
from mtbert.checkpoint import load
from mtbert.config import TrainConfig, to_dict
from mtbert.contrastive import CONTRASTIVE, positive_items
from mtbert.data import Batch, Example, Item, read_examples, task_file
from mtbert.distill import attach, distill_loss, read_targets
from mtbert.multitask import MultitaskModel
from mtbert.phrases import TREES_FILE, read_phrases, sample_indices
from mtbert.regularizers import rdrop_loss, set_dropout, smart_loss


@dataclass
class TaskData:
    """One task's tokenised training items, plus a pool sampled afresh each epoch (SST phrases)."""

    task: str
    items: list[Item]
    pool: list[Item] = field(default_factory=list)
    pool_per_epoch: int = 0  # 0 = the whole pool

    def epoch_items(self, seed: int) -> list[Item]:
        """The items of one epoch: every item, and the epoch's sample of the pool."""
        if not self.pool:
            return self.items
        return self.items + [self.pool[i] for i in sample_indices(len(self.pool), self.pool_per_epoch, seed)]


def build_model(config: TrainConfig, tasks: list[str]) -> MultitaskModel:
    """A fresh model: pretrained backbone, new heads for ``tasks``, fine-tune mode applied.

    With ``init_from`` (MT-DNN) the backbone, adapters and the tasks' heads start from that multitask checkpoint.
    """
    backbone, tokenizer = load_backbone(config.backbone)
    if config.backbone_dropout is not None:
        set_dropout(backbone, config.backbone_dropout)
    heads = type(config.heads)(**{**to_dict(config.heads), "tasks": tasks})
    model = MultitaskModel(backbone, tokenizer, heads, config.finetune, config.backbone, config.max_length)
    if config.init_from:
        start_from_multitask(model, Path(config.init_from))
    return model


def start_from_multitask(model: MultitaskModel, checkpoint: Path) -> None:
    """Copy a multitask checkpoint's backbone, adapters, shared layer and heads into ``model`` (same recipe)."""
    source = load(checkpoint)
    if not isinstance(source, MultitaskModel):
        raise ValueError(f"init_from {checkpoint} is not a multitask checkpoint (one backbone for every task)")
    mismatch = [
        name
        for name, a, b in [
            ("backbone", source.backbone_name, model.backbone_name),
            ("finetune", to_dict(source.finetune), to_dict(model.finetune)),
            ("pair_encoding", source.head_config.pair_encoding, model.head_config.pair_encoding),
            ("pooling", source.head_config.pooling, model.head_config.pooling),
            ("shared_layer", source.head_config.shared_layer, model.head_config.shared_layer),
        ]
        if a != b
    ]
    missing = set(model.tasks) - set(source.tasks)
    if mismatch or missing:
        raise ValueError(
            f"init_from {checkpoint} does not match this recipe: "
            + ", ".join([f"{m} differs" for m in mismatch] + [f"no {t!r} head" for t in sorted(missing)])
        )
    own = model.state_dict()
    model.load_state_dict({k: v for k, v in source.state_dict().items() if k in own}, strict=False)


def load_task_data(model: MultitaskModel, config: TrainConfig, data_dir: Path, task: str) -> TaskData:
    """Read and tokenise a task's training file (first ``train_limit`` rows if set)."""
    path = task_file(data_dir, task, "train", config.sst_file)
    examples = read_examples(path, task)
    if config.train_limit:
        examples = examples[: config.train_limit]
    if config.symmetric_pairs and task_registry.is_pair(task):
        examples = examples + [Example(e.id, e.b or "", e.a, e.label) for e in examples]
    data = TaskData(task, model.items_for(examples))
    if config.distill_targets:  # the teacher's target of each example (by id: a swapped pair keeps its own)
        targets = read_targets(Path(config.distill_targets), task, path)
        for item, soft in zip(data.items, attach(examples, targets, task), strict=True):
            item.soft = soft
    if config.sst_phrases and task_registry.get(task).data_stem == task_registry.SST_STEM:
        if not (data_dir / TREES_FILE).exists():
            raise FileNotFoundError(f"sst_phrases needs {TREES_FILE} in {data_dir} (the SST train parse trees)")
        phrases = read_phrases(data_dir / TREES_FILE, {e.a for e in examples}, config.train_limit)
        data.pool = model.items_for(phrases)
        data.pool_per_epoch = round(config.sst_phrase_ratio * len(examples))
    return data


def task_loss(
    model: MultitaskModel, task: str, batch: Batch, config: TrainConfig | None = None, teacher: float = 0.0
) -> torch.Tensor:
    """The task's training loss (``Task.loss``: cross-entropy, binary cross-entropy on the logit, or MSE).

    With a config, R-Drop replaces the single pass on its tasks and SMART's term is added on its tasks. A batch
    with teacher targets trains on ``teacher`` x teacher + (1 - teacher) x gold (``mtbert.distill``).
    """
    assert batch.labels is not None
    if config is not None and task in config.rdrop_tasks:
        return rdrop_loss(model, task, batch, config.rdrop_weight, smart=_smart_settings(config, task))
    values = model(task, batch.inputs).values
    labels = batch.labels.to(values.device)
    if batch.soft is not None and config is not None and config.distill_targets:
        soft = batch.soft.to(values.device)
        loss = distill_loss(task, values, labels, soft, teacher, config.distill_temperature)
    else:
        loss = task_registry.get(task).loss(values, labels)
    settings = _smart_settings(config, task)
    if settings is not None:
        loss = loss + smart_loss(model, task, batch, values, *settings)
    return loss


def _smart_settings(config: TrainConfig | None, task: str) -> tuple[float, float, float] | None:
    """(weight, noise_std, step_size) when SMART is on for ``task``."""
    if config is None or task not in config.smart_tasks:
        return None
    return config.smart_weight, config.smart_noise_std, config.smart_step_size


def epoch_plan(config: TrainConfig, batches: dict[str, list[Batch]], epoch: int) -> list[list[tuple[str, Batch]]]:
    """The steps of one epoch; each step is a list of (task, batch) whose losses are summed.

    With a ``contrastive`` entry in ``batches``, every step that trains a pair task also takes the next
    contrastive batch (cycling through them).
    """
    plan = _task_plan(config, {t: b for t, b in batches.items() if t != CONTRASTIVE}, epoch)
    contrastive = batches.get(CONTRASTIVE)
    if contrastive:
        pair_steps = [step for step in plan if any(task_registry.is_pair(task) for task, _ in step)]
        for i, step in enumerate(pair_steps):
            step.append((CONTRASTIVE, contrastive[i % len(contrastive)]))
    return plan


def _task_plan(config: TrainConfig, batches: dict[str, list[Batch]], epoch: int) -> list[list[tuple[str, Batch]]]:
    tasks = list(batches)
    if len(tasks) == 1 or config.schedule == "sequential":
        return [[(task, b)] for task in tasks for b in batches[task]]
    if config.schedule in ("joint", "round_robin"):
        steps = max(len(b) for b in batches.values())
        return [[(task, batches[task][i % len(batches[task])]) for task in tasks] for i in range(steps)]
    # annealed (BERT-and-PALs): sample a task with probability proportional to N_task ** alpha.
    frac = epoch / max(config.epochs - 1, 1)
    alpha = config.anneal_start + (config.anneal_end - config.anneal_start) * frac
    sizes = np.array([len(batches[t]) for t in tasks], dtype=float)
    probs = sizes**alpha / (sizes**alpha).sum()
    rng = np.random.default_rng(config.seed + epoch)
    cursor = dict.fromkeys(tasks, 0)
    plan = []
    for task_index in rng.choice(len(tasks), size=int(sizes.sum()), p=probs):
        task = tasks[task_index]
        plan.append([(task, batches[task][cursor[task] % len(batches[task])])])
        cursor[task] += 1
    return plan


def load_training_data(model: MultitaskModel, config: TrainConfig, data_dir: Path) -> dict[str, TaskData]:
    """Every task's training items, plus the contrastive positives when that loss is on."""
    data = {task: load_task_data(model, config, data_dir, task) for task in model.tasks}
    positives = positive_items(model, config, data_dir)
    if positives:
        data[CONTRASTIVE] = TaskData(CONTRASTIVE, positives)
    return data


def make_optimizer(
    model: MultitaskModel, config: TrainConfig, extra: list[torch.nn.Parameter] | None = None
) -> torch.optim.AdamW:
    """AdamW with no weight decay on biases and LayerNorms, and ``head_lr`` for the heads.

    ``extra`` parameters (learnt loss weights) train at ``head_lr`` without weight decay.
    """
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    if extra:
        groups[(True, True)] = list(extra)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = not name.startswith("backbone.")
        no_decay = param.ndim < 2
        groups.setdefault((is_head, no_decay), []).append(param)
    head_lr = config.head_lr or config.lr
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": head_lr if is_head else config.lr,
                "weight_decay": 0.0 if nd else config.weight_decay,
            }
            for (is_head, nd), params in groups.items()
        ]
    )


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay to zero."""
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
