"""The README's and docs/findings.md's tables are generated from assets/*.json and are up to date."""

from __future__ import annotations

import pytest

from mtbert.lab.report import models_table, render
from mtbert.lab.speed_tables import benchmark_table
from mtbert.layout import ASSETS, FINDINGS, README
from tests.app.assets import BACKBONE


@pytest.mark.parametrize("document", [README, FINDINGS], ids=["README", "findings"])
def test_generated_sections_match_the_assets(document):
    text = document.read_text()
    assert "<!-- BEGIN:" in text
    assert render(text, ASSETS) == text, "run: python -m train.update_readme"


def test_models_table_lists_each_usable_variant(app_assets):
    table = models_table(app_assets)
    assert f"| multi-cross | {BACKBONE} |" in table and "broken-variant" not in table
    assert f"| ensemble | {BACKBONE} | ensemble of multi-cross + single-cross |" in table
    assert len(table.splitlines()) == 2 + 4


def test_benchmark_table_without_files_is_just_a_header(tmp_path):
    assert benchmark_table(tmp_path).count("\n") == 1


def test_findings_check_each_claim_against_the_results(tmp_path):
    import json

    from mtbert.lab.report import findings

    results = {
        "frozen": {"sst_acc": 0.40, "quora_acc": 0.70, "sts_pearson": 0.80},
        "single-cross": {"sst_acc": 0.48, "quora_acc": 0.80, "sts_pearson": 0.86},
        "single-concat": {"sst_acc": 0.48, "quora_acc": 0.82, "sts_pearson": 0.84},
        "multi-cross": {"sst_acc": 0.47, "quora_acc": 0.81, "sts_pearson": 0.85, "overall": 0.735},
        "ensemble": {
            "sst_acc": 0.49,
            "quora_acc": 0.83,
            "sts_pearson": 0.87,
            "overall": 0.7517,
            "members": ["frozen", "multi-cross"],
        },
        "single-cross-full": {"sst_acc": 0.49, "sts_pearson": 0.87},  # no overall: not in the running for best
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    lines = {line.split("**")[1]: line for line in findings(tmp_path).splitlines()}
    assert "— holds (9/9 comparisons)" in lines["Fine-tuning beats freezing"]
    assert "— holds (1/1" in lines["Cross encoding beats concatenated embeddings on STS"]
    assert (
        "single-cross 0.860 vs single-concat 0.840 STS (+0.020, P —)"
        in lines["Cross encoding beats concatenated embeddings on STS"]
    )
    assert "— does not hold (0/1" in lines["Cross encoding beats concatenated embeddings on Quora"]
    assert "— mixed (2/3" in lines["Single-task models beat one multitask model"]
    assert lines["The shared layer helps"].endswith("not measured yet.")
    # the ensemble is compared with the members results.json records for it, and only with those
    ensemble = lines["The ensemble beats each of its members"]
    assert "— holds (7/7" in ensemble and "vs frozen 0.400 SST" in ensemble and "single-cross" not in ensemble
    assert lines["Best overall"] == "- **Best overall**: ensemble 0.7517."  # no predictions here: no interval


def test_the_options_table_documents_real_config_keys_with_their_measured_costs(tmp_path):
    from dataclasses import fields

    from mtbert.config import TrainConfig
    from mtbert.lab.option_costs import OPTION_DOCS, options
    from mtbert.lab.report import options_table

    known = {f.name for f in fields(TrainConfig)}
    assert all(k.strip() in known for doc in OPTION_DOCS for k in doc.key.split("/"))
    timed = {o.name for o in options(distill_targets="targets")}
    assert {o.name for o in options("targets", only=["distillation"])} == {"distillation", "sequential"}
    assert all(name in timed for doc in OPTION_DOCS for name in doc.timed)
    (tmp_path / "option_costs.json").write_text(
        '{"joint": {"step_cost": 2.5, "epoch_cost": 1.31, "baseline": "sequential"}}'
    )
    table = options_table(tmp_path)
    assert '| `schedule` | `"sequential"` |' in table and "joint: 2.50× (1.31×) vs sequential" in table
    assert table.count("\n") == len(OPTION_DOCS) + 1
    assert "not measured yet" in table  # the options without a recorded cost say so


def test_load_curve_and_ig_steps_sections_read_what_the_benchmarks_recorded(tmp_path):
    import json

    from mtbert.lab.speed_tables import ig_steps_table, load_curve_table

    assert "no load curve recorded" in load_curve_table(tmp_path) and "no study" in ig_steps_table(tmp_path)
    rows = [
        {
            "clients": n,
            "calls_per_client": 10,
            "errors": 0,
            "p50_ms": 10.0 * n,
            "p95_ms": 12.0 * n,
            "answers_per_second": a,
        }
        for n, a in ((1, 20.0), (50, 150.0))
    ]
    rest = [r | {"answers_per_second": 2 * r["answers_per_second"], "busy": 3 * (r["clients"] > 1)} for r in rows]
    batched = {"answers_per_second": 300.0, "batch_size": 32}
    app = {"load_curve": rows, "rest_load_curve": rest, "model_batched": batched}
    (tmp_path / "app_benchmark.json").write_text(json.dumps(app))
    curve = load_curve_table(tmp_path)
    assert 'x-axis "concurrent clients" [1, 50]' in curve and "line [20.0, 150.0]" in curve
    assert "line [40.0, 300.0]" in curve and 'y-axis "answers / s" 0 --> 331' in curve
    assert "| Gradio API (`/predict_similarity`) | 50 × 10 | 0 | — | 500.0 | 600.0 | 150.0 | 50% |" in curve
    assert "| `POST /v1/predict` | 50 × 10 | 0 | 3 | 500.0 | 600.0 | 300.0 | 100% |" in curve
    assert "answers 300.0 a second" in curve
    study = {
        "tolerance": 0.02,
        "variants": ["v"],
        "inputs": {"similarity": 8},
        "methods": {"gausslegendre": {"8": {"error_p50": 0.001, "error_p95": 0.01, "error_max": 0.015, "ms_p50": 40}}},
        "chosen": {"gausslegendre": 8},
        "app_steps": 8,
        "app_method": "gausslegendre",
    }
    (tmp_path / "ig_steps.json").write_text(json.dumps(study))
    table = ig_steps_table(tmp_path)
    assert "| gausslegendre | 8 (the app's first pass) | 0.10% | 1.00% | 1.50% | 40 |" in table
    assert "gausslegendre: 8." in table
