"""The fused-pass benchmark: it times both paths on the same members and reports how far their answers differ."""

from __future__ import annotations

import json

import torch

from mtbert.ensemble import EnsembleModel
from mtbert.lab.ensemble_fusion import fusion_benchmark
from mtbert.lab.speed_tables import ensemble_fusion_table
from tests.test_checkpoint import _perturb_heads
from tests.test_multitask import make_model
from tests.tolerances import REORDERED


def test_the_benchmark_times_both_paths_and_their_answers_agree(backbone_cache, tmp_path):
    torch.manual_seed(0)
    members = {
        "cross": _perturb_heads(make_model(backbone_cache)),
        "concat": _perturb_heads(make_model(backbone_cache)),
    }
    result = fusion_benchmark(EnsembleModel(members), calls=2)
    assert result["fused_groups"] == [2] and result["members"] == 2
    for row in (result["with_attentions"], result["without_attentions"]):
        assert row["fused_p50_ms"] > 0 and row["unfused_p50_ms"] > 0
        assert row["speedup"] == round(row["unfused_p50_ms"] / row["fused_p50_ms"], 2)
    assert set(result["max_abs_difference"]) == {"sentiment", "paraphrase", "similarity"}
    assert max(result["max_abs_difference"].values()) <= REORDERED
    (tmp_path / "benchmark.json").write_text("{}")
    assert "Not measured" in ensemble_fusion_table(tmp_path)
    recorded = {"variant": "two", **result, "machine": {"torch_threads": 2}}
    (tmp_path / "benchmark.json").write_text(json.dumps({"ensemble_fusion": recorded}))
    table = ensemble_fusion_table(tmp_path)
    assert f"| {result['with_attentions']['speedup']}× |" in table and "answer in passes of 2;" in table
