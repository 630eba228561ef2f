"""int8 serving: ``python -m train.benchmark_int8 [NAME ...] [--json assets/benchmark.json]`` (recorded under "int8").

For every shipped variant, the dev metrics of its int8 model (torch dynamic quantisation of every Linear layer,
LoRA adapters merged first: what ``python app.py --precision int8`` serves) against the fp32 ones in
results.json, and the median latency of one pair with attentions in each precision.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from mtbert.app.store import VariantStore
from mtbert.catalog import read_results
from mtbert.data import resolve_data_dir
from mtbert.files import read_json, write_json_atomic
from mtbert.lab.benchmark import emit, machine_info, precision_benchmark
from mtbert.layout import ASSETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="variants (default: every shipped one)")
    parser.add_argument("--data-dir")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    recorded = {k: v for k, v in read_results(args.assets).items() if v.get("shipped")}
    fp32, int8 = VariantStore(args.assets), VariantStore(args.assets, precision="int8")
    names = args.names or list(recorded)
    models = {name: (fp32.model(name), int8.model(name)) for name in names}
    measured = precision_benchmark(models, recorded, resolve_data_dir(args.data_dir))
    machine = machine_info()
    run = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the rows of one run share it
    measured = {name: {**entry, "run": run, "cpu": machine["cpu"]} for name, entry in measured.items()}
    emit({"variants": measured, "machine": machine}, None)
    if args.json:
        record = read_json(args.json)
        # Named variants are measured again; the other recorded ones stay (a variant no longer shipped is dropped).
        previous = record.get("int8", {}).get("variants", {}) if args.names else {}
        kept = {k: v for k, v in previous.items() if k in recorded and k not in measured}
        write_json_atomic(args.json, {**record, "int8": {"variants": {**kept, **measured}, "machine": machine}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
