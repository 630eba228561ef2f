"""mtbert lab: a Gradio app over the shipped checkpoints in assets/.

``python app.py [--host 127.0.0.1] [--port 7860] [--assets assets] [--data-dir DIR] [--precision int8]
[--models PATH ...] [--datasets NAME=PATH[:task] ...] [--allow-training] [--runs-dir runs] [--presets DIR ...]``.
This file only wires the UI: each tab is built by its module in ``mtbert/app/`` (layout, handlers and events),
over one ``VariantStore``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402

from mtbert.app import (  # noqa: E402
    api,
    batch_tab,
    cases,
    cli,
    compare,
    embeddings,
    explorer,
    playground,
    rest,
    results,
    runs_tab,
    share,
    train_tab,
)
from mtbert.app.store import VariantStore  # noqa: E402
from mtbert.app.training_jobs import TrainingJobs  # noqa: E402
from mtbert.app.ui import QUEUE_MAX, THEME, broken_notice, default_variant, variant_choices  # noqa: E402
from mtbert.app.uploads import MAX_UPLOAD  # noqa: E402
from mtbert.datasets import DatasetError, parse_spec, read_file  # noqa: E402
from mtbert.layout import RUNS  # noqa: E402

TITLE = (
    "# mtbert lab\nA small multitask BERT (sentiment · paraphrase · similarity) on "
    "all-MiniLM-L6-v2 weights. Try inputs, compare head architectures, browse hard cases and results."
)


def build_app(store: VariantStore, jobs: TrainingJobs | None = None) -> gr.Blocks:
    """The whole app over ``store`` (and the training runs ``jobs``; none: training is off). Models load lazily, once
    per variant, sharing each backbone's weights."""
    jobs = jobs or TrainingJobs(RUNS / "app", allowed=False)
    if jobs.on_finish is None:
        jobs.on_finish = lambda job, folder: train_tab.add_finished_run(store, jobs, job, folder)
    train_tab.add_finished_runs(store, jobs)
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
            with gr.Tab("Runs", id="runs"):
                runs_tab.build(store, jobs.folders)
            with gr.Tab("Train", id="train"):
                train_tab.build(store, jobs, playground_tab, compare_tab, tabs, demo)
        api.register(store, jobs)
        share.build(store, demo, playground_tab)
    demo.queue(default_concurrency_limit=2, max_size=QUEUE_MAX)
    if default:  # load the opening variant in the background so the first click does not wait for it
        threading.Thread(target=store.model, args=(default,), daemon=True).start()
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    args = parser.parse_args(argv)
    try:
        datasets = [read_file(*parse_spec(spec)) for spec in args.datasets]
    except DatasetError as err:
        parser.error(str(err))
    store = VariantStore(args.assets, args.data_dir, args.precision, args.models, datasets)
    if args.evaluate_now:
        store.evaluate_user_models(cli.terminal_progress)
    jobs = TrainingJobs(args.runs_dir, args.presets, args.data_dir, args.allow_training)

    # SIGTERM (a service manager, a test): the runs this server started save their state first.
    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM (timeout and pkill alike) while exiting
        jobs.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    build_app(store, jobs).launch(server_name=args.host, server_port=args.port, **launch_options(store))


def launch_options(store: VariantStore) -> dict[str, Any]:
    """What ``launch`` takes besides the address: the theme, the styles, the upload limit."""
    return {
        "share": False,
        "theme": THEME,
        "footer_links": ["api"],
        "show_error": True,
        "css": cases.CSS + explorer.CSS,
        "head": cases.hover_titles(store),
        "max_file_size": MAX_UPLOAD,
        "app_kwargs": {"routes": rest.routes(store)},  # POST /v1/predict: plain JSON, beside the Gradio API
    }


if __name__ == "__main__":
    main()
