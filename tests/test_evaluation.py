"""Metrics, the evaluate CLI's files, and CS224N prediction files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtbert.checkpoint import save_checkpoint
from mtbert.evaluation import evaluate, overall_score
from tests.test_multitask import make_model
from tests.tiny import tiny_backbone
from train.evaluate import main as evaluate_main


def test_overall_formula():
    assert overall_score({"sst_acc": 0.5, "quora_acc": 0.8, "sts_pearson": 0.6}) == pytest.approx((0.5 + 0.8 + 0.8) / 3)
    assert overall_score({"sst_acc": 0.5}) is None


def test_evaluate_reports_every_task(backbone_cache, small_data):
    # the tiny BERT (tests.tiny): what is checked is the report's shape, not what the model knows
    report = evaluate(make_model(backbone_cache, backbone_name=tiny_backbone()), small_data, "dev")
    assert set(report.metrics) == {"sst_acc", "quora_acc", "sts_pearson", "overall"}
    assert np.array(report.confusion["sentiment"]).sum() == len(report.predictions["sentiment"])
    assert np.array(report.confusion["paraphrase"]).shape == (2, 2)


def test_evaluate_cli_writes_metrics_confusion_and_predictions(backbone_cache, small_data, tmp_path):
    tiny = tiny_backbone()  # the CLI's files are the subject, not the model's knowledge
    save_checkpoint(make_model(backbone_cache, "concat", tasks=["similarity"], backbone_name=tiny), tmp_path / "sim")
    save_checkpoint(make_model(backbone_cache, backbone_name=tiny), tmp_path / "all" / "best")
    test_file = small_data / "sts-test-student.csv"
    test_file.write_text("\tid\tsentence1\tsentence2\n0\tq1\tA cat sits.\tA cat is sitting.\n")
    try:
        code = evaluate_main(
            [
                str(tmp_path / "sim"),
                str(tmp_path / "all" / "best"),
                "--data-dir",
                str(small_data),
                "--json",
                str(tmp_path / "out.json"),
                "--out-dir",
                str(tmp_path / "eval"),
                "--write-predictions",
            ]
        )
    finally:
        test_file.unlink()
    assert code == 0
    results = json.loads((tmp_path / "out.json").read_text())
    assert set(results) == {"sim", "all"}
    assert set(results["sim"]) == {"sts_pearson"} and "overall" in results["all"]
    assert (tmp_path / "eval" / "all" / "sentiment-dev-predictions.csv").exists()
    assert json.loads((tmp_path / "eval" / "all" / "confusion-dev.json").read_text())["paraphrase"]
    lines = (tmp_path / "eval" / "sim" / "sts-test-output.csv").read_text().splitlines()
    assert lines[0].startswith("id") and lines[1].startswith("q1 , ")


def test_evaluate_cli_reports_missing_checkpoint(tmp_path, small_data, capsys):
    assert evaluate_main([str(tmp_path / "missing"), "--data-dir", str(small_data)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_predictions_without_text_keep_ids_only(backbone_cache, small_data, tmp_path):
    save_checkpoint(make_model(backbone_cache, tasks=["similarity"], backbone_name=tiny_backbone()), tmp_path / "sim")
    assert (
        evaluate_main(
            [str(tmp_path / "sim"), "--data-dir", str(small_data), "--out-dir", str(tmp_path / "e"), "--no-text"]
        )
        == 0
    )
    header = (tmp_path / "e" / "sim" / "similarity-dev-predictions.csv").read_text().splitlines()[0]
    assert header == "id,gold,predicted"


def test_zero_shot_similarity_of_the_pretrained_backbone(small_data):
    from mtbert.evaluation import zero_shot_similarity

    pearson = zero_shot_similarity("minilm-l6", small_data)
    assert 0.6 < pearson <= 1.0  # all-MiniLM-L6-v2's raw cosine already tracks STS scores
