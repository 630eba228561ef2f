"""mtbert lab: a Gradio app over the shipped checkpoints in assets/.

``python app.py [--host 127.0.0.1] [--port 7860] [--assets assets] [--data-dir DIR] [--precision int8]
[--models PATH ...] [--datasets NAME=PATH[:task] ...]``.
This file only wires the UI: each tab is built by its module in ``mtbert/app/`` (layout, handlers and events),
over one ``VariantStore``.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mtbert.app import api, batch_tab, cases, compare, embeddings, explorer, playground, results, share  # noqa: E402
from mtbert.app.store import PRECISIONS, VariantStore  # noqa: E402
from mtbert.app.ui import THEME, broken_notice, default_variant, variant_choices  # noqa: E402
from mtbert.app.uploads import MAX_UPLOAD  # noqa: E402
from mtbert.catalog import Variant  # noqa: E402
from mtbert.datasets import Dataset, DatasetError, parse_spec, read_file  # noqa: E402
from mtbert.layout import ASSETS  # noqa: E402
from mtbert.user_models import MODELS_ENV, paths_from_env  # noqa: E402

TITLE = (
    "# mtbert lab\nA small multitask BERT (sentiment · paraphrase · similarity) on "
    "all-MiniLM-L6-v2 weights. Try inputs, compare head architectures, browse hard cases and results."
)


def build_app(store: VariantStore) -> gr.Blocks:
    """The whole app over ``store``. Models load lazily, once per variant, sharing each backbone's weights."""
    default, choices = default_variant(store), variant_choices(store)
    with gr.Blocks(title="mtbert lab — multitask BERT explorer", analytics_enabled=False) as demo:
        gr.Markdown(TITLE)
        if not store.usable():
            gr.Markdown("**No usable model variants were found in `assets/checkpoints/`.**")
        notice = broken_notice(store)
        if notice:
            gr.Markdown(notice, elem_id="broken-variants")
        with gr.Tabs() as tabs:
            with gr.Tab("Playground", id="playground"):
                playground_tab = playground.build(store, choices, default)
            with gr.Tab("Compare", id="compare"):
                compare_tab = compare.build(store, choices)
            with gr.Tab("Hard cases", id="hard"):
                cases.build(store, playground_tab, compare_tab, tabs)
            with gr.Tab("Explorer", id="explorer"):
                explorer.build(store, playground_tab, tabs)
            with gr.Tab("Embedding map", id="map"):
                embeddings.build(store)
            with gr.Tab("Results", id="results"):
                results.build(store, choices, default, demo)
            with gr.Tab("Batch", id="batch"):
                batch_tab.build(store, choices, default)
        api.register(store)
        share.build(store, demo, playground_tab)
    demo.queue(default_concurrency_limit=2)
    if default:  # load the opening variant in the background so the first click does not wait for it
        threading.Thread(target=store.model, args=(default,), daemon=True).start()
    return demo


def terminal_progress(variant: Variant, dataset: Dataset) -> Callable[[float, str], None]:
    """A tqdm bar in the terminal for a user model's first predictions on a dev set."""
    bar = tqdm(total=len(dataset), desc=f"{variant.name} on {dataset.name}", unit="row")

    def update(fraction: float, desc: str) -> None:
        bar.update(round(fraction * len(dataset)) - bar.n)
        if fraction >= 1:
            bar.close()

    return update


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--assets", type=Path, default=ASSETS, help="folder with checkpoints/ and results")
    parser.add_argument("--data-dir", type=Path, help="the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="int8: dynamic quantisation")
    parser.add_argument(
        "--models",
        nargs="+",
        default=paths_from_env(),
        metavar="PATH",
        help=f"your own models beside the shipped: a checkpoint, a run folder, a Hugging Face "
        f"BertForSequenceClassification folder (PATH#scale=0-1 reads a similarity model on 0-1) or a folder of "
        f"these (or ${MODELS_ENV})",
    )
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=[],
        metavar="NAME=PATH[:task]",
        help="your own datasets (CSV, TSV, JSONL or Parquet; the task is guessed from the columns unless given)",
    )
    parser.add_argument(
        "--evaluate-now",
        action="store_true",
        help="compute your models' dev metrics before serving (a bar here), not on the first page load (a bar there)",
    )
    args = parser.parse_args(argv)
    try:
        datasets = [read_file(*parse_spec(spec)) for spec in args.datasets]
    except DatasetError as err:
        parser.error(str(err))
    store = VariantStore(args.assets, args.data_dir, args.precision, args.models, datasets)
    if args.evaluate_now:
        store.evaluate_user_models(terminal_progress)
    build_app(store).launch(
        server_name=args.host,
        server_port=args.port,
        share=False,
        theme=THEME,
        footer_links=["api"],
        show_error=True,
        css=cases.CSS + explorer.CSS,
        head=cases.hover_titles(store),
        max_file_size=MAX_UPLOAD,
    )


if __name__ == "__main__":
    main()
