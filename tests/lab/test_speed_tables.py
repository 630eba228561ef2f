"""The speed and cost tables read what the benchmarks recorded in assets/*.json."""

from __future__ import annotations

import json

from mtbert.lab.speed_tables import benchmark_table, browser_stages_table, ig_steps_table, load_curve_table


def test_benchmark_table_without_files_is_just_a_header(tmp_path):
    assert benchmark_table(tmp_path).count("\n") == 1


def test_load_curve_and_ig_steps_sections_read_what_the_benchmarks_recorded(tmp_path):
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


def test_browser_stages_list_each_stage_the_total_and_the_handlers_own_work(tmp_path):
    assert "Not measured yet" in browser_stages_table(tmp_path)
    ms = {"p50_ms": 10.0, "p95_ms": 12.0, "max_ms": 13.0}
    web = {
        "variant": "v",
        "runs": 3,
        "to_prediction": {"p50_ms": 40.0, "p95_ms": 48.0, "max_ms": 50.0},
        "to_prediction_stages": {"click to the queue request (the page)": ms, "first chunk to the page": ms},
        "handler_first_chunk": {"p50_ms": 7.5, "p95_ms": 9.0, "max_ms": 9.5},
    }
    (tmp_path / "app_benchmark.json").write_text(json.dumps({"browser": web}))
    table = browser_stages_table(tmp_path)
    assert "| click to the queue request (the page) | 10.0 | 12.0 |" in table and "| first chunk to the page |" in table
    assert "| **click to the rendered prediction** | **40.0** | **48.0** |" in table
    assert "`v`, 3 Runs" in table and "p50 7.5 ms, p95 9.0 ms" in table


def test_the_isolation_rows_show_the_filters_under_saliency_and_alone(tmp_path):
    ms = {"p50_ms": 120.0, "p95_ms": 150.0, "max_ms": 160.0}
    isolation = {"saliency_calls_meanwhile": 8, "explore": ms, "explore_alone": ms | {"p50_ms": 90.0}}
    sequential = {"calls": 100, "p50_ms": 200.0, "p95_ms": 250.0}
    (tmp_path / "app_benchmark.json").write_text(json.dumps({"sequential": sequential, "isolation": isolation}))
    table = benchmark_table(tmp_path)
    assert "integrated gradients in a loop (8 ran meanwhile) | p50 120.0 ms, p95 150.0 ms |" in table
    assert "| the same Explorer filters on an idle server (gradio_client) | p50 90.0 ms, p95 150.0 ms |" in table
