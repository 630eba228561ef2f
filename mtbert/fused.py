"""Many LoRA models in one forward pass: peft's mixed-adapter batches over one shared base encoder.

Models that adapt the same base weights with LoRA (or use them frozen) differ only in their adapters, poolers and
heads. ``FusedModels`` injects each model's adapter, under a name of its own, into one encoder whose base weights
are those models' shared tensors (no copy). A pass takes one row per (model, input); peft applies each row's adapter
(``adapter_names``; ``"__base__"`` for a frozen model) around one matrix product of the base weights for all rows.
Each model's pooling, pooler and head then read its own rows. An ensemble of 13 such models answers one pair with
one encoder pass instead of 13.

Models that cannot share a pass (another backbone, their own encoder weights, int8 layers) run on their own. The
rows of one pass are padded to its longest input; the padding is masked, so a fused answer equals the model's own
to float32 tolerance.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer

from mtbert import tasks as task_registry
from mtbert.data import Features, Item, pad
from mtbert.model import MiniBert
from mtbert.multitask import MultitaskModel, Texts, examples_for

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch

# The adapter of each row of the pass in flight. A context variable, not an attribute of the shared encoder, so that
# concurrent requests (threads, each in its own context) never see each other's rows.
_ROW_ADAPTERS: ContextVar[list[str] | None] = ContextVar("mtbert_row_adapters", default=None)


def _pass_row_adapters(module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    names = _ROW_ADAPTERS.get()
    if names is not None:
        kwargs["adapter_names"] = names
    return args, kwargs


def _base_state(model: MultitaskModel) -> dict[str, torch.Tensor] | None:
    """The encoder's base weights under plain module names, or None when they are not plain float tensors (an int8
    or merged encoder, which has no LoRA layer or quantised ones)."""
    if model.finetune.mode not in ("lora", "frozen"):
        return None
    state = {}
    for key, tensor in model.backbone.state_dict(keep_vars=True).items():
        if "lora_" in key:
            continue
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            return None
        state[key.replace(".base_layer.", ".")] = tensor
    lora_layers = any(isinstance(m, LoraLayer) for m in model.backbone.modules())
    return state if lora_layers == (model.finetune.mode == "lora") else None


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(x is y or (x.shape == y.shape and torch.equal(x, y)) for x, y in ((a[k], b[k]) for k in a))


class FusedGroup:
    """Models that share one base encoder and tokenizer, each with its adapter in one mixed-adapter encoder."""

    def __init__(self, models: Sequence[MultitaskModel], base: dict[str, torch.Tensor]) -> None:
        first = models[0]
        self.models = list(models)
        with torch.device("meta"):
            encoder = MiniBert(first.backbone.config)
        encoder.load_state_dict(base, assign=True)  # the models' own tensors: no copy of the base weights
        self.adapters: dict[int, str] = {}
        for i, model in enumerate(models):
            if model.finetune.mode == "frozen":
                self.adapters[id(model)] = BASE
                continue
            name = f"m{i}"
            ft = model.finetune
            config = LoraConfig(
                r=ft.lora_rank, lora_alpha=ft.lora_alpha, lora_dropout=ft.lora_dropout, target_modules=ft.lora_targets
            )
            with warnings.catch_warnings():  # peft warns that a second adapter joins the first: that is the point
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                encoder = inject_adapter_in_model(config, encoder, adapter_name=name)
            adapter = {
                k.replace(".default.", f".{name}."): v for k, v in model.backbone.state_dict().items() if "lora_" in k
            }
            missing = set(adapter) - set(encoder.state_dict())
            if missing:
                raise ValueError(f"adapter weights with no place in the fused encoder: {sorted(missing)[:3]}")
            encoder.load_state_dict(adapter, strict=False, assign=True)
            self.adapters[id(model)] = name
        for module in encoder.modules():
            if isinstance(module, LoraLayer):
                module.register_forward_pre_hook(_pass_row_adapters, with_kwargs=True)
        self.encoder = encoder.eval()  # used under inference_mode only: the adapters' tensors are the models' own

    def run(
        self, task: str, models: Sequence[MultitaskModel], a: Texts, b: Texts | None, batch_size: int
    ) -> list[np.ndarray]:
        """Post-processed predictions of ``task`` by each of ``models`` (members of this group), in their order.
        A pass holds about ``batch_size`` encoder rows (one per model and input of an item)."""
        examples = examples_for(task, a, b)
        encodings = {m.head_config.pair_encoding for m in models}
        items = {enc: self._items(models, enc, examples) for enc in encodings}
        inputs_per_item = sum(len(items[m.head_config.pair_encoding][0].inputs) for m in models)
        per_pass = max(1, batch_size // inputs_per_item)
        order = sorted(range(len(examples)), key=lambda i: max(items[e][i].length for e in encodings))
        spec = task_registry.get(task)
        out = [np.zeros(0, dtype=np.float32)] * len(models)
        for m in models:
            m.eval()
        with torch.inference_mode():
            for start in range(0, len(order), per_pass):
                chunk = order[start : start + per_pass]
                rows: list[Features] = []
                names: list[str] = []
                spans: list[list[slice]] = []
                for m in models:
                    enc_items = [items[m.head_config.pair_encoding][i] for i in chunk]
                    spans.append([])
                    for k in range(len(enc_items[0].inputs)):
                        spans[-1].append(slice(len(rows), len(rows) + len(chunk)))
                        rows += [item.inputs[k] for item in enc_items]
                        names += [self.adapters[id(m)]] * len(chunk)
                hidden, mask = self._encode(rows, names)  # (R, T, C), (R, T)
                for j, (m, model_spans) in enumerate(zip(models, spans, strict=True)):
                    pooled = [m.pooled(hidden[s], mask[s]) for s in model_spans]
                    values = spec.postprocess(m.head_output(task, pooled)).cpu().numpy()
                    if not out[j].size:
                        out[j] = np.zeros((len(examples), *values.shape[1:]), dtype=np.float32)
                    out[j][chunk] = values
        return out

    def _items(self, models: Sequence[MultitaskModel], encoding: str, examples: list) -> list[Item]:
        model = next(m for m in models if m.head_config.pair_encoding == encoding)
        return model.items_for(examples)

    def _encode(self, rows: list[Features], names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = pad(rows)
        token = _ROW_ADAPTERS.set(names)
        try:
            out = self.encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        finally:
            _ROW_ADAPTERS.reset(token)
        return out.last_hidden_state, batch["attention_mask"]


class FusedModels:
    """Sorts models into groups that can share a pass; ``run`` answers a task for any of them, fused where it can."""

    def __init__(self, models: Sequence[MultitaskModel]) -> None:
        pending: list[tuple[tuple, dict[str, torch.Tensor], list[MultitaskModel]]] = []
        for model in dict.fromkeys(models):  # each model once, in order
            base = _base_state(model)
            if base is None:
                continue
            key = (id(model.tokenizer), model.max_length, model.backbone.config)
            for group_key, group_base, members in pending:
                if group_key == key and _same_tensors(group_base, base):
                    members.append(model)
                    break
            else:
                pending.append((key, base, [model]))
        self.groups = [FusedGroup(members, base) for _, base, members in pending if len(members) > 1]
        self._group_of = {id(m): g for g in self.groups for m in g.models}

    def fused(self, model: MultitaskModel) -> bool:
        """Whether ``model`` runs in a shared pass."""
        return id(model) in self._group_of

    def run(
        self, task: str, models: Sequence[MultitaskModel], a: Texts, b: Texts | None, batch_size: int
    ) -> list[np.ndarray]:
        """Each model's predictions of ``task``, in the order given: one pass per group, the others on their own."""
        results: dict[int, np.ndarray] = {}
        for group in self.groups:
            members = [m for m in models if self._group_of.get(id(m)) is group]
            if len(members) > 1:
                results.update(zip(map(id, members), group.run(task, members, a, b, batch_size), strict=True))
        return [
            results[id(m)] if id(m) in results else m._run(task, a, b, False, batch_size)  # type: ignore[misc]
            for m in models
        ]
