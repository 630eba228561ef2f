"""Markdown tables for the README, generated from the JSON files in assets/ (never typed by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mtbert.zoo import discover, read_results


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def models_table(assets: Path) -> str:
    """Every variant in results.json (then any other shipped checkpoint) with its dev metrics and training cost."""
    lines = [
        "| variant | backbone | heads | SST acc | Quora acc | STS Pearson | overall | trained params | train s "
        "| shipped |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = dict(read_results(assets))
    for v in discover(assets):
        if v.error is None:
            shipped = {**v.metrics, "backbone": v.backbone, "heads": v.description, "shipped": True}
            rows[v.name] = {**shipped, **rows.get(v.name, {})}
    for name, m in rows.items():
        cells = [name, m.get("backbone", "?"), m.get("heads", "")]
        cells += [_fmt(m.get(k)) for k in ("sst_acc", "quora_acc", "sts_pearson", "overall")]
        cells += [_fmt(m.get("trainable_parameters")), _fmt(m.get("train_seconds"), 0)]
        cells.append("yes" if m.get("shipped", True) else "no (local run)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def benchmark_table(assets: Path) -> str:
    """Inference throughput and latency from assets/benchmark.json and assets/app_benchmark.json."""
    b, app = _read(assets / "benchmark.json"), _read(assets / "app_benchmark.json")
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
        seq, conc = app["sequential"], app["concurrent"]
        lines += [
            f"| app start-up, `python app.py` to HTTP 200 | {app.get('startup_seconds_to_http_200', '—')} s |",
            f"| app `/predict_pair` via gradio_client, attentions on, worst of {seq.get('rounds', 1)} rounds of "
            f"{seq['calls']} calls | p50 {seq['p50_ms']} ms, p95 {seq['p95_ms']} ms |",
            f"| app, {conc['clients']} concurrent clients × {conc['calls_per_client']} calls | {conc['errors']} errors,"
            f" p50 {conc.get('p50_ms', '—')} ms, p95 {conc.get('p95_ms', '—')} ms |",
        ]
    return "\n".join(lines)


TABLES = {"models": models_table, "benchmarks": benchmark_table}


def render_readme(readme: str, assets: Path) -> str:
    """The README with every ``<!-- BEGIN:name -->...<!-- END:name -->`` section regenerated."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- BEGIN:{name} -->\n).*?(<!-- END:{name} -->)", re.S)
        readme = pattern.sub(lambda m, make=make: m.group(1) + make(assets) + "\n" + m.group(2), readme)
    return readme
