"""The Results tab: every variant's dev metrics as a table and a chart, and one variant's confusion matrices and
STS scatter from its shipped dev predictions."""

from __future__ import annotations

from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.plots import confusion_figure, results_bars, sts_scatter
from mtbert.app.service import confusion_from_predictions
from mtbert.app.share import download_button
from mtbert.app.store import COST_KEYS, VariantStore
from mtbert.app.ui import event
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

HELP = (
    "**How to read this.** Dev-set scores of every variant, shipped or yours (SST and Quora: "
    f"accuracy; STS: Pearson correlation; {task_registry.OVERALL_FORMULA}). "
    "Pick a variant to see its confusion matrices and STS predictions against gold."
)
COST_LABELS = dict(zip(COST_KEYS, ("trained params", "train s", "best epoch"), strict=True))


def column_names() -> dict[str, str]:
    """Table headers: each task's metric name, then the training costs."""
    specs = [task_registry.get(t) for t in task_registry.names()]
    return {s.metric_key: s.metric_name for s in specs} | COST_LABELS


def results_for(store: VariantStore, name: str) -> dict[str, Any]:
    """One variant's SST and Quora confusion matrices and STS scatter (None where it has no dev predictions)."""
    if not name:
        return {"sst": None, "quora": None, "sts": None, "note": ""}
    sst, quora, sts = (store.dev_predictions(name, t) for t in (SENTIMENT, PARAPHRASE, SIMILARITY))
    return {
        "sst": confusion_figure(*confusion_from_predictions(sst, SENTIMENT), f"{name}: SST dev")
        if sst is not None
        else None,
        "quora": confusion_figure(*confusion_from_predictions(quora, PARAPHRASE), f"{name}: Quora dev")
        if quora is not None
        else None,
        "sts": sts_scatter(sts, f"{name}: STS dev") if sts is not None else None,
        "note": ""
        if any(x is not None for x in (sst, quora, sts))
        else "No dev predictions are shipped for this variant.",
    }


def build(store: VariantStore, choices: list[tuple[str, str]], default: str | None, demo: gr.Blocks) -> None:
    """Lay out the results table and chart and the per-variant plots; they load with the page."""
    gr.Markdown(HELP)
    results = store.results_frame()
    shown = results.rename(columns=column_names()).round(4)
    table = gr.Dataframe(shown if not results.empty else None, interactive=False, elem_id="results-table")
    download_button(table, "results", shown if not results.empty else None)
    gr.Plot(
        results_bars(results) if not results.empty else None, label="Dev metrics per variant", elem_id="results-chart"
    )
    variant = gr.Dropdown(choices, value=default, label="Variant")
    with gr.Row():
        sst, quora = gr.Plot(label="Sentiment confusion"), gr.Plot(label="Paraphrase confusion")
    sts = gr.Plot(label="STS: predicted vs gold")
    note = gr.Markdown()
    outputs = {"sst": sst, "quora": quora, "sts": sts, "note": note}
    variant.change(event(results_for, store, outputs), variant, list(outputs.values()), api_visibility="private")
    demo.load(event(results_for, store, outputs), variant, list(outputs.values()), api_visibility="private")
