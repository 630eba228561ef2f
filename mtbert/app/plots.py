"""Plotly figures for the app: attention heatmaps, the similarity scale, results and confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtbert import tasks as task_registry
from mtbert.app.explain import attention_matrix, cross_block
from mtbert.multitask import AttentionView


def _unique(tokens: list[str], prefix: str = "") -> list[str]:
    # Plotly merges equal category labels; number the tokens so repeated words keep their own row/column.
    return [f"{prefix}{i}:{t}" for i, t in enumerate(tokens)]


def attention_figure(
    view: AttentionView, layer: int, head: int | str, a_to_b: bool = False, title: str = ""
) -> go.Figure:
    """Heatmap of one attention map; sentence-B tokens are marked "B·"; optionally only the A->B block."""
    matrix = attention_matrix(view, layer, head)
    head_name = {"mean": "mean over heads", "rollout": f"rollout to layer {layer + 1}"}.get(str(head), f"head {head}")
    if a_to_b:
        matrix, rows, cols = cross_block(view, matrix)
        y, x = _unique(rows, "A·"), _unique(cols, "B·")
    else:
        labels = [("B·" if s else "") + t for t, s in zip(view.tokens, view.segments, strict=True)]
        y = x = _unique(labels)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=x,
            y=y,
            colorscale="Blues",
            zmin=0,
            hovertemplate="from %{y}<br>to %{x}<br>%{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title}layer {layer + 1}, {head_name}" + (" — A→B block" if a_to_b else ""),
        # dtick=1: label every token (plotly would otherwise skip every other one)
        yaxis={"autorange": "reversed", "title": "query token (attends from)", "dtick": 1},
        xaxis={"title": "key token (attends to)", "tickangle": -60, "dtick": 1},
        height=460,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def similarity_scale(score: float) -> go.Figure:
    """A 0-5 gauge for a similarity score."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=score,
            number={"valueformat": ".2f"},
            gauge={
                "axis": {"range": [0, 5], "tickvals": [0, 1, 2, 3, 4, 5]},
                "bar": {"color": "#2563eb"},
                "steps": [{"range": [0, 1], "color": "#f1f5f9"}, {"range": [4, 5], "color": "#dbeafe"}],
            },
            title={"text": "similarity (0 = unrelated, 5 = same meaning)"},
        )
    )
    fig.update_layout(height=260, margin={"l": 30, "r": 30, "t": 60, "b": 10})
    return fig


def results_bars(results: pd.DataFrame) -> go.Figure:
    """Grouped bars of each task's dev metric per variant (SST accuracy, Quora accuracy, STS Pearson)."""
    fig = go.Figure()
    for spec in (task_registry.get(t) for t in task_registry.names()):
        key = spec.metric_key
        if key in results:
            fig.add_bar(
                name=f"{spec.metric_label} ({'Pearson' if spec.output == 'score' else 'accuracy'})",
                x=results["variant"],
                y=results[key],
                text=[f"{v:.3f}" if pd.notna(v) else "" for v in results[key]],  # no "NaN" over a missing task
                textposition="outside",
            )
    fig.update_layout(
        barmode="group",
        yaxis={"range": [0, 1], "title": "dev score"},
        xaxis={"tickangle": -40},
        height=460,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        # Above the plot: below it, a horizontal legend covers the slanted variant names.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def confusion_figure(matrix: np.ndarray, labels: list[str], title: str) -> go.Figure:
    """A confusion matrix heatmap with counts (rows: gold, columns: predicted)."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="gold %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "predicted"},
        yaxis={"title": "gold", "autorange": "reversed"},
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def sts_scatter(frame: pd.DataFrame, title: str) -> go.Figure:
    """STS dev predictions against gold scores."""
    fig = go.Figure(
        go.Scatter(
            x=frame["gold"],
            y=frame["predicted"],
            mode="markers",
            marker={"size": 5, "opacity": 0.5},
            text=frame["sentence1"] + " | " + frame["sentence2"] if "sentence2" in frame else frame["id"],
            hovertemplate="gold %{x:.2f}<br>predicted %{y:.2f}<br>%{text}<extra></extra>",
        )
    )
    fig.add_scatter(x=[0, 5], y=[0, 5], mode="lines", line={"dash": "dash", "color": "gray"}, showlegend=False)
    fig.update_layout(
        title=title,
        xaxis={"title": "gold", "range": [0, 5]},
        yaxis={"title": "predicted", "range": [0, 5]},
        height=400,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=False,
    )
    return fig
