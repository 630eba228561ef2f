"""App serving benchmark: ``python -m train.benchmark_app [--variant NAME] [--json assets/app_benchmark.json]``.

Starts ``app.py`` (or uses ``--url``), then measures: start-up time; rounds of 100 sequential calls to
``/predict_pair`` with attentions on (the worst round is reported); the model's own batched throughput on the load
requests, in this process; the load curve, 1 to 100 concurrent gradio_client clients x 10 ``/predict_similarity``
calls each (errors, p50, p95, answers a second), and the same through ``POST /v1/predict`` (busy answers counted
apart); Explorer filters while another client runs integrated gradients; in headless Chromium, a Run of a pair with
attentions, to the rendered prediction and to the page's last change (50 runs); and the server's resident memory
before and after 2,000 more calls from 10 concurrent clients.
``--parts`` measures only some of these and keeps the rest of an existing ``--json`` file.
Loopback only, every loop bounded.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mtbert import tasks
from mtbert.app import batching, playground, rest
from mtbert.app.store import VariantStore
from mtbert.files import read_json
from mtbert.lab.benchmark import (
    BROWSER_PAIRS,
    app_isolation,
    app_latency,
    app_load_curve,
    app_memory,
    browser_latency,
    call_latency,
    emit,
    machine_info,
    model_throughput,
    rest_load_curve,
)
from mtbert.layout import ASSETS

PARTS = ("sequential", "load", "isolation", "browser", "memory")


def start_app(assets: Path | None, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """Start ``app.py`` on a free port (``env`` added to this process's environment); returns it, its URL and the
    seconds until it answered HTTP 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "app.py", "--port", str(port)] + (["--assets", str(assets)] if assets else [])
    start = time.perf_counter()
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < 120:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return process, url, time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("app.py did not answer within 120 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an app already running (default: start app.py)")
    parser.add_argument("--assets", type=Path)
    parser.add_argument("--variant", default="sts-cross-lora")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of --calls sequential calls; the worst is reported"
    )
    parser.add_argument("--browser-variant", default="single-cross", help="the variant the browser timing runs")
    parser.add_argument("--memory-calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 5, 10, 25, 50, 100], help="the load curve")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    process = None
    kept = read_json(args.json) if args.json and args.json.exists() and set(args.parts) != set(PARTS) else {}
    result: dict = {**kept, "variant": args.variant}
    if args.url:
        url = args.url
    else:
        process, url, startup = start_app(args.assets)
        result["startup_seconds_to_http_200"] = round(startup, 1)
    try:
        if "sequential" in args.parts:
            rounds = [app_latency(url, args.variant, args.calls) for _ in range(args.rounds)]
            # Report the worst round, and every round: a single round's p50 varies by tens of ms here.
            worst = max(rounds, key=lambda r: r["p50_ms"])
            result["sequential"] = {**worst, "rounds": args.rounds, "per_round": rounds}
        if "load" in args.parts:
            # The model's own batched throughput on the load curve's requests, measured in this process while the
            # server idles: what the curve is held against.
            model = VariantStore(args.assets or ASSETS).model(args.variant)
            result["model_batched"] = model_throughput(model, batch_size=batching.MAX_BATCH)  # as the server batches
            del model
            result["load_curve"] = app_load_curve(url, args.variant, args.clients)
            result["rest_load_curve"] = rest_load_curve(url, rest.PATH, args.variant, args.clients)
        if "isolation" in args.parts:
            result["isolation"] = app_isolation(url, args.browser_variant)
        if "browser" in args.parts:
            result["browser"] = browser_latency(url, args.browser_variant)
            # The first chunk's own work (prediction, attention map, figures), in this process while the server
            # idles: how much of the stage from the handler's start to the first chunk is the handler.
            store = VariantStore(args.assets or ASSETS)
            a, b = BROWSER_PAIRS[0]
            result["browser"]["handler_first_chunk"] = call_latency(
                lambda: playground.run(store, tasks.SIMILARITY, a, b, args.browser_variant)
            )
        if process is not None and "memory" in args.parts:
            result["memory"] = app_memory(url, process.pid, args.variant, calls=args.memory_calls)
    finally:
        if process:
            process.terminate()
    result["machine"] = machine_info()
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
