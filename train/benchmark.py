"""Inference benchmark: ``python -m train.benchmark [--data-dir D] [--json assets/benchmark.json]``.

Measures, in one run, on the SST dev sentences (batch 64, inference mode): minBERT vs transformers'
BertModel on the same file-order batches; minBERT on evaluation's length-bucketed batches; and the
single-pair latency with ``return_attentions=True``; and ONNX Runtime as the peer of minBERT's encoder, fp32 and
int8, on bucketed batches and on one pair (``mtbert.lab.ort_peer``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mtbert.data import read_examples, resolve_data_dir, task_file
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.benchmark import emit, machine_info, pair_latency, throughput_benchmark
from mtbert.lab.ort_peer import peer_benchmark
from mtbert.tasks import SENTIMENT

KEPT = ("int8", "ensemble_fusion")  # recorded by train.benchmark_int8 and train.benchmark_ensemble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the results here (e.g. assets/benchmark.json)")
    args = parser.parse_args(argv)
    sentences = [e.a for e in read_examples(task_file(resolve_data_dir(args.data_dir), SENTIMENT, "dev"), SENTIMENT)]
    result = {"sentences": len(sentences), "batch_size": 64, **throughput_benchmark(sentences, repeats=args.repeats)}
    result.update(pair_latency())
    result["onnxruntime_peer"] = peer_benchmark(sentences, repeats=args.repeats)
    result["machine"] = machine_info()
    emit(result, None)
    if args.json:  # keep what other benchmarks recorded in the same file
        write_json_atomic(args.json, {**{k: v for k, v in read_json(args.json).items() if k in KEPT}, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
