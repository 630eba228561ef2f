"""The Batch tab: predictions for every row of an uploaded CSV, returned as a CSV."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from mtbert.app.batch import MAX_BATCH_ROWS, BatchInputError, predict_frame, read_batch_csv
from mtbert.app.store import VariantStore
from mtbert.app.ui import SINGLE_TASKS, event, refresh_on_focus, variant_choices
from mtbert.tasks import SENTIMENT

HELP = (
    f"**How to read this.** Upload a CSV with a `sentence` column (sentiment) or "
    f"`sentence1,sentence2` columns (paraphrase, similarity), up to {MAX_BATCH_ROWS:,} rows. "
    "You get the same CSV back with prediction columns added."
)


def batch_predict(
    store: VariantStore,
    file: str,
    task: str,
    variant: str,
    progress: Any = gr.Progress(),  # noqa: B008
) -> tuple[str, str]:
    """Predict every row of an uploaded CSV; returns a CSV with prediction columns."""
    if not file:
        raise BatchInputError("upload a CSV file first")
    frame = read_batch_csv(file, task)
    progress(0, desc="predicting")
    out = predict_frame(store.model(variant), task, frame, lambda f: progress(f, desc="predicting"))
    target = Path(tempfile.mkdtemp(prefix="mtbert-batch-")) / f"{Path(file).stem}-{task}-predictions.csv"
    out.to_csv(target, index=False)
    return str(target), f"Predicted {len(out):,} rows with `{html.escape(variant)}`."


def build(store: VariantStore, choices: list[tuple[str, str]], default: str | None) -> None:
    """Lay out the upload, the task and variant pickers and the download."""
    gr.Markdown(HELP)
    with gr.Row():
        file = gr.File(label="CSV file", file_types=[".csv"], elem_id="batch-file")
        with gr.Column():
            task = gr.Radio(SINGLE_TASKS, value=SENTIMENT, label="Task")
            variant = gr.Dropdown(choices, value=default, label="Variant")
            refresh_on_focus(variant, lambda: variant_choices(store))
            button = gr.Button("Predict", variant="primary", elem_id="batch-run")
    out = gr.File(label="Predictions", elem_id="batch-out")
    note = gr.Markdown(elem_id="batch-note")
    button.click(event(batch_predict, store), [file, task, variant], [out, note], api_name="batch_predict")
