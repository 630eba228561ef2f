"""The Results tab: every variant's dev metrics as a table and a chart, and one variant's confusion matrices and
STS scatter on the dev sets (its shipped or cached dev predictions) or on a labelled dataset the user added."""

from __future__ import annotations

from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.evaluations import dataset_metrics
from mtbert.app.plots import confusion_figure, results_bars, sts_scatter
from mtbert.app.service import InputError, confusion_from_predictions
from mtbert.app.share import download_button
from mtbert.app.store import COST_KEYS, VariantStore
from mtbert.app.ui import event, refresh_on_focus, variant_choices
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY

HELP = (
    "**How to read this.** Dev-set scores of every variant, shipped or yours (SST and Quora: "
    f"accuracy; STS: Pearson correlation; {task_registry.OVERALL_FORMULA}). "
    "Pick a variant to see its confusion matrices and STS predictions against gold, on the dev sets or on a "
    "labelled dataset you added in the Explorer."
)
DEV_SETS = "dev sets"
SLOTS = {SENTIMENT: "sst", PARAPHRASE: "quora", SIMILARITY: "sts"}
COST_LABELS = dict(zip(COST_KEYS, ("trained params", "train s", "best epoch"), strict=True))


def column_names() -> dict[str, str]:
    """Table headers: each task's metric name, then the training costs."""
    specs = [task_registry.get(t) for t in task_registry.names()]
    return {s.metric_key: s.metric_name for s in specs} | COST_LABELS


def dataset_choices(store: VariantStore) -> list[str]:
    """The dev sets, then every labelled dataset the user added."""
    return [DEV_SETS, *(d.name for d in store.datasets.values() if d.labelled and not d.dev_set)]


def results_on(store: VariantStore, name: str, dataset: str, progress: Any = None) -> dict[str, Any]:
    """One variant on one labelled dataset: its metric in the note, and the confusion matrix or the scatter in
    the dataset's task's place."""
    data = store.dataset(dataset)
    if not data.labelled:
        raise InputError(f"{dataset} has no labels: it has predictions (in the Explorer) but no metrics")
    frame = store.predictions(name, dataset, progress)
    spec = task_registry.get(data.task)
    metric = dataset_metrics(data.task, frame)[spec.metric_key]
    out: dict[str, Any] = {"sst": None, "quora": None, "sts": None}
    title = f"{name}: {dataset}"
    if spec.output == "score":
        out[SLOTS[data.task]] = sts_scatter(data.frame[["id", "sentence1", "sentence2"]].merge(frame, on="id"), title)
    else:
        out[SLOTS[data.task]] = confusion_figure(*confusion_from_predictions(frame, data.task), title)
    out["note"] = f"{name} on {dataset} ({len(data):,} rows): {spec.metric_name} {metric:.4f}."
    return out


def results_for(
    store: VariantStore,
    name: str,
    dataset: str = DEV_SETS,
    progress: Any = gr.Progress(),  # noqa: B008  (Gradio's progress bar while predictions are computed)
) -> dict[str, Any]:
    """One variant's SST and Quora confusion matrices and STS scatter on the dev sets (None where it has no dev
    predictions), or its plot and metric on a labelled dataset the user added."""
    if not name:
        return {"sst": None, "quora": None, "sts": None, "note": ""}
    if dataset and dataset != DEV_SETS:
        return results_on(store, name, dataset, progress)
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


def tables(store: VariantStore) -> dict[str, Any]:
    """The results table (metric names as headers) and its chart."""
    results = store.results_frame()
    shown = results.rename(columns=column_names()).round(4) if not results.empty else None
    return {"table": shown, "chart": results_bars(results) if not results.empty else None}


def evaluated(store: VariantStore, progress: Any = gr.Progress()) -> dict[str, Any]:  # noqa: B008
    """Dev metrics of the user's models that have none yet (their first open: predictions on each dev set, with a
    progress bar, then cached on disk), then the table and chart with them."""
    pending = store.pending_user_models()
    for number, variant in enumerate(pending):

        def report(v: Any, d: Any, number: int = number) -> Any:
            return lambda done, desc: progress(
                (number + done) / len(pending), desc=f"first open of {v.name}: dev metrics on {d.name}"
            )

        store.evaluate_user_models(report, only=[variant.name])
    return tables(store)


def build(store: VariantStore, choices: list[tuple[str, str]], default: str | None, demo: gr.Blocks) -> None:
    """Lay out the results table and chart and the per-variant plots; they load with the page (the user's models
    get their dev metrics then, on first open, with a progress bar)."""
    gr.Markdown(HELP)
    initial = tables(store)
    table = gr.Dataframe(initial["table"], interactive=False, elem_id="results-table")
    download_button(table, "results")
    chart = gr.Plot(initial["chart"], label="Dev metrics per variant", elem_id="results-chart")
    with gr.Row():
        variant = gr.Dropdown(choices, value=default, label="Variant", elem_id="results-variant")
        refresh_on_focus(variant, lambda: variant_choices(store))
        dataset = gr.Dropdown(dataset_choices(store), value=DEV_SETS, label="On", elem_id="results-dataset")
    with gr.Row():
        sst, quora = gr.Plot(label="Sentiment confusion"), gr.Plot(label="Paraphrase confusion")
    sts = gr.Plot(label="STS: predicted vs gold")
    note = gr.Markdown(elem_id="results-note")
    outputs = {"sst": sst, "quora": quora, "sts": sts, "note": note}
    show = event(results_for, store, outputs)
    for trigger in (variant.change, dataset.input):
        trigger(show, [variant, dataset], list(outputs.values()), api_visibility="private")
    overview = {"table": table, "chart": chart}
    demo.load(event(evaluated, store, overview), None, [table, chart], api_visibility="private").then(
        show, [variant, dataset], list(outputs.values()), api_visibility="private"
    )
    dataset.focus(lambda: gr.update(choices=dataset_choices(store)), None, dataset, api_visibility="private")
