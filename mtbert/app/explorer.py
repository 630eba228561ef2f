"""The Explorer tab: every prediction of a variant on a dataset of a task (LIT's data table), filtered and sliced,
beside a second variant's, with the paired bootstrap saying whether their difference on the rows shown is more than
noise. A dataset is a dev set or the user's own file (``--datasets`` or an upload here); the predictions come from the
store, which reads the shipped ones or computes and caches the rest."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.app.evaluations import Progress
from mtbert.app.playground import PlaygroundTab
from mtbert.app.service import InputError
from mtbert.app.share import download_button
from mtbert.app.slices import (
    ANY,
    LENGTHS,
    OVERLAPS,
    Filters,
    apply_filters,
    disagreement,
    label_choices,
    significance,
    significance_text,
    slice_figure,
    slice_metrics,
    word_overlap,
    words,
)
from mtbert.app.store import VariantStore
from mtbert.app.ui import SINGLE_TASKS, default_variant, event, refresh_on_focus
from mtbert.app.uploads import TASK_CHOICES, add_dataset, file_columns
from mtbert.datasets import AUTO, Dataset
from mtbert.tasks import SIMILARITY

NONE = "none"
MAX_FILTER_CHARS = 200
MAX_ROWS_SHOWN = 500
CSS = "#explorer-table th * { white-space: nowrap !important; }"
HELP = (
    "**How to read this.** Every example of a dataset (a dev set, or your own file: add it below) with a variant's "
    "prediction and its error (how far from gold: class steps, |probability − gold| or |score − gold|). Filter by "
    "gold or predicted label, error size, length, word overlap between the two sentences or a word; click a header "
    "to sort. The bars give the metric on each slice. Pick a second variant to see its predictions beside, only the "
    "rows where the two disagree if you like, and whether the difference on the rows kept is more than noise (a "
    "paired bootstrap). Click a row to open it in the Playground."
)


def dataset_for(store: VariantStore, task: str, name: str | None) -> Dataset:
    """The named dataset (it must be of ``task``), or the task's dev set when no name is given (or another task's
    dev set is named: a picker left on "the dev set" follows the task)."""
    if not name or (name in store.datasets and store.datasets[name].dev_set):
        found = store.dev_dataset(task)
        if found is None:
            raise InputError(f"the {task} dev set is not here (neither assets/data nor a data folder holds it)")
        return found
    dataset = store.dataset(name)
    if dataset.task != task:
        raise InputError(f"dataset {name!r} is a {dataset.task} dataset, not {task}")
    return dataset


def predictions_table(
    store: VariantStore, dataset: Dataset, variant: str, progress: Progress | None = None
) -> pd.DataFrame:
    """A variant's predictions on a dataset: id, predicted (the class, probability or score), and gold and error
    when the dataset is labelled."""
    frame = store.predictions(variant, dataset.name, progress)
    spec = task_registry.get(dataset.task)
    value = frame["probability"] if spec.output == "probability" else frame["predicted"]
    out = pd.DataFrame({"id": frame["id"].astype(str), "predicted": value})
    if dataset.labelled:
        out = dataset.frame[["id", "gold"]].merge(out, on="id")
        out["error"] = (out["predicted"] - out["gold"]).abs()
    if spec.output == "classes":
        out["predicted"] = out["predicted"].astype(int)
    return out


def build_table(
    store: VariantStore, dataset: Dataset, variant: str, other: str, progress: Progress | None = None
) -> pd.DataFrame:
    """The joined table: text, gold, the variant's prediction and error, length, overlap, the second variant's
    columns when one is named."""
    task = dataset.task
    spec = task_registry.get(task)
    frame = dataset.frame.drop(columns="gold", errors="ignore")
    frame = frame.merge(predictions_table(store, dataset, variant, progress), on="id")
    if spec.output == "probability":
        frame["decision"] = spec.decide(frame["predicted"].to_numpy())
    both = frame["sentence1"] + (" " + frame["sentence2"] if spec.pair else "")
    frame["length"] = both.map(lambda t: len(words(t)))
    if spec.pair:
        frame["overlap"] = [word_overlap(a, b) for a, b in zip(frame["sentence1"], frame["sentence2"], strict=True)]
    if other and other != NONE and other != variant:
        second = predictions_table(store, dataset, other, progress)
        second = second.rename(columns={"predicted": "B predicted", "error": "B error"})
        frame = frame.merge(second.drop(columns="gold", errors="ignore"), on="id")
        frame["disagree"] = disagreement(task, frame["predicted"], frame["B predicted"])
    return frame


def explore(
    store: VariantStore,
    task: str,
    variant: str,
    other: str,
    gold: str,
    predicted: str,
    min_error: float,
    length: str,
    overlap: str,
    word: str,
    disagree_only: bool,
    dataset: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every prediction of ``variant`` on a dataset of ``task`` (its dev set unless ``dataset`` names another) that
    passes the filters (the largest errors first), the metric per slice of those rows (a figure and a table), the
    paired bootstrap against ``other`` on those rows, a summary and a note on the dataset."""
    if task not in task_registry.names():
        raise InputError(f"unknown task {task!r}")
    if variant not in store.variants:
        raise InputError(f"unknown variant {variant!r}")
    if other not in (None, "", NONE) and other not in store.variants:
        raise InputError(f"unknown variant {other!r}")
    word = word or ""
    if len(word) > MAX_FILTER_CHARS:
        raise InputError(f"the word filter takes at most {MAX_FILTER_CHARS} characters (got {len(word):,})")
    choices = label_choices(task)
    if (
        gold not in choices
        or predicted not in choices
        or length not in (ANY, *LENGTHS)
        or overlap not in (ANY, *OVERLAPS)
    ):
        raise InputError("a filter has a value the task does not know: pick one from its list")
    data = dataset_for(store, task, dataset)
    if not data.labelled and (gold != ANY or float(min_error or 0.0) > 0):
        raise InputError(f"{data.name} has no labels: the gold and error filters need them")
    key = ("explorer table", data.name, data.sha256, variant, other or NONE)
    frame = store.recent(key, lambda: build_table(store, data, variant, other, progress))  # the filters' input
    filters = Filters(gold, predicted, float(min_error or 0.0), length, overlap, word, bool(disagree_only))
    kept = apply_filters(frame, task, filters, task_registry.is_pair(task))
    kept = kept.sort_values("error", ascending=False) if "error" in kept else kept
    summary = f"{len(kept):,} of {len(frame):,} rows of {data.name} match"
    if "disagree" in frame:
        summary += f"; {variant} and {other} disagree on {int(frame['disagree'].sum()):,} of all {len(frame):,}"
    shown = kept.drop(columns=[c for c in ("decision", "disagree", "id") if c in kept]).head(MAX_ROWS_SHOWN)
    if len(kept) > MAX_ROWS_SHOWN:
        summary += f" (the first {MAX_ROWS_SHOWN} {'with the largest errors ' * data.labelled}are shown)"
    metric = "mean |error|" if task_registry.get(task).output == "score" else "accuracy"
    slices = slice_metrics(kept, task)
    test = significance(kept, task)
    said = [n for n in data.notes if data.labelled or not n.startswith("no label column")]  # said below instead
    note = f"About {data.name}: {'; '.join(said)}." if said and not data.dev_set else ""
    if not data.labelled:
        note = f"{data.name} has no labels: predictions only, no metrics. {note}".strip()
    return {
        "table": shown.round(3),
        "summary": html.escape(summary + "."),
        "slices": slice_figure(slices, task, f"{variant} on {data.name}: {metric} per slice (filtered rows)")
        if len(slices)
        else None,
        "note": html.escape(note),
        "significance": html.escape(significance_text(test, task, variant, other, kept)).replace("**", "**"),
        "slice_metrics": slices,
        "bootstrap": test,
    }


def explore_view(
    store: VariantStore,
    task: str,
    variant: str,
    other: str,
    gold: str,
    predicted: str,
    min_error: float,
    length: str,
    overlap: str,
    word: str,
    disagree_only: bool,
    dataset: str | None = None,
    progress: Any = gr.Progress(),  # noqa: B008  (Gradio's progress bar while predictions are computed)
) -> dict[str, Any]:
    """``explore`` for the page: the table with its column widths (sentences wide, numbers narrow)."""
    args = (task, variant, other, gold, predicted, min_error, length, overlap, word, disagree_only, dataset)
    out = explore(store, *args, progress=progress)
    out.pop("slice_metrics"), out.pop("bootstrap")
    out["table"] = gr.update(value=out["table"], column_widths=column_widths(list(out["table"].columns)))
    return out


def explore_records(store: VariantStore, *args: Any) -> dict[str, Any]:
    """``explore`` for API clients: the rows as records, the summary, the note and the metric per slice."""
    out = explore(store, *args)
    return {
        "rows": out["table"].to_dict(orient="records"),
        "summary": out["summary"],
        "note": out["note"],
        "slices": out["slice_metrics"].to_dict(orient="records"),
        "significance": out["bootstrap"],
    }


def column_widths(columns: list[str]) -> list[str]:
    """Sentences get most of the width; the numbers and the id share the rest."""
    sentences = [c for c in columns if c.startswith("sentence")]
    each = 25 if len(sentences) == 2 else 40
    rest = (100 - each * len(sentences)) / max(len(columns) - len(sentences), 1)
    return [f"{each}%" if c in sentences else f"{rest:.1f}%" for c in columns]


def filter_choices(store: VariantStore, task: str, dataset: str | None = None) -> dict[str, Any]:
    """Reset the filters, datasets and variant lists for another task: the dataset stays when it is of the task
    (else the dev set), and the variant picker opens on the best variant."""
    names = [v.name for v in store.usable(task)]
    datasets = [d.name for d in store.datasets_for(task)]
    pair = task_registry.is_pair(task)
    best = default_variant(store, task)
    return {
        "dataset": gr.update(choices=datasets, value=dataset if dataset in datasets else next(iter(datasets), None)),
        "variant": gr.update(choices=names, value=best if best in names else next(iter(names), None)),
        "other": gr.update(choices=[NONE, *names], value=NONE),
        "gold": gr.update(choices=label_choices(task), value=ANY),
        "predicted": gr.update(choices=label_choices(task), value=ANY),
        "overlap": gr.update(value=ANY, interactive=pair),
    }


def row_inputs(task: str, row: list[Any]) -> dict[str, Any]:
    """A clicked row's task and sentences for the Playground (the table's columns start sentence1, sentence2)."""
    pair = task_registry.is_pair(task)
    if not row or not isinstance(row[0], str) or (pair and (len(row) < 2 or not isinstance(row[1], str))):
        raise InputError("this row has no sentences to open")
    return {"task": task, "a": row[0], "b": str(row[1]) if pair else "", "tabs": gr.Tabs(selected="playground")}


def added(store: VariantStore, *args: Any) -> dict[str, Any]:
    """Add an uploaded dataset and open it: its task, the dataset picker on it, and what was read."""
    summary = add_dataset(store, *args)
    text = f"Added **{html.escape(summary['name'])}**: {summary['rows']:,} {summary['task']} rows" + (
        "" if summary["labelled"] else ", unlabelled"
    )
    notes = "; ".join(html.escape(n) for n in summary["notes"])
    return filter_choices(store, summary["task"], summary["name"]) | {
        "task": summary["task"],
        "upload_note": text + (f" ({notes})." if notes else "."),
        "summary": summary,
    }


def columns_found(file: Any) -> dict[str, Any]:
    """A chosen file's columns in the column pickers, and its name as the dataset's name."""
    if file is None:
        return {k: gr.update() for k in ("name", "sentence1", "sentence2", "label", "id", "upload_note")}
    found = file_columns(file)
    pick = {"choices": found["columns"], "value": AUTO}
    return {
        "name": found["name"],
        **{k: gr.update(**pick) for k in ("sentence1", "sentence2", "label", "id")},
        "upload_note": f"{found['rows']:,} rows, columns {', '.join(map(html.escape, found['columns'][1:]))}. "
        "Leave a column on auto to match it by its usual name.",
    }


def build(store: VariantStore, playground: PlaygroundTab, tabs: gr.Tabs) -> None:
    """Lay out the Explorer tab and wire its events."""
    gr.Markdown(HELP)
    initial = filter_choices(store, SIMILARITY)
    with gr.Row():
        task = gr.Radio(SINGLE_TASKS, value=SIMILARITY, label="Task", elem_id="explorer-task")
        # custom values allowed: a task change and an upload change the choices while an event may still carry
        # the dataset picked before (explore checks the name against the store)
        dataset = gr.Dropdown(
            label="Dataset", elem_id="explorer-dataset", allow_custom_value=True, **_args(initial["dataset"])
        )
        variant = gr.Dropdown(label="Variant", elem_id="explorer-variant", **_args(initial["variant"]))
        other = gr.Dropdown(label="Beside it (optional)", elem_id="explorer-other", **_args(initial["other"]))
        refresh_on_focus(variant, lambda t: [v.name for v in store.usable(t)], [task])
        refresh_on_focus(other, lambda t: [NONE, *(v.name for v in store.usable(t))], [task])
    with gr.Accordion("Add your own dataset (CSV, TSV, JSONL or Parquet, up to 5 MB)", open=False):
        with gr.Row():
            upload = gr.File(
                label="File", file_types=[".csv", ".tsv", ".jsonl", ".parquet"], elem_id="explorer-upload", height=120
            )
            with gr.Column():
                name = gr.Textbox(label="Name", max_length=64, elem_id="explorer-upload-name")
                upload_task = gr.Dropdown(TASK_CHOICES, value=AUTO, label="Task", elem_id="explorer-upload-task")
        with gr.Row():
            pickers = {
                role: gr.Dropdown([AUTO], value=AUTO, label=f"{role} column", elem_id=f"explorer-upload-{role}")
                for role in ("sentence1", "sentence2", "label", "id")
            }
        add = gr.Button("Add the dataset", elem_id="explorer-upload-add")
        upload_note = gr.Markdown(elem_id="explorer-upload-note")
        upload_summary = gr.JSON(visible=False)  # what /add_dataset answers an API client
    with gr.Row():
        gold = gr.Dropdown(label="Gold", **_args(initial["gold"]))
        predicted = gr.Dropdown(label="Predicted", **_args(initial["predicted"]))
        min_error = gr.Slider(0, 5, value=0, step=0.05, label="Error at least")
        length = gr.Dropdown([ANY, *LENGTHS], value=ANY, label="Length")
        overlap = gr.Dropdown([ANY, *OVERLAPS], value=ANY, label="Word overlap (pairs)")
    with gr.Row():
        word = gr.Textbox(label="Contains (a word or phrase)", max_length=MAX_FILTER_CHARS, elem_id="explorer-word")
        disagree = gr.Checkbox(label="Only rows where the two variants disagree")
        button = gr.Button("Explore", variant="primary", elem_id="explorer-run")
    note = gr.Markdown(elem_id="explorer-note")
    summary = gr.Markdown(elem_id="explorer-summary")
    test = gr.Markdown(elem_id="explorer-significance")
    slices = gr.Plot(label="Metric per slice", elem_id="explorer-slices")
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="explorer-table", max_height=560)
    download_button(table, "explorer")
    outputs = {"table": table, "summary": summary, "slices": slices, "note": note, "significance": test}
    inputs = [task, variant, other, gold, predicted, min_error, length, overlap, word, disagree, dataset]
    run = event(explore_view, store, outputs)
    button.click(run, inputs, list(outputs.values()), api_visibility="private")
    choice_outputs = {
        "dataset": dataset,
        "variant": variant,
        "other": other,
        "gold": gold,
        "predicted": predicted,
        "overlap": overlap,
    }
    choices = event(filter_choices, store, choice_outputs)
    task.input(choices, [task, dataset], list(choice_outputs.values()), api_visibility="private").then(
        run, inputs, list(outputs.values()), api_visibility="private"
    )
    dataset.input(run, inputs, list(outputs.values()), api_visibility="private")
    found = {"name": name, **pickers, "upload_note": upload_note}
    upload.change(event(columns_found, None, found), upload, list(found.values()), api_visibility="private")
    added_outputs = {"task": task, **choice_outputs, "upload_note": upload_note, "summary": upload_summary}
    add.click(
        event(added, store, added_outputs),
        [upload, name, upload_task, *pickers.values()],
        list(added_outputs.values()),
        api_name="add_dataset",
    ).success(run, inputs, list(outputs.values()), api_visibility="private")
    targets = {"task": playground.task, "a": playground.sentence_a, "b": playground.sentence_b, "tabs": tabs}

    def select(task: str, evt: gr.SelectData) -> dict[Any, Any]:
        return event(row_inputs, None, targets)(task, evt.row_value)

    table.select(select, [task], list(targets.values()), api_visibility="private")


def _args(update: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in update.items() if k in ("choices", "value", "interactive")}
