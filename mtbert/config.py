"""Typed configuration dataclasses: the encoder shape, the task heads, and training arguments.

Every checkpoint stores these as JSON (``config.json``) so a model can be rebuilt without code changes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

from mtbert import tasks as task_registry

T = TypeVar("T")


@dataclass
class BertConfig:
    """Shape of a BERT encoder (a subset of Hugging Face's ``BertConfig`` with explicit names)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")

    @classmethod
    def from_hf(cls, hf: dict[str, Any]) -> BertConfig:
        """Build from a Hugging Face ``config.json`` dictionary."""
        if hf.get("hidden_act", "gelu") not in ("gelu", "gelu_new", "gelu_python"):
            raise ValueError(f"unsupported activation {hf.get('hidden_act')!r}; minBERT implements GELU")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        return cls(
            vocab_size=hf["vocab_size"],
            hidden_size=hf["hidden_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            intermediate_size=hf["intermediate_size"],
            max_position_embeddings=hf.get("max_position_embeddings", 512),
            type_vocab_size=hf.get("type_vocab_size", 2),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
            hidden_dropout=hf.get("hidden_dropout_prob", 0.1),
            attention_dropout=hf.get("attention_probs_dropout_prob", 0.1),
            pad_token_id=hf.get("pad_token_id", 0) or 0,
        )


@dataclass
class HeadConfig:
    """Which tasks the model solves and how pairs are encoded and scored."""

    tasks: list[str] = field(default_factory=lambda: list(task_registry.CS224N_TASKS))
    num_sentiment_classes: int = 5
    pooling: Literal["cls", "mean"] = "cls"
    pair_encoding: Literal["concat", "cross"] = "cross"
    # Only for pair_encoding="concat": how the two sentence embeddings u and v are combined.
    combine: Literal["uv", "uv_diff_prod", "cosine"] = "uv"
    shared_layer: bool = False
    dropout: float = 0.1
    # Hugging Face's BertForSequenceClassification reads a dense + tanh "pooler" on the pooled vector, and its
    # regression head outputs the score itself (no sigmoid): a converted HF model sets these two.
    pooler: bool = False
    score_activation: Literal["sigmoid", "linear"] = "sigmoid"

    def __post_init__(self) -> None:
        known = task_registry.names()
        if not self.tasks or set(self.tasks) - set(known):
            raise ValueError(f"tasks must be a non-empty subset of {known}, got {self.tasks}")
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.pair_encoding not in ("concat", "cross"):
            raise ValueError(f"pair_encoding must be 'concat' or 'cross', got {self.pair_encoding!r}")
        if self.combine not in ("uv", "uv_diff_prod", "cosine"):
            raise ValueError(f"combine must be 'uv', 'uv_diff_prod' or 'cosine', got {self.combine!r}")
        if self.score_activation not in ("sigmoid", "linear"):
            raise ValueError(f"score_activation must be 'sigmoid' or 'linear', got {self.score_activation!r}")


@dataclass
class FinetuneConfig:
    """How the backbone is adapted: frozen, fully fine-tuned, or LoRA adapters (via ``peft``)."""

    mode: Literal["frozen", "full", "lora"] = "lora"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: list[str] = field(default_factory=lambda: ["query", "value"])

    def __post_init__(self) -> None:
        if self.mode not in ("frozen", "full", "lora"):
            raise ValueError(f"finetune mode must be 'frozen', 'full' or 'lora', got {self.mode!r}")


# accelerate's experiment trackers (accelerate.utils.LoggerType), for TrainConfig.log_with.
TRACKERS = ("tensorboard", "trackio", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab")


@dataclass
class TrainConfig:
    """Training arguments. Saved beside every checkpoint."""

    backbone: str = "minilm-l6"
    heads: HeadConfig = field(default_factory=HeadConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    # "multi": one shared backbone for all tasks; "single": one model per task.
    mode: Literal["multi", "single"] = "multi"
    # sequential: one task's batches after another's (the report); joint: every step holds one batch of every
    # task, the smaller tasks cycling (round_robin is its older name); annealed: BERT-and-PALs sampling.
    schedule: Literal["sequential", "joint", "round_robin", "annealed"] = "sequential"
    # On joint steps: how the tasks' gradients on the shared (backbone or adapter) parameters combine.
    gradient_surgery: Literal["none", "pcgrad", "gradvac", "cagrad"] = "none"
    cagrad_c: float = 0.5
    gradvac_beta: float = 0.01
    # sum: the task losses are added; uncertainty: Kendall et al.'s learnt per-task log-variances.
    loss_weighting: Literal["sum", "uncertainty"] = "sum"
    # Regularisers, each on the tasks listed (mtbert/regularizers.py).
    smart_tasks: list[str] = field(default_factory=list)
    smart_weight: float = 1.0
    smart_noise_std: float = 1e-5
    smart_step_size: float = 1e-3
    rdrop_tasks: list[str] = field(default_factory=list)
    rdrop_weight: float = 1.0
    # MT-DNN: start every task model from this multitask checkpoint's backbone (and adapters) and heads.
    init_from: str | None = None
    # Replace the backbone's hidden and attention dropout (None keeps the pretrained config's).
    backbone_dropout: float | None = None
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 2e-5
    head_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 11711
    # BERT-and-PALs annealed sampling: alpha goes linearly from anneal_start to anneal_end over epochs.
    anneal_start: float = 1.0
    anneal_end: float = 0.2
    # Use only the first N training rows of each task (0 = all): for smoke tests.
    train_limit: int = 0
    # Also train on (b, a) for each pair (a, b) in paraphrase/similarity training data.
    symmetric_pairs: bool = False
    # Auxiliary supervised SimCSE loss (0 = off): with each paraphrase or similarity step, one batch of positive
    # pairs (Quora duplicates, STS pairs scoring >= contrastive_min_score) with in-batch negatives.
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.05
    contrastive_min_score: float = 4.0
    # S-SimCSE: "sampled" draws each contrastive pass's dropout rate uniformly from contrastive_dropout_range.
    contrastive_dropout: Literal["fixed", "sampled"] = "fixed"
    contrastive_dropout_range: list[float] = field(default_factory=lambda: [0.05, 0.3])
    # Phrase-level SST: sentiment also trains on the labelled phrases of the train sentences' parse trees
    # (sst-train-trees.txt), a fresh sample each epoch of sst_phrase_ratio x the number of train sentences
    # (0 = every phrase, every epoch). Dev evaluation stays on sentences.
    sst_phrases: bool = False
    sst_phrase_ratio: float = 1.0
    sst_file: str = "ids-sst"  # "ids-cfimdb" for the binary movie-review task
    # Distillation (mtbert/distill.py): a folder of teacher targets on the train files (python -m
    # train.distill_targets); each task trains on distill_alpha x teacher + (1 - distill_alpha) x gold, or with
    # distill_schedule "anneal" (BAM!) on a teacher share that falls from 1 to 0 over training. The temperature
    # softens the teacher's classes.
    distill_targets: str | None = None
    distill_alpha: float = 0.5
    distill_schedule: Literal["fixed", "anneal"] = "fixed"
    distill_temperature: float = 1.0
    save_every_steps: int = 200
    # Step records (each task's loss, learning rate, gradient norm, examples/s) every N optimizer steps, in the
    # run's metrics.jsonl and in the accelerate trackers named in log_with ("tensorboard", "trackio", "wandb",
    # "mlflow", ...; each used when its package is installed).
    log_every_steps: int = 10
    log_with: list[str] = field(default_factory=list)
    # "auto": the GPU when PyTorch sees one, else the CPU; or any torch device string ("cpu", "cuda:0").
    device: str = "auto"
    data_dir: str | None = None
    out_dir: str = "runs/default"

    def __post_init__(self) -> None:
        if isinstance(self.heads, dict):
            self.heads = from_dict(HeadConfig, self.heads)
        if isinstance(self.finetune, dict):
            self.finetune = from_dict(FinetuneConfig, self.finetune)
        if self.mode not in ("multi", "single"):
            raise ValueError(f"mode must be 'multi' or 'single', got {self.mode!r}")
        if self.schedule not in ("sequential", "joint", "round_robin", "annealed"):
            raise ValueError(f"unknown schedule {self.schedule!r}")
        self._check_multitask_options()
        self._check_regularisers()
        if self.sst_phrases and self.sst_file != task_registry.SST_STEM:
            raise ValueError(f"sst_phrases needs the SST files (sst_file {task_registry.SST_STEM!r})")
        if self.sst_phrase_ratio < 0:
            raise ValueError(f"sst_phrase_ratio must be >= 0, got {self.sst_phrase_ratio}")
        if not 0.0 <= self.distill_alpha <= 1.0:
            raise ValueError(f"distill_alpha is the teacher's share of the target, in [0, 1]; got {self.distill_alpha}")
        if self.distill_schedule not in ("fixed", "anneal"):
            raise ValueError(f"distill_schedule must be 'fixed' or 'anneal', got {self.distill_schedule!r}")
        if self.distill_temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {self.distill_temperature}")
        if self.distill_targets and self.rdrop_tasks:
            raise ValueError("R-Drop's loss takes gold labels only: leave rdrop_tasks empty when distilling")
        if self.log_every_steps < 1:
            raise ValueError(f"log_every_steps must be >= 1, got {self.log_every_steps}")
        unknown = sorted(set(self.log_with) - set(TRACKERS))
        if unknown:
            raise ValueError(f"log_with names unknown trackers {unknown}; known: {list(TRACKERS)}")
        if self.contrastive_weight > 0 and self.finetune.mode == "frozen":
            raise ValueError("the contrastive loss trains the backbone: it needs finetune.mode 'lora' or 'full'")

    def _check_multitask_options(self) -> None:
        if self.gradient_surgery not in ("none", "pcgrad", "gradvac", "cagrad"):
            raise ValueError(f"gradient_surgery must be none, pcgrad, gradvac or cagrad, got {self.gradient_surgery!r}")
        if self.loss_weighting not in ("sum", "uncertainty"):
            raise ValueError(f"loss_weighting must be 'sum' or 'uncertainty', got {self.loss_weighting!r}")
        if self.gradient_surgery != "none":
            if self.schedule not in ("joint", "round_robin"):
                raise ValueError("gradient_surgery needs schedule 'joint': every step must hold several tasks")
            if self.finetune.mode == "frozen":
                raise ValueError("gradient_surgery works on shared backbone parameters: a frozen backbone has none")
        if self.init_from and self.mode != "single":
            raise ValueError("init_from (multitask, then per-task fine-tuning) is for mode 'single'")

    def _check_regularisers(self) -> None:
        for name in ("smart_tasks", "rdrop_tasks"):
            unknown = set(getattr(self, name)) - set(self.heads.tasks)
            if unknown:
                raise ValueError(f"{name} names tasks the model does not train: {sorted(unknown)}")
        if self.contrastive_dropout not in ("fixed", "sampled"):
            raise ValueError(f"contrastive_dropout must be 'fixed' or 'sampled', got {self.contrastive_dropout!r}")
        low, high = self.contrastive_dropout_range
        if not 0 <= low <= high < 1:
            raise ValueError(f"contrastive_dropout_range must be [low, high], 0 <= low <= high < 1: got {[low, high]}")
        if self.backbone_dropout is not None and not 0 <= self.backbone_dropout < 1:
            raise ValueError(f"backbone_dropout must be in [0, 1), got {self.backbone_dropout}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a JSON-ready dictionary."""
    return dataclasses.asdict(obj)


# Where a run reads and writes, on which device, how often it saves: not what it learns.
RUN_LOCAL_KEYS = ("data_dir", "out_dir", "device", "save_every_steps", "log_every_steps", "log_with")


def training_recipe(config: TrainConfig) -> dict[str, Any]:
    """The settings that decide what a run learns: the config without ``RUN_LOCAL_KEYS``."""
    return {k: v for k, v in to_dict(config).items() if k not in RUN_LOCAL_KEYS}


def recipe_changes(old: TrainConfig, new: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """Recipe keys whose values differ between two configs: {key: (old, new)}."""
    a, b = training_recipe(old), training_recipe(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a dictionary, rejecting unknown keys with a clear message."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}; known: {sorted(names)}")
    return cls(**data)


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides (``heads.pooling=mean``) to a nested config dictionary.

    Values are parsed as JSON when possible (numbers, booleans, lists), else kept as strings.
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config
