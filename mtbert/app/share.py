"""Share and export: the Playground's state (task, variant, sentences) round-trips through the page's URL, so a
link opens the same view; tables download as CSV (plots carry Plotly's own PNG button)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.app.playground import PlaygroundTab
from mtbert.app.service import ALL_TASKS, InputError
from mtbert.app.store import VariantStore
from mtbert.files import write_text_atomic

MAX_URL_TEXT = 1000
# Runs in the browser on Run: writes the inputs into the URL (replacing it, so Back still leaves the page).
TO_URL = """(task, a, b, variant) => {
  const q = new URLSearchParams({task: task || "", variant: variant || "", a: a || "", b: b || ""});
  window.history.replaceState(null, "", "?" + q.toString());
  return [task, a, b, variant];
}"""


def from_url(store: VariantStore, params: dict[str, str]) -> dict[str, Any]:
    """Playground inputs from a link's query (``?task=...&variant=...&a=...&b=...``); what is missing, unknown or
    too long is left as it is."""
    out: dict[str, Any] = {name: gr.skip() for name in ("task", "a", "b", "variant")}
    task = params.get("task", "")
    if task in task_registry.names() or task in ALL_TASKS:
        out["task"] = task
    variant = params.get("variant", "")
    if variant in store.variants and store.variants[variant].error is None:
        out["variant"] = variant
    for key in ("a", "b"):
        text = params.get(key)
        if text is not None and len(text) <= MAX_URL_TEXT:
            out[key] = text
    return out


def link_query(store: VariantStore, task: str, sentence_a: str, sentence_b: str, variant: str) -> str:
    """``?task=...&variant=...&a=...&b=...`` for an input the Playground can open (what Run writes in the URL)."""
    from urllib.parse import urlencode

    params = {"task": task, "variant": variant, "a": sentence_a or "", "b": sentence_b or ""}
    checked = from_url(store, params)
    refused = [k for k, v in checked.items() if not isinstance(v, str) and params[k]]
    if refused:
        raise InputError(f"cannot put these in a link: {', '.join(refused)} (unknown, or over {MAX_URL_TEXT} chars)")
    return "?" + urlencode(params)


def csv_file(frame: pd.DataFrame | None, name: str) -> str | None:
    """A table as a CSV file to download (None for no table)."""
    if frame is None or len(frame) == 0:
        return None
    path = Path(tempfile.mkdtemp(prefix="mtbert-export-")) / f"{name}.csv"
    write_text_atomic(path, frame.to_csv(index=False))
    return str(path)


def download_button(table: gr.Dataframe, name: str, frame: pd.DataFrame | None = None) -> gr.DownloadButton:
    """A "Download CSV" button for a table: filled now for a fixed ``frame``, else whenever the table changes."""
    button = gr.DownloadButton(
        "Download CSV", value=csv_file(frame, name), size="sm", variant="secondary", elem_id=f"{name}-tab-download"
    )
    if frame is None:

        def refresh(value: pd.DataFrame) -> str | None:
            return csv_file(value if isinstance(value, pd.DataFrame) else None, name)

        table.change(refresh, table, button, api_visibility="private", show_progress="hidden")
    return button


def build(store: VariantStore, demo: gr.Blocks, playground: PlaygroundTab) -> None:
    """Fill the Playground from the URL when the page opens, and write it to the URL on every Run."""
    targets = {"task": playground.task, "a": playground.sentence_a, "b": playground.sentence_b}
    targets["variant"] = playground.variant

    def load(request: gr.Request) -> dict[Any, Any]:
        params = dict(request.query_params) if request is not None else {}
        return {targets[k]: v for k, v in from_url(store, params).items()}

    demo.load(load, None, list(targets.values()), api_visibility="private")
    playground.run.click(None, list(targets.values()), list(targets.values()), js=TO_URL, api_visibility="private")
