"""mtbert lab: a Gradio app over the shipped checkpoints in assets/.

``python app.py [--host 127.0.0.1] [--port 7860] [--assets assets]``. This file only wires the UI: it loads
models through ``mtbert.zoo`` and predicts through ``mtbert.service``, ``mtbert.explain`` and ``mtbert.batch``.
"""

from __future__ import annotations

import argparse
import functools
import html
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from mtbert.batch import MAX_BATCH_ROWS, BatchInputError, predict_frame, read_batch_csv  # noqa: E402
from mtbert.checkpoint import CheckpointError  # noqa: E402
from mtbert.plots import attention_figure, confusion_figure, results_bars, similarity_scale, sts_scatter  # noqa: E402
from mtbert.service import (  # noqa: E402
    InputError,
    Prediction,
    confusion_from_predictions,
    disagreement,
    explain_input,
    focus_task,
    hard_case_table,
    head_choices,
    predict_input,
)
from mtbert.zoo import DEFAULT_ASSETS, VariantStore  # noqa: E402

TASKS = ["sentiment", "paraphrase", "similarity", "all three"]
MAX_COMPARE = 4
RESULT_COLUMNS = {
    "sst_acc": "SST acc",
    "quora_acc": "Quora acc",
    "sts_pearson": "STS Pearson",
    "trainable_parameters": "trained params",
    "train_seconds": "train s",
    "best_epoch": "best epoch",
}
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "Consolas", "monospace"]
)  # system fonts: nothing from a CDN
PLAYGROUND_HELP = """**How to read this.** Type a sentence (sentiment) or a pair (paraphrase, similarity), pick a
model variant and press *Run*. Sentiment shows the five class probabilities; paraphrase the probability that the two
questions mean the same; similarity a 0–5 score. The **attention map** shows, for one layer and head, how much each
token (row) attends to every other token (column); *mean* averages the heads, *rollout* follows attention through the
layers. In a cross-encoded pair, sentence-B tokens are marked `B·`. **Saliency** (integrated gradients) colours each
token by how much it pushed the prediction up (red) or down (blue)."""


USER_ERRORS = (InputError, BatchInputError, CheckpointError, KeyError)


def _user_errors(fn):
    """Turn the library's errors about the user's input or choice into a clean gr.Error (UI message, API error)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            raise gr.Error(message, print_exception=False) from err

    return wrapper


def _variant_choices(store: VariantStore, task: str | None = None) -> list[tuple[str, str]]:
    return [(v.label, v.name) for v in store.usable(task)]


def _default_variant(store: VariantStore, task: str | None = None) -> str | None:
    """The variant to open on: the best one with all three tasks (or with ``task``), by dev score.

    Ensembles are left out unless nothing else is shipped: their attention maps show only their first member.
    """
    candidates = [v for v in store.usable(task) if v.kind != "ensemble"] or store.usable(task)
    full = [v for v in candidates if len(v.tasks) == 3]
    ranked = sorted(full or candidates, key=lambda v: -v.metrics.get("overall", v.metrics.get("sts_pearson", 0.0)))
    return ranked[0].name if ranked else None


def _case_widths(columns: list[str]) -> list[str]:
    """Sentences get most of a hard-case table's width; gold and the variants' predictions share the rest."""
    sentences = [c for c in columns if c.startswith("sentence")]
    each = 60 // len(sentences) if len(sentences) > 1 else 45
    rest = (100 - each * len(sentences)) / max(len(columns) - len(sentences), 1)
    return [f"{each}%" if c in sentences else f"{rest:.1f}%" for c in columns]


def _broken_notice(store: VariantStore) -> str:
    broken = store.broken()
    if not broken:
        return ""
    lines = [f"- `{html.escape(v.name)}` is left out: {html.escape(v.error or '')}" for v in broken]
    return "**Some variants could not be loaded:**\n" + "\n".join(lines)


def build_app(assets_dir: Path = DEFAULT_ASSETS) -> gr.Blocks:
    """The whole app. Models load lazily, once per variant, sharing each backbone's weights in memory."""
    store = VariantStore(assets_dir)
    default = _default_variant(store)
    choices = _variant_choices(store)

    def predict_with(
        task: str, sentence_a: str, sentence_b: str | None, variant: str, attentions: bool = True
    ) -> Prediction:
        """Run ``task`` on one input with the named variant (loaded once by the store)."""
        return predict_input(store.model(variant), task, sentence_a, sentence_b, attentions)

    # ----- API functions (also used by the UI) ----------------------------------------------------------------
    @_user_errors
    def predict_sentiment(text: str, variant: str) -> dict[str, float]:
        """Sentiment class probabilities for one sentence."""
        return predict_with("sentiment", text, None, variant, attentions=False).sentiment or {}

    @_user_errors
    def predict_paraphrase(sentence_a: str, sentence_b: str, variant: str) -> float:
        """Probability that two questions are paraphrases."""
        return predict_with("paraphrase", sentence_a, sentence_b, variant, attentions=False).paraphrase or 0.0

    @_user_errors
    def predict_similarity(sentence_a: str, sentence_b: str, variant: str) -> float:
        """Similarity score in [0, 5] of two sentences."""
        return predict_with("similarity", sentence_a, sentence_b, variant, attentions=False).similarity or 0.0

    @_user_errors
    def predict_pair(sentence_a: str, sentence_b: str, task: str, variant: str, attentions: bool) -> dict[str, Any]:
        """Paraphrase or similarity for a pair, with every layer's attention when ``attentions`` is true."""
        if task not in ("paraphrase", "similarity"):
            raise gr.Error("task must be 'paraphrase' or 'similarity'")
        prediction = predict_with(task, sentence_a, sentence_b, variant, attentions)
        out: dict[str, Any] = {"task": task, "value": prediction.value(task), "notes": prediction.notes}
        if attentions:
            out["inputs"] = [
                {
                    "tokens": v.tokens,
                    "segments": v.segments,
                    "attentions": v.attentions.astype("float64").round(4).tolist(),
                }
                for v in prediction.views[task]
            ]
        return out

    # ----- Playground -------------------------------------------------------------------------------------------
    @_user_errors
    def playground(task: str, sentence_a: str, sentence_b: str, variant: str):
        """Run the Playground: predictions, an attention map and what was truncated."""
        prediction = predict_with(task, sentence_a, sentence_b, variant)
        focus = focus_task(task, sentence_b, list(prediction.views))
        views = prediction.views[focus]
        n_layers = views[0].attentions.shape[0]
        para = prediction.paraphrase
        notes = " ".join(prediction.notes) or "No tokens were truncated."
        return (
            gr.update(value=prediction.sentiment, visible=prediction.sentiment is not None),
            gr.update(
                value={"paraphrase": para, "not paraphrase": 1 - para} if para is not None else None,
                visible=para is not None,
            ),
            gr.update(
                value=similarity_scale(prediction.similarity) if prediction.similarity is not None else None,
                visible=prediction.similarity is not None,
            ),
            html.escape(notes),
            views,
            gr.update(maximum=n_layers, value=n_layers),
            gr.update(
                choices=["sentence A", "sentence B"] if len(views) == 2 else ["pair" if sentence_b else "sentence"],
                value="sentence A" if len(views) == 2 else ("pair" if sentence_b else "sentence"),
            ),
            attention_figure(views[0], n_layers - 1, "mean", title=f"{focus}: "),
            focus,
            gr.update(choices=head_choices(views[0]), value="mean"),
        )

    def redraw(views, layer: int, head: str, which: str, a_to_b: bool, focus: str):
        if not views:
            return None
        view = views[1] if which == "sentence B" and len(views) == 2 else views[0]
        title = f"{focus}: "
        if a_to_b and 1 not in view.segments:
            a_to_b, title = False, f"{focus} (the A→B block needs a cross-encoded pair): "
        return attention_figure(view, int(layer) - 1, head, a_to_b, title=title)

    @_user_errors
    def saliency(task: str, sentence_a: str, sentence_b: str, variant: str):
        """Integrated-gradients token saliency for the predicted class or score."""
        return explain_input(store.model(variant), task, sentence_a, sentence_b)

    # ----- Compare ----------------------------------------------------------------------------------------------
    @_user_errors
    def compare(task: str, sentence_a: str, sentence_b: str, variants: list[str]):
        """Run one input through 2–4 variants; a table, a line on where they disagree, and attention maps."""
        if not variants or len(variants) < 2 or len(variants) > MAX_COMPARE:
            raise gr.Error(f"pick between 2 and {MAX_COMPARE} variants", print_exception=False)
        task = "sentiment" if task == "all three" else task
        results = {name: predict_with(task, sentence_a, sentence_b, name) for name in variants}
        rows = [[name, results[name].summary(task)] for name in variants]
        plots = []
        for i in range(MAX_COMPARE):
            if i < len(variants):
                view = results[variants[i]].views[task][0]
                plots.append(
                    gr.update(
                        value=attention_figure(view, view.attentions.shape[0] - 1, "mean", title=f"{variants[i]}: "),
                        visible=True,
                    )
                )
            else:
                plots.append(gr.update(value=None, visible=False))
        return [rows, disagreement(task, results), *plots]

    # ----- Batch ------------------------------------------------------------------------------------------------
    @_user_errors
    def batch_predict(file: str, task: str, variant: str, progress=gr.Progress()):  # noqa: B008
        """Predict every row of an uploaded CSV; returns a CSV with prediction columns."""
        if not file:
            raise gr.Error("upload a CSV file first", print_exception=False)
        frame = read_batch_csv(file, task)
        progress(0, desc="predicting")
        out = predict_frame(store.model(variant), task, frame, lambda f: progress(f, desc="predicting"))
        target = Path(tempfile.mkdtemp(prefix="mtbert-batch-")) / f"{Path(file).stem}-{task}-predictions.csv"
        out.to_csv(target, index=False)
        return str(target), f"Predicted {len(out):,} rows with `{html.escape(variant)}`."

    # ----- layout -----------------------------------------------------------------------------------------------
    with gr.Blocks(title="mtbert lab — multitask BERT explorer", analytics_enabled=False) as demo:
        gr.Markdown(
            "# mtbert lab\nA small multitask BERT (sentiment · paraphrase · similarity) on "
            "all-MiniLM-L6-v2 weights. Try inputs, compare head architectures, browse hard cases and results."
        )
        if not store.usable():
            gr.Markdown("**No usable model variants were found in `assets/checkpoints/`.**")
        notice = _broken_notice(store)
        if notice:
            gr.Markdown(notice, elem_id="broken-variants")
        views_state = gr.State([])
        focus_state = gr.State("similarity")
        with gr.Tabs() as tabs:
            with gr.Tab("Playground", id="playground"):
                gr.Markdown(PLAYGROUND_HELP)
                with gr.Row():
                    with gr.Column(scale=2):
                        task = gr.Radio(TASKS, value="similarity", label="Task")
                        sentence_a = gr.Textbox(label="Sentence A", lines=2, elem_id="sentence-a")
                        sentence_b = gr.Textbox(
                            label="Sentence B (for paraphrase and similarity)", lines=2, elem_id="sentence-b"
                        )
                        variant = gr.Dropdown(
                            choices,
                            value=default,
                            label="Variant (backbone / head variant — dev metrics)",
                            elem_id="variant",
                        )
                        run = gr.Button("Run", variant="primary", elem_id="run")
                    with gr.Column(scale=3):
                        sentiment_out = gr.Label(label="Sentiment", num_top_classes=5, visible=False)
                        paraphrase_out = gr.Label(label="Paraphrase", visible=False)
                        similarity_out = gr.Plot(label="Similarity", visible=False)
                        note = gr.Markdown(elem_id="note")
                with gr.Row():
                    layer = gr.Slider(1, 6, value=6, step=1, label="Layer")
                    head = gr.Dropdown(["mean", "rollout"], value="mean", label="Head (mean, rollout, or one head)")
                    which = gr.Radio(["pair"], value="pair", label="Input")
                    a_to_b = gr.Checkbox(label="Only the A→B block (cross-encoded pairs)")
                heatmap = gr.Plot(label="Attention", elem_id="heatmap")
                saliency_out = gr.HighlightedText(
                    label="Token saliency", combine_adjacent=False, show_legend=False, elem_id="saliency"
                )
                saliency_note = gr.Markdown()
                playground_outputs = [
                    sentiment_out,
                    paraphrase_out,
                    similarity_out,
                    note,
                    views_state,
                    layer,
                    which,
                    heatmap,
                    focus_state,
                    head,
                ]
                examples = [
                    ["similarity", "A man is playing a guitar.", "A man plays an instrument."],
                    ["paraphrase", "How do I learn Python quickly?", "What is the fastest way to learn Python?"],
                    ["sentiment", "A gorgeous, witty and deeply moving film.", ""],
                ]
                examples = [[*e, _default_variant(store, e[0])] for e in examples if _default_variant(store, e[0])]
                gr.Examples(
                    examples,
                    inputs=[task, sentence_a, sentence_b, variant],
                    outputs=playground_outputs,
                    fn=playground,
                    cache_examples=True,
                    cache_mode="lazy",
                    api_visibility="private",
                )
            with gr.Tab("Compare", id="compare"):
                gr.Markdown(
                    "**How to read this.** The same input goes through 2–4 variants. The table shows each "
                    "prediction, the line below says where they disagree, and each variant's last-layer "
                    "attention (mean over heads; for a concat model, sentence A's own pass) is drawn below. "
                    "*Preset* runs the report's central comparison: "
                    "`single-concat` (two separate sentence embeddings) against `single-cross` (one pass "
                    "over both sentences)."
                )
                with gr.Row():
                    c_task = gr.Radio(TASKS[:3], value="similarity", label="Task")
                    c_variants = gr.CheckboxGroup(
                        choices, value=[c[1] for c in choices[:2]], label="Variants (2–4)", elem_id="compare-variants"
                    )
                c_a = gr.Textbox(label="Sentence A", elem_id="compare-a")
                c_b = gr.Textbox(label="Sentence B", elem_id="compare-b")
                with gr.Row():
                    c_run = gr.Button("Compare", variant="primary", elem_id="compare-run")
                    c_preset = gr.Button("Preset: single-concat vs single-cross", elem_id="compare-preset")
                c_table = gr.Dataframe(
                    headers=["variant", "prediction"],
                    datatype=["str", "str"],
                    interactive=False,
                    elem_id="compare-table",
                )
                c_line = gr.Markdown(elem_id="compare-line")
                with gr.Row():
                    c_plots = [gr.Plot(visible=False) for _ in range(MAX_COMPARE)]
            with gr.Tab("Hard cases", id="hard"):
                gr.Markdown(
                    "**How to read this.** Examples mined from the dev sets where models go wrong, by rule "
                    "(see `train/mine_hard_cases.py`). Each table lists the gold label and every variant's "
                    "prediction. Click a row to load it into the Playground (or Compare)."
                )
                open_in = gr.Radio(["Playground", "Compare"], value="Playground", label="Clicking a row opens it in")
                categories = store.hard_cases().get("categories", [])
                if not categories:
                    gr.Markdown("No hard cases are shipped yet (`assets/hard_cases.json` is missing).")
                hard_tables = []
                for category in categories:
                    gr.Markdown(
                        f"### {html.escape(category.get('title', category.get('id', '')))}\n"
                        f"{html.escape(category.get('description', ''))}"
                    )
                    frame = hard_case_table(category)
                    table = gr.Dataframe(
                        frame,
                        interactive=False,
                        wrap=True,
                        column_widths=_case_widths(list(frame.columns)),
                        elem_classes=["hard-case-table"],
                    )
                    hard_tables.append((table, category.get("task", "similarity")))
            with gr.Tab("Results", id="results"):
                gr.Markdown(
                    "**How to read this.** Dev-set scores of every shipped variant (SST and Quora: "
                    "accuracy; STS: Pearson correlation; overall = (SST + Quora + (Pearson + 1) / 2) / 3). "
                    "Pick a variant to see its confusion matrices and STS predictions against gold."
                )
                results = store.results_frame()
                shown = results.rename(columns=RESULT_COLUMNS).round(4)
                gr.Dataframe(shown if not results.empty else None, interactive=False, elem_id="results-table")
                gr.Plot(
                    results_bars(results) if not results.empty else None,
                    label="Dev metrics per variant",
                    elem_id="results-chart",
                )
                r_variant = gr.Dropdown(choices, value=default, label="Variant")
                with gr.Row():
                    r_sst, r_quora = gr.Plot(label="Sentiment confusion"), gr.Plot(label="Paraphrase confusion")
                r_sts = gr.Plot(label="STS: predicted vs gold")
                r_note = gr.Markdown()
            with gr.Tab("Batch", id="batch"):
                gr.Markdown(
                    f"**How to read this.** Upload a CSV with a `sentence` column (sentiment) or "
                    f"`sentence1,sentence2` columns (paraphrase, similarity), up to {MAX_BATCH_ROWS:,} rows. "
                    "You get the same CSV back with prediction columns added."
                )
                with gr.Row():
                    b_file = gr.File(label="CSV file", file_types=[".csv"], elem_id="batch-file")
                    with gr.Column():
                        b_task = gr.Radio(TASKS[:3], value="sentiment", label="Task")
                        b_variant = gr.Dropdown(choices, value=default, label="Variant")
                        b_run = gr.Button("Predict", variant="primary", elem_id="batch-run")
                b_out = gr.File(label="Predictions", elem_id="batch-out")
                b_note = gr.Markdown(elem_id="batch-note")

        # ----- events -----------------------------------------------------------------------------------------
        run.click(playground, [task, sentence_a, sentence_b, variant], playground_outputs, api_name="playground").then(
            saliency, [task, sentence_a, sentence_b, variant], [saliency_out, saliency_note], api_name="saliency"
        )
        for control in (layer, head, which, a_to_b):
            control.change(
                redraw,
                [views_state, layer, head, which, a_to_b, focus_state],
                heatmap,
                api_visibility="private",
                show_progress="hidden",
            )

        c_outputs = [c_table, c_line, *c_plots]
        c_run.click(compare, [c_task, c_a, c_b, c_variants], c_outputs, api_name="compare")

        def preset():
            wanted = [
                name
                for name in ("single-concat", "single-cross")
                if name in store.variants and store.variants[name].error is None
            ]
            if len(wanted) < 2:
                raise gr.Error(
                    "the preset needs the single-concat and single-cross variants, which are not shipped",
                    print_exception=False,
                )
            return ("similarity", "A man is slicing a tomato on a cutting board.", "A man cuts a tomato.", wanted)

        c_preset.click(preset, None, [c_task, c_a, c_b, c_variants], api_visibility="private").success(
            compare, [c_task, c_a, c_b, c_variants], c_outputs, api_visibility="private"
        )

        for table, hard_task in hard_tables:

            def load_case(target: str, evt: gr.SelectData, hard_task=hard_task, table_value=table):
                row = evt.row_value
                a, b = row[0], (row[1] if hard_task != "sentiment" else "")
                tab = "playground" if target == "Playground" else "compare"
                return hard_task, a, b, hard_task, a, b, gr.Tabs(selected=tab)

            table.select(
                load_case, [open_in], [task, sentence_a, sentence_b, c_task, c_a, c_b, tabs], api_visibility="private"
            )

        def results_for(name: str):
            if not name:
                return None, None, None, ""
            sst, quora, sts = (store.dev_predictions(name, t) for t in TASKS[:3])
            return (
                confusion_figure(*confusion_from_predictions(sst, "sentiment"), f"{name}: SST dev")
                if sst is not None
                else None,
                confusion_figure(*confusion_from_predictions(quora, "paraphrase"), f"{name}: Quora dev")
                if quora is not None
                else None,
                sts_scatter(sts, f"{name}: STS dev") if sts is not None else None,
                ""
                if any(x is not None for x in (sst, quora, sts))
                else "No dev predictions are shipped for this variant.",
            )

        r_variant.change(results_for, r_variant, [r_sst, r_quora, r_sts, r_note], api_visibility="private")
        demo.load(results_for, r_variant, [r_sst, r_quora, r_sts, r_note], api_visibility="private")
        b_run.click(batch_predict, [b_file, b_task, b_variant], [b_out, b_note], api_name="batch_predict")

        gr.api(predict_sentiment, api_name="predict_sentiment")
        gr.api(predict_paraphrase, api_name="predict_paraphrase")
        gr.api(predict_similarity, api_name="predict_similarity")
        gr.api(predict_pair, api_name="predict_pair")
    demo.queue(default_concurrency_limit=2)
    if default:  # load the opening variant in the background so the first click does not wait for it
        threading.Thread(target=store.model, args=(default,), daemon=True).start()
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--assets", type=Path, default=DEFAULT_ASSETS, help="folder with checkpoints/ and results")
    args = parser.parse_args(argv)
    build_app(args.assets).launch(
        server_name=args.host, server_port=args.port, share=False, theme=THEME, footer_links=["api"], show_error=True
    )


if __name__ == "__main__":
    main()
