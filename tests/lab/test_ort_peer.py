"""The ONNX Runtime peer benchmark on the tiny BERT: the exported graph computes what minBERT computes, every path
is timed, and the README table reads what it recorded."""

from __future__ import annotations

import json

import pytest

from mtbert.lab.ort_peer import peer_benchmark
from mtbert.lab.speed_tables import ORT_PATHS, ort_peer_table
from tests.tiny import tiny_backbone
from tests.tolerances import ONNX_RUNTIME

pytest.importorskip("onnxruntime")


def test_every_path_is_timed_on_the_same_weights(tmp_path):
    result = peer_benchmark(["a fine film", "a dull one", "it is a film about films"], tiny_backbone(), 2, 3, 1, 1)
    assert result["ort_fp32_vs_mtbert_max_abs_diff"] < ONNX_RUNTIME  # the same encoder, not another model
    for key in ORT_PATHS:
        assert result[key]["bucketed_sentences_per_s"] > 0 and result[key]["pair_ms"] > 0
    for precision in ("fp32", "int8"):
        ours, peer = result[f"mtbert_{precision}"], result[f"ort_{precision}"]
        assert ours["pair_time_vs_ort"] == pytest.approx(ours["pair_ms"] / peer["pair_ms"], abs=0.01)
    (tmp_path / "benchmark.json").write_text(json.dumps({"onnxruntime_peer": result}))
    table = ort_peer_table(tmp_path)
    assert "| ONNX Runtime fp32 |" in table and f"({result['mtbert_int8']['throughput_vs_ort']}× ORT)" in table
    assert "no ONNX Runtime comparison" in ort_peer_table(tmp_path / "missing")
