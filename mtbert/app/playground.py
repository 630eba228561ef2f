"""The Playground tab: one sentence or pair through one variant, with its attention map and token saliency."""

from __future__ import annotations

import collections
import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from mtbert.app import attention, whatif
from mtbert.app.plots import attention_figure, similarity_scale
from mtbert.app.service import Prediction, explain_input, focus_task, head_choices, predict_input
from mtbert.app.store import VariantStore
from mtbert.app.ui import (
    MODEL_WORK,
    TASK_CHOICES,
    default_variant,
    event,
    refresh_on_focus,
    stream_event,
    variant_choices,
)
from mtbert.app.whatif import what_if
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
PREDICTION = ("sentiment", "paraphrase", "similarity", "note")
ATTENTION = ("views", "layer", "which", "heatmap", "focus", "head")
OUTPUTS = PREDICTION + ATTENTION


def predict_with(
    store: VariantStore, task: str, sentence_a: str, sentence_b: str | None, variant: str, attentions: bool = True
) -> Prediction:
    """Run ``task`` on one input with the named variant (loaded once by the store); without attentions, concurrent
    requests for the same variant and task run as one batch."""
    return predict_input(store.batching(variant), task, sentence_a, sentence_b, attentions)


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


# What the first chunk of a Run shows in the panels that later chunks fill: cleared, so that no panel shows the
# previous input meanwhile.
PENDING: dict[str, Any] = {"grid": None, "saliency": None, "saliency_note": "", "loo": None, "loo_note": "", "swap": ""}


def run_stream(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> Iterator[dict]:
    """The Playground's one round trip per Run: the prediction and its attention map as soon as they are computed
    (one forward pass gives both), then the grid of every head, then saliency, then what-if, each sent to the page
    when ready (one streamed event, not a chain).

    The first chunk carries every output of the stream, the later panels cleared: Gradio sends each later chunk
    as a diff against the one before, and a panel first set by a diff against a chunk that left it out could be
    patched onto the previous Run's value instead (seen: a map of the previous input after saliency of the new).
    """
    shown = run(store, task, sentence_a, sentence_b, variant)
    yield {name: shown[name] for name in OUTPUTS} | PENDING
    views = shown["views"]
    which = "sentence A" if len(views) == 2 else ("pair" if sentence_b else "sentence")
    yield {"grid": attention.grid_file(views, which)}
    yield dict(zip(("saliency", "saliency_note"), saliency(store, task, sentence_a, sentence_b, variant), strict=True))
    yield what_if(store, task, sentence_a, sentence_b, variant)


class LatestRun:
    """Per browser session, the Run started last: an earlier Run of the session still streaming stops before its
    next step, so its late outputs never land over the new ones and its work is not done for nothing."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._latest: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._keep = keep  # sessions remembered (the oldest are forgotten)

    def stream(self, steps: Iterator[dict], session: str | None) -> Iterator[dict]:
        """``steps``, cut off once a later Run of ``session`` has started (all of them without a session)."""
        if session is None:
            yield from steps
            return
        with self._lock:
            mine = self._latest.pop(session, 0) + 1
            self._latest[session] = mine
            while len(self._latest) > self._keep:
                self._latest.popitem(last=False)
        for step in steps:
            if self._latest.get(session) != mine:
                steps.close()  # type: ignore[attr-defined]
                return
            yield step


def playground_api(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> dict[str, Any]:
    """The Playground's prediction as data: each task's value (class probabilities, a probability or a 0-5 score),
    the notes, the task the page explains and the attention views' tokens and shape."""
    prediction = predict_with(store, task, sentence_a, sentence_b, variant)
    focus = focus_task(task, sentence_b, list(prediction.views))
    views = prediction.views[focus]
    return {
        "values": prediction.values,
        "notes": prediction.notes,
        "focus": focus,
        "inputs": [{"tokens": v.tokens, "segments": v.segments} for v in views],
        "layers": int(views[0].attentions.shape[0]),
        "heads": int(views[0].attentions.shape[1]),
    }


def saliency_api(
    store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str
) -> tuple[list[tuple[str, float | None]], str]:
    """Integrated-gradients saliency of the task the Playground explains: (token, score in [-1, 1] or None for a
    separator) spans, and what was explained."""
    return saliency(store, task, sentence_a, sentence_b, variant)


def redraw(views: list[AttentionView], layer: int, head: str, which: str, a_to_b: bool, focus: str) -> Any:
    """The attention map for the chosen layer, head and input of the last run."""
    if not views:
        return None
    view = views[1] if which == "sentence B" and len(views) == 2 else views[0]
    title = f"{focus}: "
    if a_to_b and 1 not in view.segments:
        a_to_b, title = False, f"{focus} (the A→B block needs a cross-encoded pair): "
    return attention_figure(view, int(layer) - 1, head, a_to_b, title=title)


def open_head(
    views: list[AttentionView], which: str, a_to_b: bool, focus: str, evt: gr.SelectData
) -> tuple[Any, Any, Any]:
    """A click on the grid: the layer and head under it, and their map (nothing changes between maps)."""
    chosen = attention.head_at(views, *evt.index)
    if chosen is None:
        return gr.skip(), gr.skip(), gr.skip()
    layer, head = chosen
    return layer, head, redraw(views, layer, head, which, a_to_b, focus)


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
    gallery = attention.build(views_state, which)
    saliency_out = gr.HighlightedText(
        label="Token saliency (integrated gradients)", combine_adjacent=False, show_legend=False, elem_id="saliency"
    )
    saliency_note = gr.Markdown()
    what_if_outputs = whatif.build(store, inputs)
    components = (sentiment_out, paraphrase_out, similarity_out, note, views_state, layer, which, heatmap)
    outputs = dict(zip(OUTPUTS, (*components, focus_state, head), strict=True))
    outputs |= {"grid": gallery, "saliency": saliency_out, "saliency_note": saliency_note} | what_if_outputs
    latest = LatestRun()

    def run_latest(
        store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str, request: gr.Request
    ) -> Iterator[dict]:
        steps = run_stream(store, task, sentence_a, sentence_b, variant)
        yield from latest.stream(steps, getattr(request, "session_hash", None))

    run_latest.__doc__ = run_stream.__doc__
    button.click(
        stream_event(run_latest, store, outputs),
        inputs,
        list(outputs.values()),
        api_visibility="private",
        show_progress="minimal",
        trigger_mode="multiple",  # a Run clicked while one streams starts at once; the earlier one stops (LatestRun)
        **MODEL_WORK,
    )
    for control in (layer, head, which, a_to_b):  # the user's own changes only: a Run's updates redraw nothing
        control.input(
            event(redraw, None),
            [views_state, layer, head, which, a_to_b, focus_state],
            heatmap,
            api_visibility="private",
            show_progress="hidden",
        )
    gallery.select(  # one event: the clicked head's layer, head and its map
        open_head,
        [views_state, which, a_to_b, focus_state],
        [layer, head, heatmap],
        api_visibility="private",
        show_progress="hidden",
    )
    return PlaygroundTab(task, sentence_a, sentence_b, variant, button)
