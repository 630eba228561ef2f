"""The README's and docs/findings.md's tables are generated from assets/*.json and are up to date."""

from __future__ import annotations

import pytest

from mtbert.lab.report import models_table, render
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
