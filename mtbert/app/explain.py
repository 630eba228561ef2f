"""Explanations for one input: attention maps (per head, head mean, rollout), integrated-gradients saliency and
leave-one-out importance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from mtbert import tasks as task_registry
from mtbert.data import Example, bucketed_batches
from mtbert.multitask import AttentionView, MultitaskModel


def attention_matrix(view: AttentionView, layer: int, head: int | str) -> np.ndarray:
    """A (T, T) attention map: one head, ``"mean"`` over heads, or ``"rollout"`` (up to ``layer``)."""
    if head == "rollout":
        return attention_rollout(view.attentions[: layer + 1])
    if head == "mean":
        return view.attentions[layer].mean(0)
    return view.attentions[layer, int(head)]


def attention_rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) over (layers, heads, T, T): the product of the layers'
    head-averaged attention, each mixed half-and-half with the identity for the residual connection."""
    T = attentions.shape[-1]
    rollout = np.eye(T)
    for layer in attentions:
        mixed = 0.5 * layer.mean(0) + 0.5 * np.eye(T)
        mixed /= mixed.sum(-1, keepdims=True)
        rollout = mixed @ rollout
    return rollout


def cross_block(view: AttentionView, matrix: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """The A->B block of a cross-encoded pair: rows are sentence-A tokens, columns sentence-B tokens."""
    segments = np.array(view.segments)
    rows, cols = np.where(segments == 0)[0], np.where(segments == 1)[0]
    if len(cols) == 0:
        raise ValueError("the A->B block needs a cross-encoded pair")
    return matrix[np.ix_(rows, cols)], [view.tokens[i] for i in rows], [view.tokens[i] for i in cols]


def explained_output(model: MultitaskModel, task: str, target: int | None) -> str:
    """What an attribution explains: the predicted class's logit, the probability task's logit, or the score."""
    if target is not None:
        return f"logit of class '{model.class_names(task)[target]}'"
    return f"{task} {'logit' if task_registry.get(task).output == 'probability' else 'score'}"


# Integration steps of the app's saliency (assets/ig_steps.json measures the error and time of others): 24
# Gauss-Legendre steps keep most inputs far within the tolerance; an input they leave outside it is integrated
# again with IG_FALLBACK_STEPS, the fewest the study found within it for every input measured.
IG_STEPS = 24
IG_FALLBACK_STEPS = 64
IG_METHOD = "gausslegendre"  # captum's quadrature rule for the path integral
COMPLETENESS_TOLERANCE = 0.02  # the relative completeness error integrated gradients are held to (tests, study)


@dataclass
class Saliency:
    """Per-token attribution for one model input (special tokens included)."""

    tokens: list[str]
    scores: np.ndarray  # (T,), signed; positive pushes the explained output up
    delta: float = 0.0  # f(input) - f(baseline): what the scores should sum to (the completeness axiom)

    @property
    def completeness_error(self) -> float:
        """|sum of scores - delta| relative to what the integral moves through: the larger of |delta| and the
        scores' total size (so cancelling attributions neither fail nor pass for free)."""
        total, size = float(self.scores.sum()), float(np.abs(self.scores).sum())
        return abs(total - self.delta) / max(abs(self.delta), size, 1e-12)


def integrated_gradients(
    model: MultitaskModel,
    task: str,
    a: str,
    b: str | None = None,
    n_steps: int | None = None,
    method: str = IG_METHOD,
) -> tuple[list[Saliency], str]:
    """Integrated gradients (captum) w.r.t. the word embeddings for the predicted class or score.

    Returns one Saliency per model input (two for a concat pair: each sentence is attributed while the
    other is held fixed) and a description of the explained output. Baseline: [PAD] for every word
    token, with [CLS] and [SEP] kept. The path runs through word embeddings passed to the encoder, so no hook
    touches the model: other requests may use it at the same time. All steps go to the model as one batch.
    ``n_steps`` None: IG_STEPS, and IG_FALLBACK_STEPS for an input whose completeness error the first leaves above
    COMPLETENESS_TOLERANCE.
    """
    model.eval()
    items = model.items_for([Example("0", a, b)])
    batch = bucketed_batches(items, 1, shuffle=False)[0]
    inputs = batch.inputs
    with torch.no_grad():  # one forward pass: the pooled embeddings give the prediction and stay fixed below
        pooled = [model.embed(x)[0] for x in inputs]
        values = model.head_output(task, pooled)
    target = int(values.argmax(-1)) if task_registry.get(task).output == "classes" else None
    explained = explained_output(model, task, target)
    special = torch.tensor(sorted({model.tokenizer.cls_token_id, model.tokenizer.sep_token_id}))
    word = model.backbone.embeddings.word
    results = []
    for k, x in enumerate(inputs):

        def forward(embedded: torch.Tensor, k: int = k, x: dict = x) -> torch.Tensor:
            n = embedded.size(0)  # (n, T, C): the integration steps, as one batch
            own = model.embed({**{key: t.expand(n, -1) for key, t in x.items()}, "word_embeddings": embedded})[0]
            parts = [own if j == k else p.expand(n, -1) for j, p in enumerate(pooled)]
            out = model.head_output(task, parts)
            return out[:, target] if target is not None else out

        ids = x["input_ids"].to(model.device)
        baseline_ids = torch.where(torch.isin(ids, special.to(ids.device)), ids, model.tokenizer.pad_token_id)
        with torch.no_grad():
            embedded, baseline = word(ids), word(baseline_ids)  # (1, T, C) each
        tokens = model.tokenizer.convert_ids_to_tokens(ids[0].tolist())
        for steps in [n_steps] if n_steps else [IG_STEPS, IG_FALLBACK_STEPS]:
            with torch.enable_grad():
                attributions, error = IntegratedGradients(forward).attribute(
                    embedded,
                    baselines=baseline,
                    n_steps=steps,
                    method=method,
                    internal_batch_size=steps,
                    return_convergence_delta=True,
                )
            scores = attributions.sum(-1)[0].detach().cpu().numpy()
            delta = float(scores.sum()) - float(error[0])  # captum's delta: sum(attributions) - (f(x) - f(baseline))
            part = Saliency(tokens, scores, delta)
            if part.completeness_error <= COMPLETENESS_TOLERANCE:
                break
        results.append(part)
    return results, explained


def leave_one_out(model: MultitaskModel, task: str, a: str, b: str | None = None) -> tuple[list[Saliency], str]:
    """Leave-one-out importance: how much the explained output (as ``integrated_gradients`` names it) drops when
    one word piece is removed from the input, the other input of a concat pair held as it is.

    Returns one Saliency per model input ([CLS] and [SEP] keep 0) and a description of the explained output.
    """
    model.eval()
    items = model.items_for([Example("0", a, b)])
    inputs = bucketed_batches(items, 1, shuffle=False)[0].inputs
    special = {model.tokenizer.cls_token_id, model.tokenizer.sep_token_id}
    spec = task_registry.get(task)
    results = []
    with torch.no_grad():
        pooled = [model.embed(x)[0] for x in inputs]
        full = model.head_output(task, pooled)
        target = int(full.argmax(-1)) if spec.output == "classes" else None
        explained = explained_output(model, task, target)
        value = float(full[0, target] if target is not None else full[0])
        for k, x in enumerate(inputs):
            ids = x["input_ids"][0]
            positions = [i for i, t in enumerate(ids.tolist()) if t not in special]
            scores = np.zeros(len(ids), dtype=np.float32)
            if positions:
                keep = [torch.cat([torch.arange(0, i), torch.arange(i + 1, len(ids))]) for i in positions]
                reduced = {key: torch.stack([t[0][idx] for idx in keep]) for key, t in x.items()}  # (P, T - 1)
                own = model.embed(reduced)[0]
                parts = [own if j == k else p.expand(len(positions), -1) for j, p in enumerate(pooled)]
                out = model.head_output(task, parts)
                without = out[:, target] if target is not None else out
                scores[positions] = (value - without).cpu().numpy()
            results.append(Saliency(model.tokenizer.convert_ids_to_tokens(ids.tolist()), scores))
    return results, explained
