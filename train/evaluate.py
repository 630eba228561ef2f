"""Evaluate checkpoints: ``python -m train.evaluate CKPT [CKPT ...] --data-dir D --split dev [--json OUT]``.

Prints SST accuracy, Quora accuracy, STS Pearson and the overall score; writes confusion matrices and
per-example predictions under ``--out-dir/<name>/``; ``--write-predictions`` also writes CS224N-format
prediction files for the ``*-test-student`` files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mtbert import tasks
from mtbert.checkpoint import BackboneCache, CheckpointError, load
from mtbert.data import DataDirNotFound, resolve_data_dir
from mtbert.evaluation import evaluate, write_report, write_test_predictions, zero_shot_similarity
from mtbert.files import write_json_atomic
from mtbert.layout import RUNS


def checkpoint_name(path: Path) -> str:
    """A readable name: the directory's name, or its parent's for ``.../<run>/best``."""
    path = path.resolve()
    return path.parent.name if path.name == "best" else path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument(
        "--zero-shot", action="append", default=[], metavar="BACKBONE", help="also: STS Pearson of raw cosine"
    )
    parser.add_argument("--data-dir", help="folder with the CS224N files (default: $MTBERT_DATA_DIR or ../shared/data)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--json", type=Path, help="write the metrics here")
    parser.add_argument("--out-dir", type=Path, default=RUNS / "eval", help="confusion matrices and predictions")
    parser.add_argument("--sst-file", default=tasks.SST_STEM, help="'ids-cfimdb' for the binary movie reviews")
    parser.add_argument("--no-text", action="store_true", help="leave sentences out of the predictions files")
    parser.add_argument("--write-predictions", action="store_true", help="also predict the *-test-student files")
    args = parser.parse_args(argv)
    if not args.checkpoints and not args.zero_shot:
        parser.error("give checkpoints to evaluate, or --zero-shot BACKBONE")
    try:
        data_dir = resolve_data_dir(args.data_dir)
        cache = BackboneCache()
        results = {}
        for backbone in args.zero_shot:
            pearson = zero_shot_similarity(backbone, data_dir, args.split)
            key = tasks.get(tasks.SIMILARITY).metric_key
            results[f"zero-shot {backbone}"] = {key: pearson}
            print(f"zero-shot {backbone}: {key}={pearson:.4f} (cosine of mean-pooled embeddings)")
        for path in args.checkpoints:
            name = checkpoint_name(path)
            model = load(path, cache)
            report = evaluate(model, data_dir, args.split, sst_file=args.sst_file)
            write_report(report, args.out_dir / name, args.split, include_text=not args.no_text)
            if args.write_predictions:
                write_test_predictions(model, data_dir, args.out_dir / name, args.sst_file)
            results[name] = report.metrics
            print(f"{name}: " + "  ".join(f"{k}={v:.4f}" for k, v in report.metrics.items()))
    except (CheckpointError, DataDirNotFound) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        write_json_atomic(args.json, results if len(results) > 1 else next(iter(results.values())))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
