"""The attention overview (BertViz's model view): every layer x head of the current input as one grid image of
small maps; clicking one opens it large in the Playground's attention map."""

from __future__ import annotations

import base64
import hashlib
import io
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from mtbert.files import write_atomic
from mtbert.multitask import AttentionView

# The "Blues" scale's ends: white for no attention, dark blue for all of it.
LOW, HIGH = np.array([247, 251, 255], dtype=np.float32), np.array([8, 48, 107], dtype=np.float32)
CELL = 72  # pixels a side of one head's map in the grid
GAP = 6
MARGIN = 34  # room for the layer and head labels


def thumbnail(matrix: np.ndarray, size: int = CELL) -> np.ndarray:
    """A (T, T) attention map as a (size, size, 3) RGB image, each row scaled to its own maximum."""
    scaled = matrix / np.maximum(matrix.max(axis=-1, keepdims=True), 1e-9)
    image = LOW + (HIGH - LOW) * scaled[..., None]  # (T, T, 3)
    index = np.arange(size) * len(matrix) // size  # nearest token for each pixel
    return image[index][:, index].astype(np.uint8)


def pick_view(views: list[AttentionView], which: str) -> AttentionView | None:
    if not views:
        return None
    return views[1] if which == "sentence B" and len(views) == 2 else views[0]


def grid(views: list[AttentionView], which: str) -> np.ndarray | None:
    """Every layer x head of the chosen input as one image: a row per layer, a column per head, labelled."""
    view = pick_view(views, which)
    if view is None:
        return None
    layers, heads = view.attentions.shape[:2]
    step = CELL + GAP
    image = Image.new("RGB", (MARGIN + heads * step, MARGIN + layers * step), "white")
    draw = ImageDraw.Draw(image)
    for h in range(heads):
        draw.text((MARGIN + h * step + CELL // 2 - 8, 8), f"H{h + 1}", fill=(60, 60, 60))
    for l in range(layers):
        draw.text((4, MARGIN + l * step + CELL // 2 - 6), f"L{l + 1}", fill=(60, 60, 60))
        for h in range(heads):
            cell = Image.fromarray(thumbnail(view.attentions[l, h]))
            image.paste(cell, (MARGIN + h * step, MARGIN + l * step))
    return np.asarray(image)


def head_at(views: list[AttentionView], x: int, y: int) -> tuple[int, str] | None:
    """The (layer from 1, head) under a click at pixel (x, y) of the grid image; None between maps."""
    if not views:
        return None
    layers, heads = views[0].attentions.shape[:2]
    step = CELL + GAP
    column, row = (x - MARGIN) // step, (y - MARGIN) // step
    if x < MARGIN or y < MARGIN or column >= heads or row >= layers:
        return None
    return int(row) + 1, str(int(column))


def grid_file(views: list[AttentionView], which: str) -> str | None:
    """The grid as a PNG file named by its content. Gradio copies a file into its cache once, whereas an image
    array is written again on every identical answer, under the same name, while a browser may be reading it."""
    image = grid(views, which)
    if image is None:
        return None
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", optimize=True)
    data = buffer.getvalue()
    path = Path(tempfile.gettempdir()) / "mtbert-attention" / f"{hashlib.sha256(data).hexdigest()[:24]}.png"
    if not path.exists():
        write_atomic(path, lambda tmp: tmp.write_bytes(data))
    return str(path)


def grid_png(views: list[AttentionView], which: str) -> str:
    """The grid as a PNG data URL (what the /attention_grid endpoint returns)."""
    image = grid(views, which)
    if image is None:
        return ""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def build(views: gr.State, which: gr.Radio) -> gr.Image:
    """The grid of all layers x heads under the large map; it follows the input picker (a click on it is wired by
    the tab that shows the large map)."""
    image = gr.Image(
        label="All layers × heads (click a map to open it above)",
        interactive=False,
        show_label=True,
        elem_id="attention-grid",
    )
    which.input(grid_file, [views, which], image, api_visibility="private", show_progress="hidden")
    return image
