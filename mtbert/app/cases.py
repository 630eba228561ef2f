"""The Hard cases tab: the mined categories of ``hard_cases.json``; a clicked row opens in the Playground or
Compare."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.compare import CompareTab
from mtbert.app.playground import PlaygroundTab
from mtbert.app.service import hard_case_table
from mtbert.app.store import VariantStore

HELP = (
    "**How to read this.** Examples mined from the dev sets where models go wrong, by rule "
    "(see `train/mine_hard_cases.py`). Each table lists the gold label and every variant's "
    "prediction. Click a row to load it into the Playground (or Compare)."
)
TARGETS = ("Playground", "Compare")


def column_widths(columns: list[str]) -> list[str]:
    """Sentences get most of a hard-case table's width; gold and the variants' predictions share the rest."""
    sentences = [c for c in columns if c.startswith("sentence")]
    each = 60 // len(sentences) if len(sentences) > 1 else 45
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
        table = gr.Dataframe(
            frame,
            interactive=False,
            wrap=True,
            column_widths=column_widths(list(frame.columns)),
            elem_classes=["hard-case-table"],
        )
        task = category.get("task", task_registry.SIMILARITY)

        def select(target: str, evt: gr.SelectData, task: str = task) -> dict[Any, Any]:
            return {targets[k]: v for k, v in load_case(target, task, evt.row_value).items()}

        table.select(select, [open_in], list(targets.values()), api_visibility="private")
