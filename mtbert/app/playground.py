"""The Playground tab: one sentence or pair through one variant, with its attention map and token saliency."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr

from mtbert.app import attention, whatif
from mtbert.app.plots import attention_figure, similarity_scale
from mtbert.app.service import Prediction, explain_input, focus_task, head_choices, predict_input
from mtbert.app.store import VariantStore
from mtbert.app.ui import TASK_CHOICES, default_variant, event, refresh_on_focus, variant_choices
from mtbert.multitask import AttentionView
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

HELP = """**How to read this.** Type a sentence (sentiment) or a pair (paraphrase, similarity), pick a
model variant and press *Run*. Sentiment shows the five class probabilities; paraphrase the probability that the two
questions mean the same; similarity a 0–5 score. The **attention map** shows, for one layer and head, how much each
token (row) attends to every other token (column); *mean* averages the heads, *rollout* follows attention through the
layers. In a cross-encoded pair, sentence-B tokens are marked `B·`. **Saliency** (integrated gradients) colours each
token by how much it pushed the prediction up (red) or down (blue)."""
EXAMPLES = [
    [SIMILARITY, "A man is playing a guitar.", "A man plays an instrument."],
    [PARAPHRASE, "How do I learn Python quickly?", "What is the fastest way to learn Python?"],
    [SENTIMENT, "A gorgeous, witty and deeply moving film.", ""],
]
OUTPUTS = ("sentiment", "paraphrase", "similarity", "note", "views", "layer", "which", "heatmap", "focus", "head")


def predict_with(
    store: VariantStore, task: str, sentence_a: str, sentence_b: str | None, variant: str, attentions: bool = True
) -> Prediction:
    """Run ``task`` on one input with the named variant (loaded once by the store)."""
    return predict_input(store.model(variant), task, sentence_a, sentence_b, attentions)


def run(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> dict[str, Any]:
    """Run the Playground: predictions, an attention map and what was truncated."""
    prediction = predict_with(store, task, sentence_a, sentence_b, variant)
    focus = focus_task(task, sentence_b, list(prediction.views))
    views = prediction.views[focus]
    n_layers = views[0].attentions.shape[0]
    sentiment, para, score = (prediction.value(t) for t in (SENTIMENT, PARAPHRASE, SIMILARITY))
    single = "pair" if sentence_b else "sentence"
    return {
        "sentiment": gr.update(value=sentiment, visible=sentiment is not None),
        "paraphrase": gr.update(
            value={"paraphrase": para, "not paraphrase": 1 - para} if para is not None else None,
            visible=para is not None,
        ),
        "similarity": gr.update(
            value=similarity_scale(score) if score is not None else None, visible=score is not None
        ),
        "note": html.escape(" ".join(prediction.notes) or "No tokens were truncated."),
        "views": views,
        "layer": gr.update(maximum=n_layers, value=n_layers),
        "which": gr.update(
            choices=["sentence A", "sentence B"] if len(views) == 2 else [single],
            value="sentence A" if len(views) == 2 else single,
        ),
        "heatmap": attention_figure(views[0], n_layers - 1, "mean", title=f"{focus}: "),
        "focus": focus,
        "head": gr.update(choices=head_choices(views[0]), value="mean"),
    }


def redraw(views: list[AttentionView], layer: int, head: str, which: str, a_to_b: bool, focus: str) -> Any:
    """The attention map for the chosen layer, head and input of the last run."""
    if not views:
        return None
    view = views[1] if which == "sentence B" and len(views) == 2 else views[0]
    title = f"{focus}: "
    if a_to_b and 1 not in view.segments:
        a_to_b, title = False, f"{focus} (the A→B block needs a cross-encoded pair): "
    return attention_figure(view, int(layer) - 1, head, a_to_b, title=title)


def saliency(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> Any:
    """Integrated-gradients token saliency for the predicted class or score."""
    if store.precision != "fp32":
        return [], "Integrated gradients need the fp32 model; this app serves int8 (leave-one-out below still works)."
    return explain_input(store.model(variant), task, sentence_a, sentence_b)


@dataclass
class PlaygroundTab:
    """The Playground's input components (other tabs load examples into them)."""

    task: gr.Radio
    sentence_a: gr.Textbox
    sentence_b: gr.Textbox
    variant: gr.Dropdown
    run: gr.Button


def build(store: VariantStore, choices: list[tuple[str, str]], default: str | None) -> PlaygroundTab:
    """Lay out the Playground tab's components and wire its events."""
    views_state, focus_state = gr.State([]), gr.State(SIMILARITY)
    gr.Markdown(HELP)
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Radio(TASK_CHOICES, value=SIMILARITY, label="Task")
            sentence_a = gr.Textbox(label="Sentence A", lines=2, elem_id="sentence-a")
            sentence_b = gr.Textbox(label="Sentence B (for paraphrase and similarity)", lines=2, elem_id="sentence-b")
            variant = gr.Dropdown(
                choices, value=default, label="Variant (backbone / head variant — dev metrics)", elem_id="variant"
            )
            refresh_on_focus(variant, lambda: variant_choices(store))
            button = gr.Button("Run", variant="primary", elem_id="run")
        with gr.Column(scale=3):
            sentiment_out = gr.Label(label="Sentiment", num_top_classes=5, visible=False)
            paraphrase_out = gr.Label(label="Paraphrase", visible=False)
            similarity_out = gr.Plot(label="Similarity", visible=False, elem_id="similarity-gauge")
            note = gr.Markdown(elem_id="note")
    inputs = [task, sentence_a, sentence_b, variant]
    examples = [[*e, default_variant(store, e[0])] for e in EXAMPLES if default_variant(store, e[0])]
    gr.Examples(examples, inputs=inputs, api_visibility="private")
    with gr.Row():
        layer = gr.Slider(1, 6, value=6, step=1, label="Layer")
        head = gr.Dropdown(["mean", "rollout"], value="mean", label="Head (mean, rollout, or one head)")
        which = gr.Radio(["pair"], value="pair", label="Input")
        a_to_b = gr.Checkbox(label="Only the A→B block (cross-encoded pairs)")
    heatmap = gr.Plot(label="Attention", elem_id="heatmap")
    gallery = attention.build(views_state, which, layer, head)
    saliency_out = gr.HighlightedText(
        label="Token saliency (integrated gradients)", combine_adjacent=False, show_legend=False, elem_id="saliency"
    )
    saliency_note = gr.Markdown()
    what_if, what_if_outputs = whatif.build(store, inputs)
    components = (sentiment_out, paraphrase_out, similarity_out, note, views_state, layer, which, heatmap)
    outputs = dict(zip(OUTPUTS, (*components, focus_state, head), strict=True))
    button.click(
        event(run, store, outputs), inputs, list(outputs.values()), api_name="playground", show_progress="minimal"
    ).success(  # the grid, saliency and what-if follow a prediction, and only a prediction: one error, one message
        attention.grid_file, [views_state, which], gallery, api_visibility="private", show_progress="hidden"
    ).success(event(saliency, store), inputs, [saliency_out, saliency_note], api_name="saliency").success(
        what_if, inputs, list(what_if_outputs.values()), api_visibility="private", api_name="playground_what_if"
    )
    for control in (layer, head, which, a_to_b):
        control.change(
            event(redraw, None),
            [views_state, layer, head, which, a_to_b, focus_state],
            heatmap,
            api_visibility="private",
            show_progress="hidden",
        )
    return PlaygroundTab(task, sentence_a, sentence_b, variant, button)
