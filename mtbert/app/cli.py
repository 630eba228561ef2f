"""``app.py``'s command line: its options, and the terminal's progress bar for ``--evaluate-now``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from mtbert.app.store import PRECISIONS
from mtbert.catalog import Variant
from mtbert.datasets import Dataset
from mtbert.layout import ASSETS, RUNS
from mtbert.user_models import MODELS_ENV, paths_from_env


def terminal_progress(variant: Variant, dataset: Dataset) -> Callable[[float, str], None]:
    """A tqdm bar in the terminal for a user model's first predictions on a dev set."""
    bar = tqdm(total=len(dataset), desc=f"{variant.name} on {dataset.name}", unit="row")

    def update(fraction: float, desc: str) -> None:
        bar.update(round(fraction * len(dataset)) - bar.n)
        if fraction >= 1:
            bar.close()

    return update


def parser(description: str | None) -> argparse.ArgumentParser:
    """``app.py``'s options."""
    parser = argparse.ArgumentParser(description=description)
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
    parser.add_argument(
        "--allow-training",
        action="store_true",
        help="let the Train tab and its API start training runs (off by default: a public demo must not)",
    )
    parser.add_argument("--runs-dir", type=Path, default=RUNS / "app", help="where the app's training runs go")
    parser.add_argument("--presets", type=Path, nargs="+", default=[], metavar="DIR", help="more preset folders")
    return parser
