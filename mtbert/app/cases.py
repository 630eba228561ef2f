"""The Hard cases tab: the mined categories of ``hard_cases.json``; a clicked row opens in the Playground or
Compare."""

from __future__ import annotations

import html
import json
from typing import Any

import gradio as gr
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.app.compare import CompareTab
from mtbert.app.playground import PlaygroundTab
from mtbert.app.service import distance_from_gold, hard_case_table, short_names
from mtbert.app.share import download_button
from mtbert.app.store import VariantStore

HELP = (
    "**How to read this.** Examples mined from the dev sets where models go wrong, by rule "
    "(see `train/mine_hard_cases.py`). Each table lists the gold label and every variant's "
    "prediction, shaded by its distance from gold (white: right on it; red: far off). Variant columns use short "
    "names: hover a header for the full one. Click a row to load it into the Playground (or Compare)."
)
TARGETS = ("Playground", "Compare")
# Numbers and short names never wrap (the sentence columns do).
CSS = (
    ".hard-case-table td:nth-child(n+3) div, .hard-case-table th:nth-child(n+3) * "
    "{ white-space: nowrap !important; word-break: keep-all !important; }"
)


def variant_columns(store: VariantStore) -> dict[str, str]:
    """Full name -> short column name of every variant that appears in a hard-case table."""
    names = {
        v for c in store.hard_cases().get("categories", []) for e in c.get("examples", []) for v in e["predictions"]
    }
    return short_names(sorted(names))


def hard_case_records(store: VariantStore) -> dict[str, Any]:
    """Every category's table as records (what the tab shows), the short column names, and distances from gold."""
    columns = variant_columns(store)
    out = []
    for category in store.hard_cases().get("categories", []):
        frame = hard_case_table(category)
        task = category.get("task", task_registry.SIMILARITY)
        variants = [c for c in frame.columns if c in columns]
        distance = [
            {columns[v]: round(distance_from_gold(task, r["gold"], r[v]), 3) for v in variants}
            for _, r in frame.iterrows()
        ]
        rows = frame.rename(columns=columns).round(2).to_dict(orient="records")
        out.append({"id": category.get("id"), "task": task, "rows": rows, "distance_from_gold": distance})
    return {"columns": columns, "categories": out}


def hover_titles(store: VariantStore) -> str:
    """A script for the page's head: each short variant header in a hard-case table shows its full name on hover."""
    full = {short: name for name, short in variant_columns(store).items()}
    return (
        "<script>(() => { const names = " + json.dumps(full) + ";"
        " const mark = () => document.querySelectorAll('.hard-case-table th').forEach(th => {"
        " const t = th.innerText.trim(); if (names[t] && th.title !== names[t]) th.title = names[t]; });"
        " new MutationObserver(mark).observe(document, {childList: true, subtree: true}); })();</script>"
    )


def styled(frame: pd.DataFrame, task: str, columns: dict[str, str]) -> Any:
    """The table with short variant headers, 2 decimals, and each prediction shaded by its distance from gold."""
    variants = [c for c in frame.columns if c in columns]

    frame = frame.rename(columns={c: columns[c] for c in variants})
    shaded = {columns[c] for c in variants}

    def shade(row: pd.Series) -> list[str]:
        return [
            f"background-color: rgba(220, 38, 38, {0.55 * distance_from_gold(task, row['gold'], row[c]):.2f})"
            if c in shaded
            else ""
            for c in frame.columns
        ]

    renamed = {c: columns[c] for c in variants}
    return (
        frame.style.apply(shade, axis=1)
        .format(precision=2)
        .relabel_index([renamed.get(c, c) for c in frame.columns], axis="columns")
    )


def column_widths(columns: list[str], task: str = task_registry.SIMILARITY, page_px: int = 1180) -> list[str]:
    """Sentences get most of a hard-case table's width; gold and the variants' predictions share the rest. When
    that would squeeze the predictions (many variants), columns get fixed pixel widths and the table scrolls
    sideways instead."""
    sentences = [c for c in columns if c.startswith("sentence")]
    sentence_px = 280 if len(sentences) > 1 else 380
    value_px = 96 if task_registry.get(task).output == "classes" else 60
    if sentence_px * len(sentences) + value_px * (len(columns) - len(sentences)) > page_px:
        return [f"{sentence_px}px" if c in sentences else f"{value_px}px" for c in columns]
    each = 50 // len(sentences) if len(sentences) > 1 else 35
    rest = (100 - each * len(sentences)) / max(len(columns) - len(sentences), 1)
    return [f"{each}%" if c in sentences else f"{rest:.1f}%" for c in columns]


def load_case(target: str, task: str, row: list[Any]) -> dict[str, Any]:
    """Inputs for the Playground and Compare from a clicked row, and the tab to open."""
    a, b = row[0], (row[1] if task_registry.is_pair(task) else "")
    tab = "playground" if target == TARGETS[0] else "compare"
    return {"task": task, "a": a, "b": b, "c_task": task, "c_a": a, "c_b": b, "tabs": gr.Tabs(selected=tab)}


def build(store: VariantStore, playground: PlaygroundTab, compare: CompareTab, tabs: gr.Tabs) -> None:
    """Lay out one table per category; clicking a row loads it into the Playground or Compare."""
    gr.Markdown(HELP)
    open_in = gr.Radio(list(TARGETS), value=TARGETS[0], label="Clicking a row opens it in")
    categories = store.hard_cases().get("categories", [])
    columns = variant_columns(store)
    if not categories:
        gr.Markdown("No hard cases are shipped yet (`assets/hard_cases.json` is missing).")
    targets = dict(
        zip(
            ("task", "a", "b", "c_task", "c_a", "c_b", "tabs"),
            (playground.task, playground.sentence_a, playground.sentence_b, compare.task)
            + (compare.sentence_a, compare.sentence_b, tabs),
            strict=True,
        )
    )
    for category in categories:
        gr.Markdown(
            f"### {html.escape(category.get('title', category.get('id', '')))}\n"
            f"{html.escape(category.get('description', ''))}"
        )
        frame = hard_case_table(category)
        task = category.get("task", task_registry.SIMILARITY)
        table = gr.Dataframe(
            styled(frame, task, columns),
            interactive=False,
            wrap=True,
            column_widths=column_widths(list(frame.columns), task),
            elem_classes=["hard-case-table"],
        )
        download_button(table, f"hard-cases-{category.get('id', 'category')}", frame)
        if task_registry.get(task).output == "classes":
            names = task_registry.get(task).class_names
            gr.Markdown("Classes (gold and predicted): " + ", ".join(f"{i} {n}" for i, n in enumerate(names)) + ".")

        def select(target: str, evt: gr.SelectData, task: str = task) -> dict[Any, Any]:
            return {targets[k]: v for k, v in load_case(target, task, evt.row_value).items()}

        table.select(select, [open_in], list(targets.values()), api_visibility="private")
