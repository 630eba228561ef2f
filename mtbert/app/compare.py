"""The Compare tab: one input through 2-4 variants side by side, and a line saying where they disagree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from mtbert.app.playground import predict_with
from mtbert.app.plots import attention_figure
from mtbert.app.service import ALL_TASKS, InputError, disagreement, head_choices
from mtbert.app.share import download_button
from mtbert.app.store import VariantStore
from mtbert.app.ui import SINGLE_TASKS, event
from mtbert.multitask import AttentionView
from mtbert.tasks import SENTIMENT, SIMILARITY

MAX_COMPARE = 4
PRESET_VARIANTS = ("single-concat", "single-cross")
PRESET_PAIR = ("A man is slicing a tomato on a cutting board.", "A man cuts a tomato.")
HELP = (
    "**How to read this.** The same input goes through 2–4 variants. The table shows each "
    "prediction, the line below says where they disagree, and each variant's last-layer "
    "attention (mean over heads; for a concat model, sentence A's own pass) is drawn below: pick a layer and a "
    "head to see the same one in every variant. "
    "*Preset* runs the report's central comparison: "
    "`single-concat` (two separate sentence embeddings) against `single-cross` (one pass "
    "over both sentences)."
)
PLOTS = tuple(f"plot{i}" for i in range(MAX_COMPARE))


def compare(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variants: list[str]) -> dict[str, Any]:
    """Run one input through 2–4 variants; a table, a line on where they disagree, and attention maps."""
    if not variants or len(variants) < 2 or len(variants) > MAX_COMPARE:
        raise InputError(f"pick between 2 and {MAX_COMPARE} variants")
    task = SENTIMENT if task in ALL_TASKS else task
    results = {name: predict_with(store, task, sentence_a, sentence_b, name) for name in variants}
    views = {name: results[name].views[task][0] for name in variants}
    deepest = max(v.attentions.shape[0] for v in views.values())
    widest = max(views.values(), key=lambda v: v.attentions.shape[1])
    out: dict[str, Any] = {
        "table": [[name, results[name].summary(task)] for name in variants],
        "line": disagreement(task, results),
        "views": views,
        # the controls reach the deepest variant's last layer and the widest one's last head
        "layer": gr.update(maximum=deepest, value=deepest),
        "head": gr.update(choices=head_choices(widest), value="mean"),
    }
    return out | heads(views, None, "mean")


def heads(views: dict[str, AttentionView], layer: int | None, head: str) -> dict[str, Any]:
    """The same layer and head (or the head mean, or rollout) of each compared variant, side by side; a layer past
    a variant's last is drawn at its last (variants can differ in depth), and the default is each one's last."""
    out: dict[str, Any] = {}
    names = list(views)
    for i, plot in enumerate(PLOTS):
        if i < len(names):
            view = views[names[i]]
            last = view.attentions.shape[0] - 1
            shown = last if layer is None else min(int(layer) - 1, last)
            chosen = head if head in ("mean", "rollout") or int(head) < view.attentions.shape[1] else "mean"
            figure = attention_figure(view, shown, chosen, title=f"{names[i]}: ")
            out[plot] = gr.update(value=figure, visible=True)
        else:
            out[plot] = gr.update(value=None, visible=False)
    return out


def preset(store: VariantStore) -> dict[str, Any]:
    """The report's central comparison: a similarity pair through single-concat and single-cross."""
    wanted = [name for name in PRESET_VARIANTS if name in store.variants and store.variants[name].error is None]
    if len(wanted) < len(PRESET_VARIANTS):
        raise InputError("the preset needs the single-concat and single-cross variants, which are not shipped")
    return {"task": SIMILARITY, "a": PRESET_PAIR[0], "b": PRESET_PAIR[1], "variants": wanted}


@dataclass
class CompareTab:
    """The Compare tab's input components (other tabs load examples into them)."""

    task: gr.Radio
    sentence_a: gr.Textbox
    sentence_b: gr.Textbox
    variants: gr.CheckboxGroup


def build(store: VariantStore, choices: list[tuple[str, str]]) -> CompareTab:
    """Lay out the Compare tab's components and wire its events."""
    gr.Markdown(HELP)
    with gr.Row():
        task = gr.Radio(SINGLE_TASKS, value=SIMILARITY, label="Task")
        variants = gr.CheckboxGroup(
            choices, value=[c[1] for c in choices[:2]], label="Variants (2–4)", elem_id="compare-variants"
        )
    sentence_a = gr.Textbox(label="Sentence A", elem_id="compare-a")
    sentence_b = gr.Textbox(label="Sentence B", elem_id="compare-b")
    with gr.Row():
        button = gr.Button("Compare", variant="primary", elem_id="compare-run")
        preset_button = gr.Button("Preset: single-concat vs single-cross", elem_id="compare-preset")
    table = gr.Dataframe(
        headers=["variant", "prediction"], datatype=["str", "str"], interactive=False, elem_id="compare-table"
    )
    download_button(table, "compare")
    line = gr.Markdown(elem_id="compare-line")
    views = gr.State({})
    with gr.Row():
        layer = gr.Slider(1, 6, value=6, step=1, label="Layer (the same for every variant)", elem_id="compare-layer")
        head = gr.Dropdown(
            ["mean", "rollout", *(str(h) for h in range(12))],
            value="mean",
            label="Head (the same for every variant)",
            elem_id="compare-head",
        )
    with gr.Row():
        plots = [gr.Plot(visible=False) for _ in PLOTS]
    names = ("table", "line", "views", "layer", "head", *PLOTS)
    outputs = dict(zip(names, (table, line, views, layer, head, *plots), strict=True))
    plot_outputs = dict(zip(PLOTS, plots, strict=True))
    for control in (layer, head):  # the user's own changes only: a Compare's updates redraw nothing
        control.input(
            event(heads, None, plot_outputs),
            [views, layer, head],
            plots,
            api_visibility="private",
            show_progress="hidden",
        )
    inputs = [task, sentence_a, sentence_b, variants]
    button.click(event(compare, store, outputs), inputs, list(outputs.values()), api_name="compare")
    preset_outputs = dict(zip(("task", "a", "b", "variants"), inputs, strict=True))
    preset_button.click(event(preset, store, preset_outputs), None, inputs, api_visibility="private").success(
        event(compare, store, outputs), inputs, list(outputs.values()), api_visibility="private"
    )
    return CompareTab(task, sentence_a, sentence_b, variants)
