"""Markdown tables of what things cost and how fast they run: inference, load curves, saliency, int8, the ORT peer,
the ensemble's fused pass and the user's own data, generated from assets/*.json (never typed by hand)."""

from __future__ import annotations

from pathlib import Path

from mtbert import tasks as task_registry
from mtbert.files import read_json
from mtbert.tasks import OVERALL

METRICS = tuple(task_registry.metric_keys())  # the three metrics of the overall score


def benchmark_table(assets: Path) -> str:
    """Inference throughput and latency from assets/benchmark.json and assets/app_benchmark.json."""
    b, app = read_json(assets / "benchmark.json"), read_json(assets / "app_benchmark.json")
    lines = ["| measurement | value |", "|---|---|"]
    if b:
        lines += [
            f"| transformers BertModel, file-order batches of 64 | {b['hf_file_order_sentences_per_s']} sentences/s |",
            f"| mtbert, the same batches | {b['mtbert_file_order_sentences_per_s']} sentences/s "
            f"(**{b['mtbert_vs_hf_same_batches']}×** transformers) |",
            f"| mtbert, evaluation's length-bucketed batches of 64 | {b['mtbert_bucketed_sentences_per_s']} "
            f"sentences/s (**{b['bucketed_vs_hf_file_order']}×** transformers in file order) |",
            f"| tokens incl. padding: file order / bucketed / real | {b['tokens_incl_padding_file_order']:,} / "
            f"{b['tokens_incl_padding_bucketed']:,} / {b['real_tokens']:,} |",
            f"| one pair, `predict_similarity(..., return_attentions=True)` | p50 {b['pair_latency_attentions_p50_ms']}"
            f" ms, p95 {b['pair_latency_attentions_p95_ms']} ms |",
        ]
    if app:
        seq = app["sequential"]
        lines += [
            f"| app start-up, `python app.py` to HTTP 200 | {app.get('startup_seconds_to_http_200', '—')} s |",
            f"| app `/predict_pair` via gradio_client, attentions on, worst of {seq.get('rounds', 1)} rounds of "
            f"{seq['calls']} calls | p50 {seq['p50_ms']} ms, p95 {seq['p95_ms']} ms |",
        ]
        if "browser" in app:
            web = app["browser"]
            first, last = web["to_prediction"], web["to_last_change"]
            lines += [
                f"| browser: Run to the rendered prediction of a pair with attentions (`{web['variant']}`, "
                f"Chromium at 1280 px, {web['runs']} runs) | p50 {first['p50_ms']} ms, p95 {first['p95_ms']} ms |",
                f"| browser: Run to the last change of the page (map, grid, saliency, what-if) | p50 {last['p50_ms']} "
                f"ms, p95 {last['p95_ms']} ms |",
            ]
        if "isolation" in app:
            iso = app["isolation"]
            lines.append(
                f"| Explorer filter while another client runs integrated gradients in a loop "
                f"({iso['saliency_calls_meanwhile']} ran meanwhile) | p50 {iso['explore']['p50_ms']} ms, "
                f"p95 {iso['explore']['p95_ms']} ms |"
            )
            if "explore_alone" in iso:
                alone = iso["explore_alone"]
                lines.append(
                    f"| the same Explorer filters on an idle server (gradio_client) | p50 {alone['p50_ms']} ms, "
                    f"p95 {alone['p95_ms']} ms |"
                )
        if "memory" in app:
            mem = app["memory"]
            lines.append(
                f"| server memory over {mem['calls']:,} more calls from {mem.get('clients', 1)} concurrent clients | "
                f"{mem['rss_mb_before']} → {mem['rss_mb_after']} MB ({mem['growth_mb']:+} MB) |"
            )
    cpus = {name: d.get("machine", {}).get("cpu") for name, d in (("the model rows", b), ("the app rows", app)) if d}
    if any(cpus.values()):  # CPUs differ between machines: the figures of one CPU are compared with each other only
        one = len(set(cpus.values())) == 1  # one CPU for all rows: named once
        where = next(iter(cpus.values())) if one else "; ".join(f"{k}: {v or 'not recorded'}" for k, v in cpus.items())
        lines.append(f"| measured on | {where} |")
    return "\n".join(lines)


def browser_stages_table(assets: Path) -> str:
    """A browser Run to its rendered prediction, stage by stage (app_benchmark.json, browser), with the first
    chunk's own work measured in the benchmark's process."""
    web = read_json(assets / "app_benchmark.json").get("browser", {})
    stages, handler = web.get("to_prediction_stages"), web.get("handler_first_chunk")
    if not stages:
        return "_Not measured yet: `python -m train.benchmark_app --parts browser --json assets/app_benchmark.json`._"
    lines = ["| stage of a Run, to the rendered prediction | p50 ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {name} | {ms['p50_ms']} | {ms['p95_ms']} |" for name, ms in stages.items()]
    total = web["to_prediction"]
    lines.append(f"| **click to the rendered prediction** | **{total['p50_ms']}** | **{total['p95_ms']}** |")
    note = (
        f"`{web['variant']}`, {web['runs']} Runs of a pair with attentions in headless Chromium at 1280 px. The "
        "stages are time points the page itself records: the queue request going out, and Gradio's "
        "`process_starts` and first `process_generating` messages arriving on its event stream (p50 of each stage "
        "apart, so they need not add up to the total's p50)."
    )
    if handler:
        note += (
            f" The first chunk's own work (prediction, attention map and figures: `playground.run`) takes p50 "
            f"{handler['p50_ms']} ms, p95 {handler['p95_ms']} ms in the benchmark's process while the server idles."
        )
    return "\n".join([*lines, "", note])


LOAD_PATHS = {"load_curve": "Gradio API (`/predict_similarity`)", "rest_load_curve": "`POST /v1/predict`"}


def load_curve_table(assets: Path) -> str:
    """The app's load curves from assets/app_benchmark.json, through the Gradio API and the plain JSON route: a chart
    of answers a second against concurrent clients beside the model's own batched throughput, and the table."""
    app = read_json(assets / "app_benchmark.json")
    curves = {path: app[path] for path in LOAD_PATHS if app.get(path)}
    limit = app.get("model_batched", {}).get("answers_per_second")
    if not curves or not limit:
        return "(no load curve recorded: run `python -m train.benchmark_app --json assets/app_benchmark.json`)"
    clients = [row["clients"] for row in next(iter(curves.values()))]
    top = max(limit, *(row["answers_per_second"] for curve in curves.values() for row in curve))
    names = ", then ".join(LOAD_PATHS[p].split(" (")[0].replace("`", "") for p in curves)
    chart = [
        "```mermaid",
        "xychart-beta",
        f'    title "Answers a second against concurrent clients (lines: {names}; bars: the model batched alone)"',
        f'    x-axis "concurrent clients" [{", ".join(str(c) for c in clients)}]',
        f'    y-axis "answers / s" 0 --> {int(top * 1.1) + 1}',
        f"    bar [{', '.join(str(limit) for _ in clients)}]",
        *(f"    line [{', '.join(str(row['answers_per_second']) for row in curve)}]" for curve in curves.values()),
        "```",
    ]
    lines = [
        "| path | clients × calls | errors | busy | p50 ms | p95 ms | answers / s | share of the model's batched "
        "throughput |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, curve in curves.items():
        for row in curve:
            lines.append(
                f"| {LOAD_PATHS[path]} | {row['clients']} × {row['calls_per_client']} | {row['errors']} | "
                f"{row.get('busy', '—')} | {row.get('p50_ms', '—')} | {row.get('p95_ms', '—')} | "
                f"{row['answers_per_second']} | {row['answers_per_second'] / limit:.0%} |"
            )
    batched = app["model_batched"]
    note = (
        f"The model alone answers {limit} a second on the same requests in batches of {batched['batch_size']} "
        "(measured in the same run, while the server idled). A busy answer is the route's 503 with `Retry-After`."
    )
    return "\n".join([*chart, "", *lines, "", note])


ORT_PATHS = {
    "ort_fp32": "ONNX Runtime fp32",
    "mtbert_fp32": "mtbert fp32",
    "ort_int8": "ONNX Runtime int8 (dynamic)",
    "mtbert_int8": "mtbert int8 (dynamic)",
}


def ort_peer_table(assets: Path) -> str:
    """minBERT's encoder against ONNX Runtime on the same weights (assets/benchmark.json, ``onnxruntime_peer``)."""
    peer = read_json(assets / "benchmark.json").get("onnxruntime_peer")
    if not peer or "skipped" in peer:
        return "(no ONNX Runtime comparison recorded: run `python -m train.benchmark --json assets/benchmark.json`)"
    lines = [
        f"| path | SST dev, bucketed batches of {peer['batch_size']} | one pair, no attentions |",
        "|---|---|---|",
    ]
    for key, name in ORT_PATHS.items():
        row = peer[key]
        vs = (
            (f" ({row['throughput_vs_ort']}× ORT)", f" ({row['pair_time_vs_ort']}× ORT's time)")
            if "throughput_vs_ort" in row
            else ("", "")
        )
        lines.append(f"| {name} | {row['bucketed_sentences_per_s']} sentences/s{vs[0]} | {row['pair_ms']} ms{vs[1]} |")
    agreement = peer["ort_fp32_vs_mtbert_max_abs_diff"]
    note = (
        f"all-MiniLM-L6-v2's encoder, inputs tokenised beforehand, {peer['threads']} threads, onnxruntime "
        f"{peer['onnxruntime']}; ORT's fp32 output agrees with mtbert's to {agreement:.1e}."
    )
    return "\n".join([*lines, "", note])


def ig_steps_table(assets: Path) -> str:
    """Integrated gradients' completeness error and time per quadrature rule and step count (assets/ig_steps.json)."""
    study = read_json(assets / "ig_steps.json")
    if not study:
        return "(no study recorded: run `python -m train.ig_steps --json assets/ig_steps.json`)"
    lines = [
        "| rule | steps | error p50 | error p95 | worst error | ms per call (p50) |",
        "|---|---|---|---|---|---|",
    ]
    for method, by_steps in study["methods"].items():
        for steps, row in by_steps.items():
            mark = (
                " (the app's first pass)" if method == study["app_method"] and int(steps) == study["app_steps"] else ""
            )
            lines.append(
                f"| {method} | {steps}{mark} | {row['error_p50']:.2%} | {row['error_p95']:.2%} | "
                f"{row['error_max']:.2%} | {row['ms_p50']:.0f} |"
            )
    if "app_rule" in study:
        row = study["app_rule"]
        lines.append(
            f"| **the app**: {study['app_method']} {study['app_steps']}, then {study['app_fallback_steps']} where "
            f"outside the tolerance | — | {row['error_p50']:.2%} | {row['error_p95']:.2%} | {row['error_max']:.2%} | "
            f"{row['ms_p50']:.0f} |"
        )
    chosen = ", ".join(f"{m}: {n if n is not None else 'none measured'}" for m, n in study["chosen"].items())
    inputs = ", ".join(f"{n} {task}" for task, n in study["inputs"].items())
    return "\n".join(
        [
            *lines,
            "",
            f"Over {inputs} dev inputs of {', '.join(study['variants'])}; tolerance {study['tolerance']:.0%} worst "
            f"relative error. Fewest steps within it: {chosen}.",
        ]
    )


def int8_table(assets: Path) -> str:
    """Per shipped variant: the int8 model's dev metrics against fp32, and one pair's latency in each precision."""
    int8 = read_json(assets / "benchmark.json").get("int8", {}).get("variants", {})
    headers = [task_registry.by_metric(k).metric_name for k in METRICS]
    lines = [
        f"| variant | {' | '.join(f'{h} int8 (Δ)' for h in headers)} | overall int8 (Δ) | pair fp32 ms | pair int8 ms "
        "| speed-up | run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cpu_of = {entry["run"]: entry.get("cpu") or "a CPU not recorded" for entry in int8.values() if "run" in entry}
    runs = sorted(cpu_of)
    letter = {"": "—", **{run: chr(ord("A") + i) for i, run in enumerate(runs)}}  # "—": a row of an unrecorded run
    for name, entry in int8.items():
        cells = [
            f"{entry['int8'][k]:.3f} ({entry['delta'][k]:+.3f})" if k in entry["int8"] else "—"
            for k in (*METRICS, OVERALL)
        ]
        speed = [entry["pair_ms_fp32"], entry["pair_ms_int8"], f"{entry['speedup']}×", letter[entry.get("run", "")]]
        lines.append("| " + " | ".join([name, *cells, *map(str, speed)]) + " |")
    note = (
        "Rows with one run letter were measured in one run of the benchmark, on one CPU: compare latencies within a "
        "run only (—: a run that was not recorded). "
        + "; ".join(f"{letter[r]}: {r} on {cpu_of[r]}" for r in runs)
        + ("." if runs else "")
    )
    return "\n".join([*lines, "", note.strip()])


def user_data_table(assets: Path) -> str:
    """What the user's own models and data cost in the app (``assets/user_data_benchmark.json``)."""
    bench = read_json(assets / "user_data_benchmark.json")
    if not bench:
        return "_Not measured yet: run `python -m train.benchmark_user_data --json assets/user_data_benchmark.json`._"
    first, rows = bench["first_open"], bench["dataset_predictions"]
    same = "reproduces" if first["reproduces_shipped"] else "does not reproduce"
    return "\n".join(
        [
            "| what | rows | seconds |",
            "|---|---|---|",
            f"| first open of {first['model']} (dev metrics over the three dev sets; {same} the recorded overall "
            f"{first['shipped_overall']:.4f}) | {first['dev_rows']:,} | {first['seconds']} |",
            f"| second open (the cache) | {first['dev_rows']:,} | {bench['second_open_seconds']} |",
            f"| predictions of {rows['variant']} for a {rows['rows']:,}-row dataset ({rows['rows_from']}; "
            f"{rows['rows_per_second']} rows/s) | {rows['rows']:,} | {rows['seconds']} |",
            f"| the same dataset again (the cache) | {rows['rows']:,} | {rows['cached_seconds']} |",
        ]
    )


def ensemble_fusion_table(assets: Path) -> str:
    """One pair through the ensemble, members one by one against the fused pass (benchmark.json, ensemble_fusion)."""
    fusion = read_json(assets / "benchmark.json").get("ensemble_fusion")
    if not fusion:
        return "_Not measured yet: run `python -m train.benchmark_ensemble --json assets/benchmark.json`._"
    lines = [
        "| one pair (similarity) | members one by one, p50 (p95) ms | fused, p50 (p95) ms | speed-up |",
        "|---|---|---|---|",
    ]
    for key, label in (("with_attentions", "with attentions"), ("without_attentions", "without attentions")):
        row = fusion[key]
        lines.append(
            f"| {label} | {row['unfused_p50_ms']} ({row['unfused_p95_ms']}) | {row['fused_p50_ms']} "
            f"({row['fused_p95_ms']}) | {row['speedup']}× |"
        )
    groups = " + ".join(str(n) for n in fusion["fused_groups"]) or "none"
    worst = max(fusion["max_abs_difference"].values())
    note = (
        f"`{fusion['variant']}`: {fusion['members']} members; their task models (one per member and task) that "
        f"share a base encoder answer in passes of {groups}; the rest run on their own. {fusion['calls']} calls "
        f"per path, alternating, {fusion['machine']['torch_threads']} threads. The two paths' answers differ by "
        f"at most {worst:.1e} (probabilities and 0-5 scores, four pairs of different lengths in one batch)."
    )
    return "\n".join([*lines, "", note])
