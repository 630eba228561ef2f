"""What-if: predictions that follow the input as it is edited, leave-one-out token importance beside integrated
gradients, and how far a pair's answer moves when A and B are swapped."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.explain import leave_one_out
from mtbert.app.service import InputError, attribution_spans, check_text, focus_task, predict_input
from mtbert.app.store import VariantStore
from mtbert.app.ui import event


def live(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> str:
    """Every prediction the variant makes for the input as it stands (no attentions: fast enough to type with)."""
    if not sentence_a or not sentence_a.strip():
        return "Type sentence A to see predictions."
    model = store.batching(variant)
    has_pair = bool(sentence_b and sentence_b.strip())
    wanted = [t for t in model.tasks if has_pair or not task_registry.is_pair(t)]
    prediction = predict_input(model, "all three", sentence_a, sentence_b, with_attentions=False)
    line = " · ".join(
        f"**{t}**: {html.escape(prediction.summary(t))}" for t in wanted if prediction.value(t) is not None
    )
    return line or "This variant has no model for a single sentence: type sentence B too."


def what_if(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> dict[str, Any]:
    """Leave-one-out importance for the explained task and, for a pair, the answer with A and B swapped."""
    check_text(sentence_a, "Sentence A")
    model = store.batching(variant)
    focus = focus_task(task, sentence_b, model.tasks)
    if focus not in model.tasks:
        raise InputError(f"this variant has no {focus} model")
    pair = task_registry.is_pair(focus)
    second = check_text(sentence_b, "Sentence B") if pair else None
    parts, explained = leave_one_out(model.model_for(focus), focus, sentence_a, second)
    spans = attribution_spans(parts)
    note = f"Leave-one-out: how much the {focus} model's {explained} drops when each word piece is removed."
    swap = ""
    if pair:
        forward = float(model.predict(focus, [sentence_a], [second])[0])
        backward = float(model.predict(focus, [second], [sentence_a])[0])
        swap = (
            f"**A and B swapped**: {focus} {backward:.3f} against {forward:.3f} as typed "
            f"(moves {backward - forward:+.3f})."
        )
    return {"loo": spans, "loo_note": html.escape(note), "swap": swap}


def build(store: VariantStore, inputs: list[Any]) -> dict[str, Any]:
    """The live line (with its switch) and the leave-one-out and swap outputs; returns the outputs, which the
    Playground's Run fills."""
    with gr.Row():
        follow = gr.Checkbox(label="Update the predictions as I type", value=False, elem_id="live-toggle")
        line = gr.Markdown(elem_id="live-line")
    loo = gr.HighlightedText(label="Leave-one-out importance", combine_adjacent=False, show_legend=False, elem_id="loo")
    loo_note = gr.Markdown()
    swap = gr.Markdown(elem_id="swap")

    def maybe_live(enabled: bool, *args: Any) -> Any:
        return event(live, store)(*args) if enabled else gr.skip()

    for box in inputs[1:3]:
        box.input(
            maybe_live,
            [follow, *inputs],
            line,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
    follow.change(maybe_live, [follow, *inputs], line, api_visibility="private", show_progress="hidden")
    outputs = {"loo": loo, "loo_note": loo_note, "swap": swap}
    return outputs
