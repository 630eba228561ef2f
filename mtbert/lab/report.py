"""Markdown for the README and docs/findings.md, generated from the JSON files in assets/ (never typed by hand)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtbert import tasks as task_registry
from mtbert.catalog import discover, read_results
from mtbert.files import read_json, write_text_atomic
from mtbert.lab.seeds import read_seeds, spread
from mtbert.lab.significance import interval, prob_better
from mtbert.lab.speed_tables import (
    benchmark_table,
    browser_stages_table,
    ensemble_fusion_table,
    ig_steps_table,
    int8_table,
    load_curve_table,
    ort_peer_table,
    user_data_table,
)
from mtbert.layout import ensemble_selection_file, option_costs_file
from mtbert.tasks import OVERALL

METRICS = tuple(task_registry.metric_keys())  # the three metrics of the overall score
SST, QUORA, STS = METRICS
METRIC_NAMES = {**{k: task_registry.by_metric(k).metric_label for k in METRICS}, OVERALL: OVERALL}


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def models_table(assets: Path) -> str:
    """Every variant in results.json (then any other shipped checkpoint) with its dev metrics and training cost."""
    headers = [task_registry.by_metric(k).metric_name for k in METRICS]
    lines = [
        f"| variant | backbone | heads | {' | '.join(headers)} | overall | trained params | train s | trained on "
        "| shipped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = dict(read_results(assets))
    for v in discover(assets):
        if v.error is None:
            shipped = {**v.metrics, "backbone": v.backbone, "heads": v.description, "shipped": True}
            rows[v.name] = {**shipped, **rows.get(v.name, {})}
    for name, m in rows.items():
        cells = [name, m.get("backbone", "?"), m.get("heads", "")]
        cells += [_fmt(m.get(k)) for k in (*METRICS, OVERALL)]
        cells += [_fmt(m.get("trainable_parameters")), _fmt(m.get("train_seconds"), 0)]
        cells.append(str(m.get("device", "cpu")))
        cells.append("yes" if m.get("shipped", True) else "no (local run)")
        lines.append("| " + " | ".join(cells) + " |")
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
        METRICS,
    ),
    Claim("Single-task models beat one multitask model", ("single-cross",), ("multi-cross",), METRICS),
    Claim("Cross encoding beats concatenated embeddings on STS", ("single-cross",), ("single-concat",), (STS,)),
    Claim("Cross encoding beats concatenated embeddings on Quora", ("single-cross",), ("single-concat",), (QUORA,)),
    Claim("The shared layer helps", ("multi-cross-shared",), ("multi-cross",), (*METRICS, OVERALL)),
    Claim(
        "The contrastive objective helps",
        ("multi-cross-shared-contrastive",),
        ("multi-cross-shared",),
        (*METRICS, OVERALL),
    ),
    Claim("The larger backbone (6 vs 3 layers) helps", ("single-cross",), ("small-l3",), METRICS),
    Claim("Full fine-tuning beats LoRA", ("single-cross-full",), ("single-cross",), (SST, STS)),
    Claim("The ensemble beats each of its members", ("ensemble",), (), (*METRICS, OVERALL)),
    # Beyond the report: each method against the recipe it changes.
    Claim("Phrase-level SST helps SST", ("sst-phrases",), ("single-cross",), (SST,)),
    Claim("SMART helps SST", ("sst-smart",), ("single-cross",), (SST,)),
    Claim("R-Drop helps STS", ("sts-rdrop",), ("single-cross",), (STS,)),
    Claim("Joint steps beat the sequential schedule", ("multi-joint",), ("multi-cross",), (*METRICS, OVERALL)),
    Claim(
        "Gradient surgery or learnt loss weights help joint steps",
        ("multi-joint-pcgrad", "multi-joint-gradvac", "multi-joint-cagrad", "multi-joint-uncertainty"),
        ("multi-joint",),
        (*METRICS, OVERALL),
    ),
    Claim(
        "S-SimCSE's sampled dropout helps the contrastive objective",
        ("multi-cross-shared-ssimcse",),
        ("multi-cross-shared-contrastive",),
        (*METRICS, OVERALL),
    ),
    Claim(
        "The best combination beats each multitask recipe it combines",
        ("multi-combo",),
        ("multi-cross", "multi-cross-shared-contrastive", "multi-joint-pcgrad"),
        (*METRICS, OVERALL),
    ),
    Claim(
        "Single-task models beat the best multitask combination",
        ("single-cross",),
        ("multi-combo",),
        (*METRICS, OVERALL),
    ),
    Claim(
        "Distilling the ensemble into the best combination's recipe helps it",
        ("distilled",),
        ("multi-combo",),
        (*METRICS, OVERALL),
    ),
    Claim("Distilling the ensemble helps a single-task model (STS)", ("sts-distilled",), ("sts-cross-lora",), (STS,)),
    Claim("Distilling the ensemble helps single-task models", ("single-distilled",), ("single-cross",), METRICS),
    Claim("One distilled model beats the ensemble it learnt from", ("distilled",), ("ensemble",), (*METRICS, OVERALL)),
    Claim(
        "Multitask, then per-task fine-tuning (MT-DNN) beats single-task",
        ("mtdnn-cross", "sst-mtdnn"),
        ("single-cross",),
        METRICS,
    ),
)

# Claims resting on SST are also compared over the seeds of seeds.json: (better, worse, metric).
SEED_CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("sst-phrases", "single-cross", SST),
    ("sst-smart", "single-cross", SST),
    ("sst-mtdnn", "single-cross", SST),
    ("single-distilled", "single-cross", SST),
)


CLEAR = 0.95  # a comparison is clear when the paired bootstrap puts P(better > worse) at least this far from 1/2


@dataclass(frozen=True)
class Verdict:
    """A claim checked against results.json: its comparisons (better, worse, metric, difference, P) and verdict."""

    claim: Claim
    comparisons: list[tuple[str, str, str, float, float | None]]

    @property
    def wins(self) -> int:
        return sum(d > 0 for _, _, _, d, _ in self.comparisons)

    @property
    def clear(self) -> int:
        return sum(p >= CLEAR or p <= 1 - CLEAR for p in self.tested)

    @property
    def tested(self) -> list[float]:
        return [p for *_, p in self.comparisons if p is not None]

    @property
    def text(self) -> str:
        n = len(self.comparisons)
        verdict = "holds" if self.wins == n else "does not hold" if self.wins == 0 else "mixed"
        return verdict + (" only within noise" if self.tested and self.clear == 0 else "")

    @property
    def counts(self) -> str:
        noise = f"; {self.clear} of {len(self.tested)} clear at P ≥ {CLEAR}" if self.tested else ""
        return f"{self.wins}/{len(self.comparisons)} comparisons{noise}"


def verdicts(assets: Path) -> list[Verdict]:
    """Each claim with its comparisons on results.json; P is the share of paired bootstrap resamples of the dev
    items in which the first variant wins (from the shipped dev predictions; None for a local run without them)."""
    results = read_results(assets)
    return [
        Verdict(
            claim,
            [
                (b, w, m, results[b][m] - results[w][m], prob_better(assets, b, w, m))
                for b, w in claim.pairs(results)
                for m in claim.metrics
                if m in results[b] and m in results[w]
            ],
        )
        for claim in CLAIMS
    ]


def _best_overall(assets: Path) -> str | None:
    scored = {name: r[OVERALL] for name, r in read_results(assets).items() if OVERALL in r}
    if not scored:
        return None
    best = max(scored, key=scored.__getitem__)
    bounds = interval(assets, best, OVERALL)
    width = f" (95% bootstrap interval over the dev items: {bounds[0]:.3f}–{bounds[1]:.3f})" if bounds else ""
    return f"- **Best overall**: {best} {scored[best]:.4f}{width}."


def findings(assets: Path) -> str:
    """Each claim checked against results.json: holds, does not hold, or mixed, with every comparison behind it.

    One seed per variant, so a difference with P between 0.05 and 0.95 is within the noise of the dev set alone.
    """
    results = read_results(assets)
    lines = []
    for v in verdicts(assets):
        if not v.comparisons:
            lines.append(f"- **{v.claim.text}**: not measured yet.")
            continue
        detail = "; ".join(
            f"{b} {results[b][m]:.3f} vs {w} {results[w][m]:.3f} {METRIC_NAMES[m]} "
            f"({d:+.3f}, " + ("P —" if p is None else f"P {p:.2f}") + ")"
            for b, w, m, d, p in v.comparisons
        )
        lines.append(f"- **{v.claim.text}** — {v.text} ({v.counts}): {detail}.")
    best = _best_overall(assets)
    return "\n".join(lines + seed_comparisons(assets) + ([best] if best else []))


def seed_comparisons(assets: Path) -> list[str]:
    """For each seed claim with both variants in seeds.json: the means over the seeds and the paired differences."""
    study = read_seeds(assets)
    lines = []
    for better, worse, metric in SEED_CLAIMS:
        if better not in study or worse not in study:
            continue
        a, b = study[better]["seeds"], study[worse]["seeds"]
        seeds = [s for s in a if s in b and metric in a[s] and metric in b[s]]
        if not seeds:
            continue
        diffs = [a[s][metric] - b[s][metric] for s in seeds]
        mean_a = sum(a[s][metric] for s in seeds) / len(seeds)
        mean_b = sum(b[s][metric] for s in seeds) / len(seeds)
        detail = ", ".join(f"{s}: {d:+.3f}" for s, d in zip(seeds, diffs, strict=True))
        lines.append(
            f"- **{better} vs {worse} over {len(seeds)} seeds** ({METRIC_NAMES[metric]}): mean {mean_a:.4f} vs "
            f"{mean_b:.4f}; paired by seed {detail}; {sum(d > 0 for d in diffs)} of {len(seeds)} seeds better."
        )
    return lines


def findings_summary(assets: Path) -> str:
    """One line per claim: its verdict and how many comparisons are clear (the details are in docs/findings.md)."""
    lines = [
        f"- **{v.claim.text}** — {v.text} ({v.counts})." if v.comparisons else f"- **{v.claim.text}**: not measured."
        for v in verdicts(assets)
    ]
    best = _best_overall(assets)
    return "\n".join(lines + seed_comparisons(assets) + ([best] if best else []))


def _seed_value(run: dict[str, Any], key: str) -> float:
    return task_registry.overall_score(run) if key == OVERALL else run[key]  # type: ignore[return-value]


def seeds_table(assets: Path) -> str:
    """Each seed study in seeds.json: per metric, every seed's dev value, their mean, sd and range."""
    lines = ["| variant | metric | seed: dev value | mean | sd | range |", "|---|---|---|---|---|---|"]
    for variant, entry in read_seeds(assets).items():
        for key, s in spread(entry).items():
            runs = entry["seeds"].items()
            values = ", ".join(f"{seed}: {_seed_value(run, key):.4f}" for seed, run in runs)
            lines.append(
                f"| {variant} | {METRIC_NAMES[key]} | {values} | {s['mean']:.4f} | {s['sd']:.4f} "
                f"| {s['max'] - s['min']:.4f} |"
            )
    return "\n".join(lines)


def options_table(assets: Path) -> str:
    """Every training option beyond the report: key, default, values, meaning, and its measured cost."""
    from mtbert.config import TrainConfig
    from mtbert.lab.option_costs import OPTION_DOCS

    costs = read_json(option_costs_file(assets))
    defaults = TrainConfig()
    lines = [
        "| option | default | values | what it does | cost per step (per epoch) vs baseline |",
        "|---|---|---|---|---|",
    ]
    for doc in OPTION_DOCS:
        keys = [k.strip() for k in doc.key.split("/")]
        default = " / ".join(f"`{json.dumps(getattr(defaults, k))}`" for k in keys)
        measured = [
            f"{name}: {costs[name]['step_cost']:.2f}× ({costs[name]['epoch_cost']:.2f}×) vs {costs[name]['baseline']}"
            for name in doc.timed
            if name in costs
        ]
        cost = "; ".join(measured) if measured else ("not measured yet" if doc.timed else "—")
        lines.append(f"| `{doc.key}` | {default} | {doc.values} | {doc.meaning} | {cost} |")
    return "\n".join(lines)


def ensemble_selection_table(assets: Path) -> str:
    """The ensemble rule against greedy member selection on dev, scored on the dev it chose on and cross-fitted."""
    study = read_json(ensemble_selection_file(assets))
    if not study:
        return "Not measured yet: run `python -m train.ensemble_selection`."
    lines = [
        "| task | rule (every report row) | greedy, scored on the dev it chose on | greedy, cross-fitted (range) "
        "| greedy's members |",
        "|---|---|---|---|---|",
    ]
    for task, row in study["tasks"].items():
        low, high = row["greedy_cross_fitted_range"]
        members = ", ".join(f"{n}×{c}" if c > 1 else n for n, c in Counter(row["greedy_members"]).items())
        lines.append(
            f"| {task_registry.get(task).metric_name} | {row['rule']:.4f} | {row['greedy_on_dev']:.4f} "
            f"| {row['greedy_cross_fitted']:.4f} ({low:.4f}–{high:.4f}) | {members} |"
        )
    overall = study["overall"]
    lines.append(
        f"| overall | {overall['rule']:.4f} | {overall['greedy_on_dev']:.4f} | {overall['greedy_cross_fitted']:.4f} | |"
    )
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[Path], str]] = {
    "models": models_table,
    "benchmarks": benchmark_table,
    "browser-stages": browser_stages_table,
    "load-curve": load_curve_table,
    "ig-steps": ig_steps_table,
    "ort-peer": ort_peer_table,
    "int8": int8_table,
    "ensemble-fusion": ensemble_fusion_table,
    "user-data": user_data_table,
    "findings-summary": findings_summary,
    "findings": findings,
    "seeds": seeds_table,
    "options": options_table,
    "ensemble-selection": ensemble_selection_table,
}


def render(text: str, assets: Path) -> str:
    """``text`` with every ``<!-- BEGIN:name -->...<!-- END:name -->`` section it has regenerated."""
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- BEGIN:{name} -->\n).*?(<!-- END:{name} -->)", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda m, make=make: m.group(1) + make(assets) + "\n" + m.group(2), text)
    return text


def write_docs(assets: Path, documents: list[Path]) -> list[Path]:
    """Regenerate the generated sections of each document (the README, docs/findings.md) in place."""
    for path in documents:
        write_text_atomic(path, render(path.read_text(), assets))
    return documents
