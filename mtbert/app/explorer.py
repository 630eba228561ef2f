"""The Explorer tab: every dev prediction of a variant for a task (LIT's data table), filtered and sliced, beside
a second variant's. Built from the shipped id-only predictions joined with the dev sentences they refer to (shipped
in assets/data, else read from the data folder)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from mtbert import tasks as task_registry
from mtbert.app.evaluations import dev_set_dir
from mtbert.app.playground import PlaygroundTab
from mtbert.app.service import InputError
from mtbert.app.share import download_button
from mtbert.app.store import VariantStore
from mtbert.app.ui import SINGLE_TASKS, default_variant, event
from mtbert.data import read_examples, task_file
from mtbert.tasks import SIMILARITY

ANY = "any"
NONE = "none"
LENGTHS = {"1-10 words": (1, 10), "11-20 words": (11, 20), "21-30 words": (21, 30), "over 30 words": (31, 10**6)}
OVERLAPS = {"under 0.25": (0.0, 0.25), "0.25-0.5": (0.25, 0.5), "0.5-0.75": (0.5, 0.75), "0.75 and over": (0.75, 1.01)}
MAX_FILTER_CHARS = 200
MAX_ROWS_SHOWN = 500
CSS = "#explorer-table th * { white-space: nowrap !important; }"
HELP = (
    "**How to read this.** Every dev example of a task with a variant's prediction and its error (how far from "
    "gold: class steps, |probability − gold| or |score − gold|). Filter by gold or predicted label, error size, "
    "length, word overlap between the two sentences or a word; click a header to sort. The bars give the metric "
    "on each slice. Pick a second variant to see its predictions beside and, if you like, only the rows where the "
    "two disagree. Click a row to open it in the Playground."
)


@dataclass
class Filters:
    """What the Explorer keeps: ``any`` leaves a filter off."""

    gold: str = ANY
    predicted: str = ANY
    min_error: float = 0.0
    length: str = ANY
    overlap: str = ANY
    word: str = ""
    disagree_only: bool = False


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", str(text).lower())


def _overlap(a: str, b: str) -> float:
    x, y = set(_words(a)), set(_words(b))
    return len(x & y) / max(len(x | y), 1)


def label_choices(task: str) -> list[str]:
    """Gold/predicted filter choices: each class, or score bands for a score task."""
    spec = task_registry.get(task)
    if spec.output == "score":
        return [ANY] + [f"{i}-{i + 1}" for i in range(int(spec.max_score))]
    return [ANY] + [f"{i} {name}" for i, name in enumerate(spec.class_names)]


def _label(task: str, value: float) -> str:
    spec = task_registry.get(task)
    if spec.output == "score":
        band = min(int(value), int(spec.max_score) - 1)
        return f"{band}-{band + 1}"
    return f"{int(value)} {spec.class_names[int(value)]}"


def dev_texts(store: VariantStore, task: str) -> pd.DataFrame | None:
    """id, sentence1 (and sentence2) of the dev set that the predictions refer to: the copy shipped in
    ``<assets>/data``, else the data folder's; None when neither holds it."""
    return store.remember(("dev_texts", task), lambda: _read_dev_texts(store, task))


def _read_dev_texts(store: VariantStore, task: str) -> pd.DataFrame | None:
    folder = dev_set_dir(store.assets_dir, store.data_dir)
    path = task_file(folder, task, "dev") if folder else None
    if path is None or not path.exists():
        return None
    examples = read_examples(path, task)
    frame = pd.DataFrame({"id": [e.id for e in examples], "sentence1": [e.a for e in examples]})
    if task_registry.is_pair(task):
        frame["sentence2"] = [e.b or "" for e in examples]
    return frame


def predictions_table(store: VariantStore, task: str, variant: str) -> pd.DataFrame:
    """A variant's dev predictions: id, gold, predicted (the class, probability or score) and error."""
    frame = store.dev_predictions(variant, task)
    if frame is None:
        raise InputError(f"no dev predictions are shipped for {variant} on {task}")
    spec = task_registry.get(task)
    value = frame["probability"] if spec.output == "probability" else frame["predicted"]
    out = pd.DataFrame({"id": frame["id"].astype(str), "gold": frame["gold"], "predicted": value})
    out["error"] = (out["predicted"] - out["gold"]).abs()
    if spec.output == "classes":
        out["predicted"] = out["predicted"].astype(int)
    return out


def _apply(frame: pd.DataFrame, task: str, filters: Filters, pair: bool) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    decisions = frame["predicted"] if task_registry.get(task).output != "probability" else frame["decision"]
    if filters.gold != ANY:
        keep &= frame["gold"].map(lambda g: _label(task, g)) == filters.gold
    if filters.predicted != ANY:
        keep &= decisions.map(lambda p: _label(task, p)) == filters.predicted
    keep &= frame["error"] >= float(filters.min_error or 0.0)
    if filters.length != ANY and "length" in frame:
        low, high = LENGTHS[filters.length]
        keep &= frame["length"].between(low, high)
    if filters.overlap != ANY and pair and "overlap" in frame:
        low, high = OVERLAPS[filters.overlap]
        keep &= (frame["overlap"] >= low) & (frame["overlap"] < high)
    if filters.word.strip() and "sentence1" in frame:
        word = filters.word.strip().lower()
        text = frame["sentence1"].str.lower() + " " + (frame["sentence2"].str.lower() if pair else "")
        keep &= text.str.contains(word, regex=False)
    if filters.disagree_only and "B predicted" in frame:
        keep &= frame["disagree"]
    return frame[keep]


def _disagree(task: str, a: pd.Series, b: pd.Series) -> pd.Series:
    spec = task_registry.get(task)
    if spec.output == "score":
        return (a - b).abs() >= 0.5
    if spec.output == "probability":
        return pd.Series(spec.decide(a.to_numpy()) != spec.decide(b.to_numpy()), index=a.index)
    return a != b


def build_table(store: VariantStore, task: str, variant: str, other: str) -> tuple[pd.DataFrame, str]:
    """The joined table (text, length, overlap; the second variant's columns) and a note on what is missing."""
    frame = predictions_table(store, task, variant)
    spec = task_registry.get(task)
    if spec.output == "probability":
        frame["decision"] = spec.decide(frame["predicted"].to_numpy())
    note = ""
    texts = dev_texts(store, task)
    if texts is None:
        note = (
            "The dev sentences are not here (neither assets/data nor a data folder: pass --data-dir), so the table "
            "shows ids, gold labels and predictions only; the length, overlap and word filters need the sentences."
        )
    else:
        frame = texts.merge(frame, on="id")
        both = frame["sentence1"] + (" " + frame["sentence2"] if spec.pair else "")
        frame["length"] = both.map(lambda t: len(_words(t)))
        if spec.pair:
            frame["overlap"] = [_overlap(a, b) for a, b in zip(frame["sentence1"], frame["sentence2"], strict=True)]
    if other and other != NONE and other != variant:
        second = predictions_table(store, task, other).rename(columns={"predicted": "B predicted", "error": "B error"})
        frame = frame.merge(second.drop(columns="gold"), on="id")
        frame["disagree"] = _disagree(task, frame["predicted"], frame["B predicted"])
    return frame, note


def slice_metrics(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    """Accuracy (a classes or probability task) or mean |error| (a score task: Pearson within a narrow gold band
    says little) on each slice: per gold label, per length bucket and per overlap bucket."""
    spec = task_registry.get(task)
    correct = (frame["decision"] if "decision" in frame else frame["predicted"]) == frame["gold"]
    values = frame["error"] if spec.output == "score" else correct.astype(float)
    groups: list[tuple[str, pd.Series]] = [("gold", frame["gold"].map(lambda g: _label(task, g)))]
    if "length" in frame:
        groups.append(("length", pd.cut(frame["length"], [0, 10, 20, 30, 10**6], labels=list(LENGTHS))))
    if "overlap" in frame:
        cuts = pd.cut(frame["overlap"], [-0.01, 0.25, 0.5, 0.75, 1.01], right=False, labels=list(OVERLAPS))
        groups.append(("overlap", cuts))
    rows = [
        {"slice": kind, "bucket": str(key), "n": len(part), "value": float(part.mean())}
        for kind, keys in groups
        for key, part in values.groupby(keys, observed=True)
    ]
    return pd.DataFrame(rows, columns=["slice", "bucket", "n", "value"])


def slice_figure(slices: pd.DataFrame, task: str, title: str) -> go.Figure:
    """The slice metrics as bars, one colour per kind of slice."""
    spec = task_registry.get(task)
    fig = go.Figure()
    for kind, part in slices.groupby("slice", sort=False):
        fig.add_bar(
            name=f"by {kind}",
            x=[f"{b}" for b in part["bucket"]],
            y=part["value"],
            text=[f"{v:.2f} (n={n})" for v, n in zip(part["value"], part["n"], strict=True)],
            textposition="outside",
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        )
    label = "mean |error| (lower is better)" if spec.output == "score" else "accuracy"
    fig.update_layout(
        title=title,
        yaxis={"title": label, "range": [0, 1.18 * float(slices["value"].max() or 1.0)]},
        xaxis={"tickangle": -30, "title": "slice (colour: gold label, length, word overlap)"},
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": 1.08},
    )
    return fig


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
) -> dict[str, Any]:
    """Every dev prediction of ``variant`` for ``task`` that passes the filters (the largest errors first), the
    metric per slice of those rows (a figure and a table), a summary and a note on what is missing."""
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
        or overlap
        not in (
            ANY,
            *OVERLAPS,
        )
    ):
        raise InputError("a filter has a value the task does not know: pick one from its list")
    frame, note = build_table(store, task, variant, other)
    filters = Filters(gold, predicted, float(min_error or 0.0), length, overlap, word, bool(disagree_only))
    kept = _apply(frame, task, filters, task_registry.is_pair(task)).sort_values("error", ascending=False)
    summary = f"{len(kept):,} of {len(frame):,} dev examples match"
    if "disagree" in frame:
        summary += f"; {variant} and {other} disagree on {int(frame['disagree'].sum()):,} of all {len(frame):,}"
    shown = kept.drop(columns=[c for c in ("decision", "disagree") if c in kept]).head(MAX_ROWS_SHOWN)
    if "sentence1" in shown:
        shown = shown.drop(columns="id")  # the sentences say which example it is; the hash id says nothing more
    if len(kept) > MAX_ROWS_SHOWN:
        summary += f" (the {MAX_ROWS_SHOWN} with the largest errors are shown)"
    title = f"{variant} on {task} dev: {'mean |error|' if task_registry.get(task).output == 'score' else 'accuracy'}"
    slices = slice_metrics(kept, task)
    return {
        "table": shown.round(3),
        "summary": html.escape(summary + "."),
        "slices": slice_figure(slices, task, title + " per slice (filtered rows)") if len(kept) else None,
        "note": html.escape(note),
        "slice_metrics": slices,
    }


def explore_view(store: VariantStore, *args: Any) -> dict[str, Any]:
    """``explore`` for the page: the table with its column widths (sentences wide, numbers narrow)."""
    out = explore(store, *args)
    out.pop("slice_metrics")
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
    }


def column_widths(columns: list[str]) -> list[str]:
    """Sentences get most of the width; the numbers and the id share the rest."""
    sentences = [c for c in columns if c.startswith("sentence")]
    each = 25 if len(sentences) == 2 else 40
    rest = (100 - each * len(sentences)) / max(len(columns) - len(sentences), 1)
    return [f"{each}%" if c in sentences else f"{rest:.1f}%" for c in columns]


def filter_choices(store: VariantStore, task: str) -> dict[str, Any]:
    """Reset the filters and variant lists for another task (the variant picker opens on the best variant)."""
    with_predictions = [v.name for v in store.usable(task) if store.has_dev_predictions(v.name, task)]
    pair = task_registry.is_pair(task)
    best = default_variant(store, task)
    first = best if best in with_predictions else (with_predictions[0] if with_predictions else None)
    return {
        "variant": gr.update(choices=with_predictions, value=first),
        "other": gr.update(choices=[NONE, *with_predictions], value=NONE),
        "gold": gr.update(choices=label_choices(task), value=ANY),
        "predicted": gr.update(choices=label_choices(task), value=ANY),
        "overlap": gr.update(value=ANY, interactive=pair),
    }


def row_inputs(task: str, row: list[Any]) -> dict[str, Any]:
    """A clicked row's task and sentences for the Playground (the table's columns start sentence1, sentence2;
    without the data folder there are no sentences to open)."""
    if len(row) < 2 or not isinstance(row[0], str) or not isinstance(row[1], str):
        raise InputError("this table has no sentences to open (the data folder is missing)")
    b = str(row[1]) if task_registry.is_pair(task) else ""
    return {"task": task, "a": row[0], "b": b, "tabs": gr.Tabs(selected="playground")}


def build(store: VariantStore, playground: PlaygroundTab, tabs: gr.Tabs) -> None:
    """Lay out the Explorer tab and wire its events."""
    gr.Markdown(HELP)
    initial = filter_choices(store, SIMILARITY)
    with gr.Row():
        task = gr.Radio(SINGLE_TASKS, value=SIMILARITY, label="Task", elem_id="explorer-task")
        variant = gr.Dropdown(label="Variant", elem_id="explorer-variant", **_args(initial["variant"]))
        other = gr.Dropdown(label="Beside it (optional)", elem_id="explorer-other", **_args(initial["other"]))
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
    slices = gr.Plot(label="Metric per slice", elem_id="explorer-slices")
    table = gr.Dataframe(interactive=False, wrap=True, elem_id="explorer-table", max_height=560)
    download_button(table, "explorer")
    outputs = {"table": table, "summary": summary, "slices": slices, "note": note}
    inputs = [task, variant, other, gold, predicted, min_error, length, overlap, word, disagree]
    button.click(event(explore_view, store, outputs), inputs, list(outputs.values()), api_visibility="private")
    choice_outputs = {"variant": variant, "other": other, "gold": gold, "predicted": predicted, "overlap": overlap}
    task.change(
        event(filter_choices, store, choice_outputs), task, list(choice_outputs.values()), api_visibility="private"
    ).then(event(explore_view, store, outputs), inputs, list(outputs.values()), api_visibility="private")
    targets = {"task": playground.task, "a": playground.sentence_a, "b": playground.sentence_b, "tabs": tabs}

    def select(task: str, evt: gr.SelectData) -> dict[Any, Any]:
        return event(row_inputs, None, targets)(task, evt.row_value)

    table.select(select, [task], list(targets.values()), api_visibility="private")


def _args(update: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in update.items() if k in ("choices", "value", "interactive")}
