"""Inference throughput: minBERT vs ``transformers.BertModel`` on the same weights and batches."""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import BertModel

from mtbert.backbones import load_backbone, resolve_backbone
from mtbert.config import FinetuneConfig, HeadConfig
from mtbert.data import Example, bucketed_batches, iterate_file_order, make_items
from mtbert.files import write_json_atomic
from mtbert.multitask import MultitaskModel
from mtbert.tasks import SIMILARITY

# The one pair every latency here is measured on.
PAIR = ("A man is playing a guitar on stage.", "Someone plays an instrument in front of an audience.")


def _time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up run)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput_benchmark(
    sentences: Sequence[str], backbone: str = "minilm-l6", batch_size: int = 64, repeats: int = 3
) -> dict[str, Any]:
    """Sentences/s of HF and minBERT on file-order batches, and of minBERT on evaluation's bucketed batches.

    Every timing includes tokenisation and padding, so the bucketed path pays for its own sorting.
    """
    ours, tokenizer = load_backbone(backbone)
    hf = BertModel.from_pretrained(str(resolve_backbone(backbone).directory), add_pooling_layer=False).eval()
    examples = [Example(str(i), s) for i, s in enumerate(sentences)]

    def file_order(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            items = make_items(tokenizer, examples, "cross", 128)
            with torch.inference_mode():
                for batch in iterate_file_order(items, batch_size):
                    model(**batch.inputs[0]) if model is hf else model(
                        batch.inputs[0]["input_ids"],
                        batch.inputs[0]["attention_mask"],
                        batch.inputs[0]["token_type_ids"],
                    )

        return run

    def bucketed() -> None:
        items = make_items(tokenizer, examples, "cross", 128)
        with torch.inference_mode():
            for batch in bucketed_batches(items, batch_size, shuffle=False):
                x = batch.inputs[0]
                ours(x["input_ids"], x["attention_mask"], x["token_type_ids"])

    n = len(sentences)
    # Interleave the three so drift in machine load hits all of them alike.
    timings: dict[str, list[float]] = {"hf_file_order": [], "mtbert_file_order": [], "mtbert_bucketed": []}
    runs = {"hf_file_order": file_order(hf), "mtbert_file_order": file_order(ours), "mtbert_bucketed": bucketed}
    for _ in range(repeats):
        for key, fn in runs.items():
            timings[key].append(_time(fn, 1))
    result = {f"{k}_sentences_per_s": round(n / statistics.median(v), 1) for k, v in timings.items()}
    result["mtbert_vs_hf_same_batches"] = round(
        result["mtbert_file_order_sentences_per_s"] / result["hf_file_order_sentences_per_s"], 3
    )
    result["bucketed_vs_hf_file_order"] = round(
        result["mtbert_bucketed_sentences_per_s"] / result["hf_file_order_sentences_per_s"], 3
    )
    items = make_items(tokenizer, examples, "cross", 128)
    padded = sum(b.inputs[0]["input_ids"].numel() for b in iterate_file_order(items, batch_size))
    bucket_padded = sum(b.inputs[0]["input_ids"].numel() for b in bucketed_batches(items, batch_size, False))
    result["tokens_incl_padding_file_order"] = padded
    result["tokens_incl_padding_bucketed"] = bucket_padded
    result["real_tokens"] = sum(it.length for it in items)
    return result


def pair_latency(model: MultitaskModel | None = None, calls: int = 50) -> dict[str, float]:
    """Median and p95 latency (ms) of one ``predict_similarity`` call on a pair with ``return_attentions``."""
    if model is None:
        backbone, tokenizer = load_backbone()
        heads = HeadConfig(tasks=[SIMILARITY], pair_encoding="cross")
        model = MultitaskModel(backbone, tokenizer, heads, FinetuneConfig(mode="lora"))
    a, b = PAIR
    times = sorted(timed_ms(lambda: model.predict_similarity([a], [b], return_attentions=True), calls))
    return {
        "pair_latency_attentions_p50_ms": round(statistics.median(times), 2),
        "pair_latency_attentions_p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def emit(result: dict[str, Any], json_path: Path | None) -> None:
    """Print a benchmark result, and write it to ``json_path`` (atomically) when given."""
    print(json.dumps(result, indent=2))
    if json_path:
        write_json_atomic(json_path, result)


VECTOR_FLAGS = (("avx512f", "AVX512"), ("avx2", "AVX2"), ("avx", "AVX"))  # /proc/cpuinfo flag, widest first


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and widest vector extension (Linux's /proc/cpuinfo), else the platform's word for it:
    figures measured on different CPUs are not compared."""
    try:
        info = cpuinfo.read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown")
    flags = set(next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), []))
    vector = next((label for flag, label in VECTOR_FLAGS if flag in flags), "no AVX")
    return f"{name} ({vector}, {os.cpu_count()} cores)"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def timed_ms(call: Callable[[], Any], calls: int, warmup: int = 1) -> list[float]:
    """Milliseconds of each of ``calls`` calls of ``call``, after ``warmup`` calls that are not timed."""
    for _ in range(warmup):
        call()
    ms = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        ms.append((time.perf_counter() - start) * 1000)
    return ms


def call_latency(call: Callable[[], Any], calls: int = 50) -> dict[str, float]:
    """Milliseconds of ``calls`` calls of ``call`` in this process, after one warm-up call: p50, p95 and max."""
    return _percentiles(timed_ms(call, calls))


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def app_latency(url: str, variant: str, calls: int = 100) -> dict[str, Any]:
    """Latency of ``/predict_pair`` (similarity, attentions on) through gradio_client, one call at a time."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    pair = PAIR
    # the warm-up call loads the model
    times = timed_ms(lambda: client.predict(*pair, "similarity", variant, True, api_name="/predict_pair"), calls)
    return {"calls": calls, **_percentiles(times)}


def precision_benchmark(
    models: dict[str, tuple[Any, Any]], recorded: dict[str, dict[str, Any]], data_dir: Path, calls: int = 30
) -> dict[str, Any]:
    """Per variant: int8 dev metrics against the recorded fp32 ones, and the latency of one pair with attentions
    in each precision. ``models`` maps a variant to its (fp32, int8) models."""
    from mtbert.evaluation import evaluate

    pair = PAIR
    out: dict[str, Any] = {}
    for name, (fp32, int8) in models.items():
        task = next(t for t in (SIMILARITY, *fp32.tasks) if t in fp32.tasks)
        metrics = evaluate(int8, data_dir, "dev").metrics
        timings = {}
        for label, model in (("fp32", fp32), ("int8", int8)):
            ms = timed_ms(lambda m=model, t=task: m.predict(t, [pair[0]], [pair[1]], return_attentions=True), calls)
            timings[label] = round(statistics.median(ms), 2)
        out[name] = {
            "int8": {k: round(v, 4) for k, v in metrics.items()},
            "delta": {k: round(v - recorded[name][k], 4) for k, v in metrics.items() if k in recorded[name]},
            "pair_ms_fp32": timings["fp32"],
            "pair_ms_int8": timings["int8"],
            "speedup": round(timings["fp32"] / timings["int8"], 2),
        }
    return out


def resident_mb(pid: int) -> float:
    """A process's resident memory (VmRSS) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def app_memory(
    url: str, pid: int, variant: str, calls: int = 2000, clients: int = 10, warmup: int = 100
) -> dict[str, Any]:
    """The server's resident memory after ``warmup`` pair calls (attentions on) and after ``calls`` more, made
    by ``clients`` concurrent clients (under load: batches form and requests wait)."""
    pair = PAIR

    def call(client: Any, i: int) -> None:
        a = f"{pair[0]} ({i % 7})"  # a few different inputs, as users send
        client.predict(a, pair[1], "similarity", variant, True, api_name="/predict_pair")

    pool = _clients(url, clients)
    _call_all(pool, warmup // clients, call)
    before = resident_mb(pid)
    times, errors, _ = _call_all(pool, calls // clients, call)
    after = resident_mb(pid)
    return {
        "calls": len(times) + len(errors),
        "clients": clients,
        "errors": len(errors),
        "rss_mb_before": round(before, 1),
        "rss_mb_after": round(after, 1),
        "growth_mb": round(after - before, 1),
    }


# Installed before the page's own scripts: when each request to Gradio's queue goes out and when each queue message
# arrives on the page's event stream, so that a Run's time splits into measured stages.
_NETWORK_MARKS = r"""
window.__marks = [];
const pageFetch = window.fetch;
window.fetch = async (...args) => {
  const url = String((args[0] && args[0].url) || args[0]);
  window.__marks.push({kind: 'request', url, at: performance.now()});
  const response = await pageFetch(...args);
  if (!url.includes('/queue/data') || !response.body) return response;
  const [page, copy] = response.body.tee();
  (async () => {
    const reader = copy.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const {done, value} = await reader.read();
      if (done) break;
      const at = performance.now();
      for (const m of decoder.decode(value, {stream: true}).matchAll(/"msg":\s*"(\w+)"/g)) {
        window.__marks.push({kind: 'message', msg: m[1], at});
      }
    }
  })();
  return new Response(page, {headers: response.headers, status: response.status, statusText: response.statusText});
};
"""

# In the page: click Run; returns the milliseconds to the rendered similarity prediction (the gauge shows a new
# number), per output its last change once the outputs have been quiet for QUIET ms (-1: no prediction), and the
# time points of the Run's first event (from _NETWORK_MARKS): its queue request sent, the server's process_starts
# and first process_generating message received.
_TIMED_RUN = """async ([ids, quiet]) => {
  const gauge = () => (document.querySelector('#similarity-gauge .indicatorlayer') || {}).textContent || '';
  const before = gauge();
  const last = {};
  window.__marks = [];
  const start = performance.now();
  let changed = start;
  const observers = ids.map(id => {
    const el = document.getElementById(id);
    if (!el) return null;
    const o = new MutationObserver(() => { changed = performance.now(); last[id] = changed - start; });
    o.observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
    return o;
  });
  document.querySelector('#run').click();
  let prediction = -1;
  while (performance.now() - start < 30000) {
    await new Promise(r => requestAnimationFrame(r));
    if (prediction < 0 && gauge() !== before && gauge() !== '') prediction = performance.now() - start;
    const pending = document.querySelector(ids.map(id => '#' + id + ' .wrap.pending').join(', '));
    if (prediction >= 0 && !pending && performance.now() - changed > quiet) break;
  }
  observers.forEach(o => o && o.disconnect());
  const join = window.__marks.find(m => m.kind === 'request' && m.url.includes('/queue/join'));
  const after = (msg, t) => window.__marks.find(m => m.kind === 'message' && m.msg === msg && m.at >= t);
  const starts = join && after('process_starts', join.at);
  const first = starts && after('process_generating', starts.at);
  const points = first ? {request: join.at - start, starts: starts.at - start, first_chunk: first.at - start} : null;
  return {prediction, last, points};
}"""
# A Run to its rendered prediction, stage by stage: (name, from point, to point); "click" is 0, "rendered" the
# prediction on the page.
RUN_STAGES = (
    ("click to the queue request (the page)", "click", "request"),
    ("queue request to the handler's start (HTTP, queue)", "request", "starts"),
    ("handler's start to its first chunk on the page (model, figures, serialisation)", "starts", "first_chunk"),
    ("first chunk to the rendered prediction (the page draws it)", "first_chunk", "rendered"),
)
BROWSER_PAIRS = [  # a Run alternates between them, so that each Run changes the prediction
    ("A man is playing a guitar.", "A man plays an instrument."),
    ("A man is playing a guitar.", "A dog runs."),
]
RUN_OUTPUTS = ("note", "similarity-gauge", "heatmap", "attention-grid", "saliency", "loo", "swap")


def browser_latency(
    url: str, variant: str, runs: int = 50, chromium: str = "/usr/bin/chromium", quiet_ms: int = 800
) -> dict[str, Any]:
    """A Run of a pair (attentions on) in headless Chromium at 1280 px, ``runs`` times: milliseconds from the click
    to the rendered prediction, and to the last change of the page's outputs (the attention map and grid,
    saliency and what-if included), with each output's own last change (the stages)."""
    from playwright.sync_api import sync_playwright

    pairs = BROWSER_PAIRS
    prediction, last_change = [], []
    stages: dict[str, list[float]] = {name: [] for name in RUN_OUTPUTS}
    split: dict[str, list[float]] = {name: [] for name, _, _ in RUN_STAGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(_NETWORK_MARKS)
        page.goto(f"{url}?task=similarity&variant={variant}", wait_until="load")
        page.wait_for_selector("#run", timeout=60_000)
        for i in range(runs + 1):
            a, b = pairs[i % 2]
            page.fill("#sentence-a textarea", a)
            page.fill("#sentence-b textarea", b)
            page.wait_for_timeout(100)
            timed = page.evaluate(_TIMED_RUN, [list(RUN_OUTPUTS), quiet_ms])
            if i == 0:  # the first run loads the variant
                continue
            if timed["prediction"] < 0:
                raise RuntimeError("no prediction rendered within 30 s")
            prediction.append(timed["prediction"])
            last_change.append(max(timed["last"].values()))
            for name in RUN_OUTPUTS:
                if name in timed["last"]:
                    stages[name].append(timed["last"][name])
            if timed["points"] is None:
                raise RuntimeError("the Run's queue request or its first chunk was not seen on the page")
            points = {"click": 0.0, **timed["points"], "rendered": timed["prediction"]}
            for name, begin, end in RUN_STAGES:
                split[name].append(points[end] - points[begin])
        browser.close()
    return {
        "runs": runs,
        "variant": variant,
        "to_prediction": _percentiles(prediction),
        "to_last_change": _percentiles(last_change),
        "last_change_of": {name: _percentiles(ms) for name, ms in stages.items() if ms},
        "to_prediction_stages": {name: _percentiles(ms) for name, ms in split.items()},
    }


def _clients(url: str, n: int) -> list[Any]:
    from gradio_client import Client

    return [Client(url, verbose=False) for _ in range(n)]


def _call_all(clients: list[Any], calls: int, call: Callable[[Any, int], Any]) -> tuple[list[float], list[str], float]:
    """Every client makes ``calls`` calls at once (one thread each): latencies, errors and the wall seconds."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(clients) + 1)

    def worker(index: int) -> tuple[list[float], list[str]]:
        times, errors = [], []
        barrier.wait()
        for k in range(calls):
            start = time.perf_counter()
            try:
                call(clients[index], index * calls + k)
                times.append((time.perf_counter() - start) * 1000)
            except Exception as err:  # counted, not raised: the benchmark reports errors
                errors.append(f"{type(err).__name__}: {err}")
        return times, errors

    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(worker, i) for i in range(len(clients))]
        barrier.wait()
        start = time.perf_counter()
        results = [f.result() for f in futures]
        wall = time.perf_counter() - start
    return [t for r in results for t in r[0]], [e for r in results for e in r[1]], wall


class Busy(Exception):
    """The server said it is busy (a full queue, or HTTP 503): a clear answer, counted apart from errors."""


LOAD_PAIR = ("A woman is slicing an onion.", "A woman cuts an onion into pieces.")


def load_row(i: int) -> tuple[str, str]:
    """The ``i``-th request of the load curve: a few different inputs, as users send."""
    return f"{LOAD_PAIR[0]} ({i % 7})", LOAD_PAIR[1]


def _curve_row(clients: int, calls: int, times: list[float], errors: list[str], wall: float) -> dict[str, Any]:
    """One point of a load curve: errors and busy answers apart, latency percentiles, answers a second."""
    failed = [e for e in errors if not e.startswith(Busy.__name__)]
    return {
        "clients": clients,
        "calls_per_client": calls,
        "errors": len(failed),
        "busy": len(errors) - len(failed),
        "first_errors": failed[:3],
        "answers_per_second": round(len(times) / wall, 1),
        **(_percentiles(times) if times else {}),
    }


def app_load_curve(
    url: str, variant: str, clients: Sequence[int] = (1, 5, 10, 25, 50, 100), calls: int = 10
) -> list[dict[str, Any]]:
    """For each number of concurrent clients, each making ``calls`` ``/predict_similarity`` calls (no
    attentions): errors, busy answers (the queue was full), p50/p95 latency and the server's throughput in answers
    a second."""
    from gradio_client.utils import QueueError

    def call(client: Any, i: int) -> Any:
        try:
            return client.predict(*load_row(i), variant, api_name="/predict_similarity")
        except QueueError as err:  # the queue is full: a clear answer
            raise Busy(str(err)) from err

    curve = []
    for n in clients:
        times, errors, wall = _call_all(_clients(url, n), calls, call)
        curve.append(_curve_row(n, calls, times, errors, wall))
    return curve


def _rest_clients(url: str, n: int) -> list[Any]:
    import httpx

    return [httpx.Client(base_url=url.rstrip("/"), timeout=60) for _ in range(n)]


def _rest_call(client: Any, path: str, variant: str, i: int) -> float:
    a, b = load_row(i)
    answer = client.post(path, json={"task": SIMILARITY, "a": a, "b": b, "variant": variant})
    if answer.status_code == 503:
        raise Busy(answer.json()["error"])
    answer.raise_for_status()
    return answer.json()["value"]


def rest_load_curve(
    url: str, path: str, variant: str, clients: Sequence[int] = (1, 5, 10, 25, 50, 100), calls: int = 10
) -> list[dict[str, Any]]:
    """The load curve of the app's plain JSON route at ``path`` (``POST /v1/predict``: one request an answer, each
    client on its own kept-alive connection): as ``app_load_curve``, with busy answers (503) counted apart."""
    curve = []
    for n in clients:
        pool = _rest_clients(url, n)
        try:
            times, errors, wall = _call_all(pool, calls, lambda c, i: _rest_call(c, path, variant, i))
        finally:
            for client in pool:
                client.close()
        curve.append(_curve_row(n, calls, times, errors, wall))
    return curve


def model_throughput(model: Any, rows: int = 640, batch_size: int = 32, repeats: int = 3) -> dict[str, Any]:
    """The model's own throughput on the load curve's requests, in padded batches of ``batch_size`` in this
    process (no server): the limit of this machine for those answers. The median of ``repeats``."""
    pairs = [load_row(i) for i in range(rows)]
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    model.predict(SIMILARITY, a[:batch_size], b[:batch_size], batch_size=batch_size)
    seconds = _time(lambda: model.predict(SIMILARITY, a, b, batch_size=batch_size), repeats)
    return {"rows": rows, "batch_size": batch_size, "answers_per_second": round(rows / seconds, 1)}


def app_isolation(url: str, variant: str, calls: int = 40) -> dict[str, Any]:
    """Explorer filters from one client while another runs integrated gradients (``/saliency``) in a loop: the
    filters' latency, with the saliency calls that ran meanwhile, and the same filters' latency on an idle server."""
    from gradio_client import Client

    explorer, explainer = Client(url, verbose=False), Client(url, verbose=False)
    pair = PAIR
    stop = threading.Event()
    explained: list[float] = []

    def explain_loop() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            explainer.predict("similarity", *pair, variant, api_name="/saliency")
            explained.append((time.perf_counter() - start) * 1000)

    def explore(min_error: float) -> None:
        explorer.predict(
            "similarity", variant, "none", "any", "any", min_error, "any", "any", "", False, api_name="/explore"
        )

    def explore_all() -> list[float]:
        times = []
        for k in range(calls):
            start = time.perf_counter()
            explore(0.25 * (k % 8))
            times.append((time.perf_counter() - start) * 1000)
        return times

    explore(0.0)  # warm-up: reads the predictions
    alone = explore_all()  # the same filters on an idle server: what the client and Gradio cost by themselves
    worker = threading.Thread(target=explain_loop)
    worker.start()
    time.sleep(1.0)  # integrated gradients are running
    try:
        times = explore_all()
    finally:
        stop.set()
        worker.join()
    return {
        "explore_calls": calls,
        "explore_alone": _percentiles(alone),
        "explore": _percentiles(times),
        "saliency_calls_meanwhile": len(explained),
        "saliency": _percentiles(explained) if explained else {},
    }
