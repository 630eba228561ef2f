"""The Train tab's form, built from ``TrainConfig``: one field per setting (``heads.*`` and ``finetune.*`` too), with
the help text of the config's own comments, its choices (a ``Literal``) and its range, and the check that turns a
preset plus edits into a ``TrainConfig`` or names the field that is wrong and why."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from mtbert import tasks as task_registry
from mtbert.app.service import InputError
from mtbert.config import TRACKERS, FinetuneConfig, HeadConfig, TrainConfig, from_dict

SECTIONS = {"heads": HeadConfig, "finetune": FinetuneConfig}
# Set by the tab itself (the run's folder, the data it trains on), not in the form.
NOT_IN_FORM = ("out_dir", "data_dir", "log_with", "heads.pooler", "heads.score_activation")  # the last: HF imports
# Help for the settings whose meaning the config's comments leave to their names.
MORE_HELP = {
    "": {
        "backbone": "a registered backbone (minilm-l6, minilm-l3, bert-base-uncased, ...) or a local BERT folder",
        "epochs": "passes over the largest task's training data",
        "batch_size": "rows per task per step",
        "eval_batch_size": "rows per batch in the dev evaluation after each epoch",
        "lr": "learning rate of the backbone (or its adapters); linear warm-up then decay to 0",
        "weight_decay": "AdamW weight decay (none on biases and LayerNorms)",
        "warmup_ratio": "share of the steps over which the learning rate warms up",
        "max_grad_norm": "gradients are clipped to this norm",
        "max_length": "tokens per input (longer ones are cut)",
        "seed": "seeds the shuffling, dropout and the heads' initialisation",
        "cagrad_c": "CAGrad's conflict-averse radius",
        "gradvac_beta": "GradVac's target-cosine moving-average rate",
        "smart_weight": "SMART's smoothness term weight",
        "smart_noise_std": "SMART's initial embedding noise",
        "smart_step_size": "SMART's adversarial step size",
        "rdrop_tasks": "R-Drop: two dropout passes, their outputs pulled together (gold labels only)",
        "rdrop_weight": "R-Drop's consistency term weight",
        "anneal_end": "annealed sampling's alpha at the last epoch",
        "contrastive_temperature": "InfoNCE temperature",
        "contrastive_min_score": "an STS pair counts as a positive from this score",
        "contrastive_dropout_range": "[low, high] of the sampled dropout rate",
        "sst_phrase_ratio": "phrases sampled per train sentence each epoch (0 = all)",
        "distill_alpha": "the teacher's share of each target (0 = gold only)",
        "distill_schedule": "fixed: distill_alpha throughout; anneal: from teacher to gold over training (BAM!)",
        "distill_temperature": "softens the teacher's class probabilities",
        "save_every_steps": "the resumable state is saved every N steps (and after each epoch; 0 = epochs only)",
    },
    "heads.": {
        "tasks": "the tasks the model learns",
        "num_sentiment_classes": "5 for SST, 2 for the binary CFIMDB files",
        "pooling": "how a sentence becomes one vector: the [CLS] token or the mean of the tokens",
        "pair_encoding": "cross: both sentences in one input; concat: each encoded alone, then combined",
        "shared_layer": "one shared dense layer between the backbone and every head",
        "dropout": "dropout before each head",
    },
    "finetune.": {
        "mode": "frozen: heads only; lora: low-rank adapters; full: every weight",
        "lora_rank": "rank of each LoRA adapter",
        "lora_alpha": "LoRA scaling (alpha / rank)",
        "lora_dropout": "dropout on the adapters' input",
        "lora_targets": "the linear layers that get adapters (query, key, value, out, up, down)",
    },
}
# Bounds the config's own checks leave open: (low, high), inclusive, either None.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "epochs": (1, 1000),
    "batch_size": (1, 4096),
    "eval_batch_size": (1, 4096),
    "lr": (0, 1),
    "head_lr": (0, 1),
    "weight_decay": (0, 1),
    "warmup_ratio": (0, 1),
    "max_grad_norm": (0, None),
    "max_length": (8, 512),
    "train_limit": (0, None),
    "save_every_steps": (0, None),
    "log_every_steps": (1, None),
    "seed": (0, None),
    "smart_weight": (0, None),
    "rdrop_weight": (0, None),
    "contrastive_weight": (0, None),
    "contrastive_temperature": (0, None),
    "distill_temperature": (0, None),
    "finetune.lora_rank": (1, 1024),
    "finetune.lora_alpha": (0, None),
    "finetune.lora_dropout": (0, 0.99),
    "heads.dropout": (0, 0.99),
    "heads.num_sentiment_classes": (2, 100),
}
POSITIVE = ("lr", "head_lr", "max_grad_norm", "contrastive_temperature", "distill_temperature")  # > 0, not >= 0
TASK_LISTS = ("heads.tasks", "smart_tasks", "rdrop_tasks")
GROUPS = {  # accordion title -> field name prefixes, in order; the rest go to "Other"
    "Model": ("backbone", "heads.", "finetune.", "mode"),
    "Schedule and optimiser": (
        "schedule",
        "epochs",
        "batch_size",
        "lr",
        "head_lr",
        "weight_decay",
        "warmup_ratio",
        "max_grad_norm",
        "anneal_",
        "gradient_surgery",
        "cagrad_c",
        "gradvac_beta",
        "loss_weighting",
    ),
    "Regularisers and auxiliary losses": ("smart_", "rdrop_", "contrastive_", "backbone_dropout", "symmetric_pairs"),
    "Data and distillation": ("sst_", "train_limit", "max_length", "distill_", "init_from"),
}


@dataclass(frozen=True)
class FieldSpec:
    """One setting of the form: its dotted name, its kind, its choices, its range and its help text."""

    name: str
    kind: str  # bool, int, float, str, choice, tasks, list, optional_float, optional_str
    default: Any
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    help: str = ""

    @property
    def label(self) -> str:
        return self.name

    def info(self) -> str:
        """The help text with the range, as the form shows it under the field."""
        bounds = ""
        if self.low is not None or self.high is not None:
            bounds = f" [{'' if self.low is None else self.low} … {'' if self.high is None else self.high}]"
        return (self.help + bounds).strip()


def field_help(cls: type) -> dict[str, str]:
    """The comments that document a dataclass's fields in its source: the comment lines just above a field and its
    trailing comment."""
    source = inspect.getsource(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    helps: dict[str, str] = {}
    pending: list[str] = []
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(comments.get(number, ""))
            continue
        name = stripped.split(":", 1)[0].strip() if ":" in stripped else ""
        if name in names:
            trailing = comments.get(number, "") if not stripped.startswith("#") else ""
            helps[name] = " ".join([*pending, trailing]).strip()
        pending = []
    return helps


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "choice", args
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return ("optional_float", ()) if inner is float else ("optional_str", ())
    if origin is list:
        return "list", ()
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(annotation, "str"), ()


def form_fields() -> list[FieldSpec]:
    """Every setting of TrainConfig and its sections, in the config's order."""
    specs = []
    defaults = TrainConfig()
    for cls, prefix, instance in [(TrainConfig, "", defaults)] + [
        (c, f"{n}.", getattr(defaults, n)) for n, c in SECTIONS.items()
    ]:
        hints, helps = typing.get_type_hints(cls), field_help(cls)
        for f in dataclasses.fields(cls):
            name = prefix + f.name
            if f.name in SECTIONS or name in NOT_IN_FORM:
                continue
            kind, choices = _kind(hints[f.name])
            if name in TASK_LISTS:
                kind, choices = "tasks", tuple(task_registry.names())
            if name == "device":
                kind, choices = "choice", ("auto", "cpu", "cuda")
            low, high = RANGES.get(name, (None, None))
            specs.append(FieldSpec(name, kind, getattr(instance, f.name), choices, low, high, helps.get(f.name, "")))
    return specs


def group_of(spec: FieldSpec) -> str:
    """The accordion a field belongs to."""
    for title, prefixes in GROUPS.items():
        if any(spec.name == p or (p.endswith((".", "_")) and spec.name.startswith(p)) for p in prefixes):
            return title
    return "Other"


def get_value(config: dict[str, Any], name: str, default: Any = None) -> Any:
    """A dotted field's value in a nested config dictionary."""
    *section, key = name.split(".")
    node = config.get(section[0], {}) if section else config
    return node.get(key, default)


def set_value(config: dict[str, Any], name: str, value: Any) -> None:
    *section, key = name.split(".")
    (config.setdefault(section[0], {}) if section else config)[key] = value


def check_value(spec: FieldSpec, value: Any) -> Any:
    """The value in the field's type, or InputError naming the field and what it takes."""
    where = f"{spec.name}: "
    if spec.kind in ("optional_float", "optional_str") and value in (None, ""):
        return None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(where + f"takes true or false, got {value!r}")
        return value
    if spec.kind in ("int", "float", "optional_float"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InputError(where + f"takes a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise InputError(where + f"takes a number, got {value!r}") from None
        if spec.kind == "int":
            if number != int(number):
                raise InputError(where + f"takes a whole number, got {value!r}")
            number = int(number)
        if spec.name in POSITIVE and number <= 0:
            raise InputError(where + f"must be > 0, got {value!r}")
        if spec.low is not None and number < spec.low:
            raise InputError(where + f"must be >= {spec.low}, got {value!r}")
        if spec.high is not None and number > spec.high:
            raise InputError(where + f"must be <= {spec.high}, got {value!r}")
        return number
    if spec.kind == "choice":
        if value not in spec.choices:
            raise InputError(where + f"must be one of {list(spec.choices)}, got {value!r}")
        return value
    if spec.kind in ("tasks", "list"):
        items = _as_list(value, spec)
        unknown = [v for v in items if spec.choices and v not in spec.choices]
        if unknown:
            raise InputError(where + f"names unknown tasks {unknown}; known: {list(spec.choices)}")
        return items
    if not isinstance(value, str):
        raise InputError(where + f"takes text, got {value!r}")
    return value


def _as_list(value: Any, spec: FieldSpec) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = [v.strip() for v in text.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{spec.name}: takes a list, got {value!r}")
    return list(value)


def build_config(preset: dict[str, Any], overrides: dict[str, Any]) -> tuple[TrainConfig, dict[str, Any]]:
    """The preset with ``overrides`` (dotted names) applied, checked field by field and then as a whole; returns
    the TrainConfig and the nested dictionary. InputError names the wrong field and says why."""
    specs = {s.name: s for s in form_fields()}
    config = json.loads(json.dumps(preset))
    for name, value in overrides.items():
        if name in ("log_with",):
            unknown = sorted(set(_as_list(value, FieldSpec(name, "list", []))) - set(TRACKERS))
            if unknown:
                raise InputError(f"log_with: unknown trackers {unknown}; known: {list(TRACKERS)}")
            set_value(config, name, _as_list(value, FieldSpec(name, "list", [])))
            continue
        if name not in specs:
            known = ", ".join(sorted(specs))
            raise InputError(f"{name}: no such setting (or one the Train tab sets itself); settings: {known}")
        set_value(config, name, check_value(specs[name], value))
    for section in SECTIONS:
        if section in config and not isinstance(config[section], dict):
            raise InputError(f"{section}: takes a table of settings, got {config[section]!r}")
    try:
        return from_dict(TrainConfig, config), config
    except (ValueError, TypeError) as err:
        raise InputError(f"the settings do not make a run: {err}") from err
