"""What the user's own models and data cost in the app: ``python -m train.benchmark_user_data [--json
assets/user_data_benchmark.json]``.

Measures, in one process on the shipped assets, with a fresh cache folder:

- a model's first open: a copy of ``--model`` (default ``multi-cross``) opened as the user's, its predictions on the
  three dev sets computed (and it checks that they give the shipped variant's recorded dev metrics);
- a second open of the same model, served from the cache;
- the predictions of a single-task LoRA variant (``--single``, default ``single-cross``) for a 10,000-row paraphrase
  dataset: the first 10,000 pairs of the data folder's ``quora-train.csv`` when it is there, else the dev pairs
  repeated under new ids (the JSON says which), then the same dataset again from the disk cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mtbert.app.store import VariantStore
from mtbert.data import DataDirNotFound, read_examples, resolve_data_dir, task_file
from mtbert.datasets import from_examples
from mtbert.lab.benchmark import emit, machine_info
from mtbert.layout import ASSETS, checkpoints_dir
from mtbert.tasks import OVERALL, PARAPHRASE

ROWS = 10_000


def _pairs(assets: Path, data_dir: Path | None) -> tuple[list, str]:
    try:
        train = task_file(resolve_data_dir(data_dir), PARAPHRASE, "train")
        if train.exists():
            return read_examples(train, PARAPHRASE)[:ROWS], "the first 10,000 pairs of quora-train.csv"
    except DataDirNotFound:
        pass
    dev = read_examples(task_file(assets / "data", PARAPHRASE, "dev"), PARAPHRASE)
    repeated = [dev[i % len(dev)] for i in range(ROWS)]
    for i, example in enumerate(repeated):
        repeated[i] = type(example)(f"r{i}", example.a, example.b, example.label)
    return repeated, "the Quora dev pairs repeated under new ids"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--model", default="multi-cross")
    parser.add_argument("--single", default="single-cross")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mtbert-user-data-"))
    os.environ["MTBERT_CACHE_DIR"] = str(work / "cache")
    try:
        mine = work / "runs" / f"my-{args.model}"
        shutil.copytree(checkpoints_dir(args.assets) / args.model, mine)
        start = time.perf_counter()
        store = VariantStore(args.assets, args.data_dir, models=[mine])
        store.evaluate_user_models()
        first_open = time.perf_counter() - start
        ours, shipped = store.variants[mine.name].metrics, store.variants[args.model].metrics
        dev_rows = sum(len(store.dev_dataset(t)) for t in store.variants[mine.name].tasks)
        start = time.perf_counter()
        again = VariantStore(args.assets, args.data_dir, models=[mine])
        again.evaluate_user_models()
        second_open = time.perf_counter() - start

        examples, source = _pairs(args.assets, args.data_dir)
        dataset = store.add_dataset(from_examples("10k pairs", PARAPHRASE, examples, source))
        store.model(args.single)  # loaded before the clock starts: the cost is the predictions
        start = time.perf_counter()
        store.predictions(args.single, dataset.name)
        predict_s = time.perf_counter() - start
        again.add_dataset(dataset)
        again.model(args.single)
        start = time.perf_counter()
        again.predictions(args.single, dataset.name)
        cached_s = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(
        {
            "machine": machine_info() | {"cpus": os.cpu_count()},
            "first_open": {
                "model": f"a copy of {args.model}",
                "dev_rows": dev_rows,
                "seconds": round(first_open, 1),
                "overall": ours.get(OVERALL),
                "shipped_overall": shipped.get(OVERALL),
                "reproduces_shipped": abs(ours.get(OVERALL, 0) - shipped.get(OVERALL, 1)) < 1e-3,
            },
            "second_open_seconds": round(second_open, 2),
            "dataset_predictions": {
                "variant": args.single,
                "rows": len(dataset),
                "rows_from": source,
                "seconds": round(predict_s, 1),
                "rows_per_second": round(len(dataset) / predict_s),
                "cached_seconds": round(cached_s, 2),
            },
        },
        args.json,
    )


if __name__ == "__main__":
    main()
