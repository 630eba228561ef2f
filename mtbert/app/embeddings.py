"""The embedding map: a 2-D projection (PCA, or UMAP when ``umap-learn`` is installed) of the pooled embeddings a
variant's model gives the rows of a dataset (a dev set or the user's own, up to MAX_POINTS of them), coloured by
gold, prediction or error; the user's own input can be placed on it. Embeddings are computed on first use and
cached on disk under a key that includes a hash of the model's weights."""

from __future__ import annotations

import hashlib
import html
import importlib.util
import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from sklearn.decomposition import PCA

from mtbert import tasks as task_registry
from mtbert.app.explorer import dataset_for, predictions_table
from mtbert.app.service import InputError, check_text
from mtbert.app.store import VariantStore
from mtbert.app.ui import SINGLE_TASKS, default_variant, event, refresh_on_focus
from mtbert.backbones import cache_dir
from mtbert.checkpoint import stored_state_dict
from mtbert.data import Example, bucketed_batches
from mtbert.files import write_atomic
from mtbert.multitask import MultitaskModel
from mtbert.tasks import SIMILARITY

COLOURS = ("gold", "prediction", "error")
MAX_POINTS = 5000  # a larger dataset is drawn from a fixed random sample of its rows
HELP = (
    "**How to read this.** Each point is an example of the dataset (a dev set, or one you added in the Explorer) "
    "as the variant's model sees it: the pooled embedding its head reads (one cross-encoded pass for a pair, or "
    "the two sentence embeddings side by side), "
    "projected to 2-D. Points that sit together look alike to the model. Colour them by gold label, prediction or "
    "error; hover for the text. Type a sentence (and a second one for a pair task) to place your own input on the "
    "map (a star). The first map of a variant and dataset is computed (a progress bar shows how far) and cached."
)


def methods() -> list[str]:
    """PCA always; UMAP when umap-learn is installed."""
    return ["PCA", "UMAP"] if importlib.util.find_spec("umap") else ["PCA"]


def model_key(model: MultitaskModel, task: str) -> str:
    """A hash of what decides the embeddings: the backbone, the stored weights, pooling and pair encoding."""
    digest = hashlib.sha256(f"{model.backbone_name}|{task}|{model.head_config}".encode())
    for name, tensor in sorted(stored_state_dict(model).items()):
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:24]


def embed(model: MultitaskModel, examples: list[Example], progress: Any = None, batch_size: int = 64) -> np.ndarray:
    """(N, D) pooled embeddings: of each sentence or cross-encoded pair, or [u; v] of a pair embedded twice."""
    model.eval()
    items = model.items_for(examples)
    batches = bucketed_batches(items, batch_size, shuffle=False)
    out: np.ndarray | None = None
    with torch.inference_mode():
        for i, batch in enumerate(batches):
            parts = [model.embed(x)[0] for x in batch.inputs]
            vectors = torch.cat(parts, dim=-1).cpu().numpy()
            if out is None:
                out = np.zeros((len(items), vectors.shape[1]), dtype=np.float32)
            out[batch.indices] = vectors
            if progress is not None:
                progress((i + 1) / len(batches), desc="embedding the examples")
    assert out is not None
    return out


@dataclass
class Projection:
    """The examples' 2-D coordinates and what places a new point among them."""

    frame: pd.DataFrame  # id, text, gold, predicted, error, x, y
    reducer: Any  # fitted PCA or UMAP (transform places new embeddings)


_projections: dict[tuple[str, str, str, str, str], Projection] = {}
_lock = threading.Lock()


def projection(
    store: VariantStore, task: str, variant: str, method: str, progress: Any = None, dataset: str | None = None
) -> Projection:
    """The variant's map of a dataset of ``task`` (its dev set by default): embeddings from the disk cache (or
    computed and cached), then projected."""
    model = store.model(variant).model_for(task)
    data = dataset_for(store, task, dataset)
    key = (variant, task, method, model_key(model, task), data.sha256)
    with _lock:
        if key in _projections:
            return _projections[key]
    rows = data.frame.drop(columns="gold", errors="ignore")
    frame = rows.merge(predictions_table(store, data, variant, progress), on="id")
    if len(frame) > MAX_POINTS:
        frame = frame.sample(MAX_POINTS, random_state=11711).reset_index(drop=True)
    pair = task_registry.is_pair(task)
    examples = [Example(r.id, r.sentence1, r.sentence2 if pair else None) for r in frame.itertuples(index=False)]
    path = cache_dir() / "embeddings" / f"{key[3]}-{hashlib.sha256(''.join(frame['id']).encode()).hexdigest()[:12]}.npy"
    if path.exists():
        vectors = np.load(path, allow_pickle=False)
    else:
        vectors = embed(model, examples, progress)
        write_atomic(path, lambda tmp: np.save(tmp, vectors, allow_pickle=False), suffix=".tmp.npy")
    reducer = _reducer(method).fit(vectors)
    coords = reducer.transform(vectors)
    frame = frame.assign(x=coords[:, 0], y=coords[:, 1])
    frame["text"] = frame["sentence1"] + (" | " + frame["sentence2"] if pair else "")
    result = Projection(frame, reducer)
    with _lock:
        _projections[key] = result
    return result


def _reducer(method: str) -> Any:
    if method == "UMAP":
        import umap

        return umap.UMAP(n_components=2, random_state=11711, n_jobs=1)
    if method != "PCA":
        raise InputError(f"unknown projection {method!r}: pick one of {', '.join(methods())}")
    return PCA(n_components=2, random_state=11711)


def figure(result: Projection, task: str, colour: str, title: str, mine: tuple[np.ndarray, str] | None) -> go.Figure:
    """The map: one point per dev example, coloured as asked, and the user's input as a star."""
    spec = task_registry.get(task)
    frame = result.frame
    hover = [html.escape(t[:160]) for t in frame["text"]]
    if colour == "error" or (spec.output == "score" and colour in ("gold", "prediction")):
        values = frame[{"gold": "gold", "prediction": "predicted", "error": "error"}[colour]]
        marker = {
            "color": values,
            "colorscale": "Viridis" if colour != "error" else "Reds",
            "showscale": True,
            "size": 6,
            "opacity": 0.75,
            "colorbar": {"title": colour},
        }
        fig = go.Figure(
            go.Scattergl(
                name="examples",
                x=frame["x"],
                y=frame["y"],
                mode="markers",
                marker=marker,
                text=hover,
                hovertemplate="%{text}<br>" + colour + " %{marker.color:.2f}<extra></extra>",
            )
        )
    else:
        column = frame["gold"] if colour == "gold" else frame["predicted"]
        labels = column.map(
            lambda v: (
                spec.labels()[int(spec.decide(np.asarray(v)))]
                if spec.output == "probability"
                else spec.class_names[int(v)]
            )
        )
        fig = go.Figure()
        for label in [n for n in spec.labels() if n in set(labels)]:
            keep = labels == label
            fig.add_trace(
                go.Scattergl(
                    x=frame["x"][keep],
                    y=frame["y"][keep],
                    mode="markers",
                    name=label,
                    marker={"size": 6, "opacity": 0.75},
                    text=[h for h, k in zip(hover, keep, strict=True) if k],
                    hovertemplate="%{text}<extra>" + html.escape(label) + "</extra>",
                )
            )
    if mine is not None:
        point, text = mine
        fig.add_trace(
            go.Scatter(
                x=[point[0]],
                y=[point[1]],
                mode="markers",
                name="your input",
                marker={"symbol": "star", "size": 18, "color": "black"},
                text=[html.escape(text[:160])],
                hovertemplate="%{text}<extra>your input</extra>",
            )
        )
    fig.update_layout(
        title=title,
        height=560,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis={"title": "component 1"},
        legend={"orientation": "h", "y": -0.12},
        yaxis={"title": "component 2"},
    )
    return fig


def embedding_map(
    store: VariantStore,
    task: str,
    variant: str,
    method: str,
    colour: str,
    sentence_a: str,
    sentence_b: str,
    dataset: str | None = None,
    progress: Any = gr.Progress(),  # noqa: B008
) -> dict[str, Any]:
    """The map of a variant on a dataset of a task (its dev set unless ``dataset`` names another), coloured by
    gold, prediction or error, with the user's input on it."""
    if task not in task_registry.names() or colour not in COLOURS:
        raise InputError(f"pick a task among {', '.join(task_registry.names())} and a colour among {COLOURS}")
    if variant not in store.variants:
        raise InputError(f"unknown variant {variant!r}")
    data = dataset_for(store, task, dataset)
    if colour != "prediction" and not data.labelled:
        raise InputError(f"{data.name} has no labels: colour it by prediction")
    progress(0, desc="loading the variant")
    result = projection(store, task, variant, method, progress, data.name)
    mine = None
    if sentence_a and sentence_a.strip():
        pair = task_registry.is_pair(task)
        second = check_text(sentence_b, "Sentence B") if pair else None
        model = store.model(variant).model_for(task)
        vector = embed(model, [Example("you", sentence_a, second)])
        mine = (result.reducer.transform(vector)[0], sentence_a + (f" | {second}" if pair else ""))
    sample = (
        f"a sample of {len(result.frame):,} of {len(data):,}" if len(data) > len(result.frame) else f"{len(data):,}"
    )
    title = f"{variant} on {data.name} ({sample} examples, {method}), coloured by {colour}"
    note = "" if mine is None else "Your input is the star."
    return {"map": figure(result, task, colour, title, mine), "note": note}


def build(store: VariantStore) -> None:
    """Lay out the embedding map's pickers, the optional input and the map."""
    gr.Markdown(HELP)
    with gr.Row():
        task = gr.Radio(SINGLE_TASKS, value=SIMILARITY, label="Task")
        datasets = [d.name for d in store.datasets_for(SIMILARITY)]
        dataset = gr.Dropdown(datasets, value=next(iter(datasets), None), label="Dataset", elem_id="map-dataset")
        names = [v.name for v in store.usable(SIMILARITY)]
        variant = gr.Dropdown(names, value=default_variant(store, SIMILARITY), label="Variant", elem_id="map-variant")
        refresh_on_focus(variant, lambda t: [v.name for v in store.usable(t)], [task])
        method = gr.Radio(methods(), value="PCA", label="Projection")
        colour = gr.Radio(list(COLOURS), value="gold", label="Colour by")
    with gr.Row():
        sentence_a = gr.Textbox(label="Your sentence (optional)", max_length=2000, elem_id="map-a")
        sentence_b = gr.Textbox(label="Second sentence (pair tasks)", max_length=2000, elem_id="map-b")
        button = gr.Button("Draw the map", variant="primary", elem_id="map-run")
    note = gr.Markdown(elem_id="map-note")
    plot = gr.Plot(label="Embedding map", elem_id="map-plot")
    outputs = {"map": plot, "note": note}
    inputs = [task, variant, method, colour, sentence_a, sentence_b, dataset]
    button.click(event(embedding_map, store, outputs), inputs, list(outputs.values()), api_name="embedding_map")

    def variants_for(task: str) -> tuple[Any, Any]:
        names, datasets = [v.name for v in store.usable(task)], [d.name for d in store.datasets_for(task)]
        return (
            gr.update(choices=names, value=default_variant(store, task)),
            gr.update(choices=datasets, value=next(iter(datasets), None)),
        )

    task.change(variants_for, task, [variant, dataset], api_visibility="private")
    dataset.focus(
        lambda task: gr.update(choices=[d.name for d in store.datasets_for(task)]),
        task,
        dataset,
        api_visibility="private",
    )
