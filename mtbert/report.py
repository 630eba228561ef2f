"""Markdown tables for the README, generated from the JSON files in assets/ (never typed by hand)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtbert.seeds import read_seeds, spread
from mtbert.significance import interval, prob_better
from mtbert.zoo import METRIC_LABELS, discover, read_results

README = Path(__file__).resolve().parent.parent / "README.md"
METRICS = tuple(METRIC_LABELS)
METRIC_NAMES = {**METRIC_LABELS, "overall": "overall"}


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
        "| trained on | shipped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
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
        cells.append(str(m.get("device", "cpu")).replace("cuda: ", ""))
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


@dataclass(frozen=True)
class Claim:
    """One of the report's conclusions, tested as "``better`` beats ``worse``" on the listed metrics."""

    text: str
    better: tuple[str, ...]  # each must beat every variant in ``worse`` (on every metric both have)
    worse: tuple[str, ...]  # empty: the members results.json records for each ``better`` ensemble
    metrics: tuple[str, ...]

    def pairs(self, results: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
        """(better, worse) pairs of variants both in results.json."""
        return [
            (b, w)
            for b in self.better
            if b in results
            for w in (self.worse or results[b].get("members", ()))
            if w in results and w != b
        ]


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "Fine-tuning beats freezing",
        ("single-concat", "single-cross", "multi-cross", "multi-cross-shared", "multi-cross-shared-contrastive"),
        ("frozen",),
        ("sst_acc", "quora_acc", "sts_pearson"),
    ),
    Claim("Single-task models beat one multitask model", ("single-cross",), ("multi-cross",), METRICS),
    Claim(
        "Cross encoding beats concatenated embeddings on STS", ("single-cross",), ("single-concat",), ("sts_pearson",)
    ),
    Claim(
        "Cross encoding beats concatenated embeddings on Quora", ("single-cross",), ("single-concat",), ("quora_acc",)
    ),
    Claim("The shared layer helps", ("multi-cross-shared",), ("multi-cross",), (*METRICS, "overall")),
    Claim(
        "The contrastive objective helps",
        ("multi-cross-shared-contrastive",),
        ("multi-cross-shared",),
        (*METRICS, "overall"),
    ),
    Claim("The larger backbone (6 vs 3 layers) helps", ("single-cross",), ("small-l3",), METRICS),
    Claim("Full fine-tuning beats LoRA", ("single-cross-full",), ("single-cross",), ("sst_acc", "sts_pearson")),
    Claim("The ensemble beats each of its members", ("ensemble",), (), (*METRICS, "overall")),
)


CLEAR = 0.95  # a comparison is clear when the paired bootstrap puts P(better > worse) at least this far from 1/2


def findings(assets: Path) -> str:
    """Each claim checked against results.json: holds, does not hold, or mixed, with the numbers behind it.

    Each comparison also gives P, the share of paired bootstrap resamples of the dev items in which the first
    variant wins (from the shipped dev predictions; "—" for a local run without them). One seed per variant,
    so a difference with P between 0.05 and 0.95 is within the noise of the dev set alone.
    """
    results = read_results(assets)
    lines = []
    for claim in CLAIMS:
        comparisons = [
            (b, w, m, results[b][m] - results[w][m], prob_better(assets, b, w, m))
            for b, w in claim.pairs(results)
            for m in claim.metrics
            if m in results[b] and m in results[w]
        ]
        if not comparisons:
            lines.append(f"- **{claim.text}**: not measured yet.")
            continue
        wins = sum(d > 0 for _, _, _, d, _ in comparisons)
        verdict = "holds" if wins == len(comparisons) else "does not hold" if wins == 0 else "mixed"
        tested = [p for *_, p in comparisons if p is not None]
        clear = sum(p >= CLEAR or p <= 1 - CLEAR for p in tested)
        noise = f"; {clear} of {len(tested)} clear at P ≥ {CLEAR}" if tested else ""
        if tested and clear == 0:
            verdict += " only within noise"
        detail = "; ".join(
            f"{b} {results[b][m]:.3f} vs {w} {results[w][m]:.3f} {METRIC_NAMES[m]} ({d:+.3f}, "
            + ("P —" if p is None else f"P {p:.2f}")
            + ")"
            for b, w, m, d, p in comparisons
        )
        lines.append(f"- **{claim.text}** — {verdict} ({wins}/{len(comparisons)} comparisons{noise}): {detail}.")
    scored = {name: r["overall"] for name, r in results.items() if "overall" in r}
    if scored:
        best = max(scored, key=scored.__getitem__)
        bounds = interval(assets, best, "overall")
        width = ""
        if bounds is not None:
            width = f" (95% bootstrap interval over the dev items: {bounds[0]:.3f}–{bounds[1]:.3f})"
        lines.append(f"- **Best overall**: {best} {scored[best]:.4f}{width}.")
    return "\n".join(lines)


def seeds_table(assets: Path) -> str:
    """Each seed study in assets/seeds.json: per metric, every seed's dev value, their mean, sd and range."""
    lines = ["| variant | metric | seed: dev value | mean | sd | range |", "|---|---|---|---|---|---|"]
    for variant, entry in read_seeds(assets).items():
        for key, s in spread(entry).items():
            values = ", ".join(f"{seed}: {run[key]:.4f}" for seed, run in entry["seeds"].items())
            lines.append(
                f"| {variant} | {METRIC_NAMES[key]} | {values} | {s['mean']:.4f} | {s['sd']:.4f} "
                f"| {s['max'] - s['min']:.4f} |"
            )
    return "\n".join(lines)


TABLES = {"models": models_table, "benchmarks": benchmark_table, "findings": findings, "seeds": seeds_table}


def render_readme(readme: str, assets: Path) -> str:
    """The README with every ``<!-- BEGIN:name -->...<!-- END:name -->`` section regenerated."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- BEGIN:{name} -->\n).*?(<!-- END:{name} -->)", re.S)
        readme = pattern.sub(lambda m, make=make: m.group(1) + make(assets) + "\n" + m.group(2), readme)
    return readme


def write_readme(assets: Path, readme: Path = README) -> Path:
    """Regenerate the README's tables in place from ``assets``; returns the README's path."""
    readme.write_text(render_readme(readme.read_text(), assets))
    return readme
