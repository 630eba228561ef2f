"""The task registry: each spec's metric, loss and post-processing, and a fourth task registered in a fixture that
trains, evaluates and predicts through the generic paths without another module knowing it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from mtbert import tasks
from mtbert.checkpoint import load
from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.evaluation import evaluate, write_test_predictions
from mtbert.training import train

TOY = tasks.Task(
    "entailment",
    "toy-nli",
    "entails",
    pair=True,
    output="probability",
    metric_key="toy_acc",
    metric_label="Toy",
    class_names=("no", "yes"),
    verdict_names=("does not follow", "follows"),
    threshold=0.5,
    test_file="toy-test-output.csv",
    test_header="Predicted_Entails",
)


@pytest.fixture
def toy_task(tmp_path, small_data):
    """The toy task registered for one test, with train/dev/test files beside the STS ones: B follows from A when
    it repeats A."""
    for split in ("train", "dev"):
        shutil.copy(small_data / f"sts-{split}.csv", tmp_path)
    rows = []
    for i in range(64):
        subject = ["a man", "a woman", "the dog", "two kids"][i % 4]
        verb = ["runs", "sings", "sleeps", "eats"][(i // 4) % 4]
        if i % 2:
            rows.append((f"{subject} {verb} in the park.", f"{subject} {verb}.", 1))
        else:
            rows.append((f"{subject} {verb} in the park.", "the stock market fell sharply today.", 0))
    for split in ("train", "dev"):
        lines = ["\tid\tsentence1\tsentence2\tentails"] + [
            f"{i}\tt{i}\t{a}\t{b}\t{y}" for i, (a, b, y) in enumerate(rows)
        ]
        (tmp_path / f"toy-nli-{split}.csv").write_text("\n".join(lines) + "\n")
    test_lines = ["\tid\tsentence1\tsentence2"] + [f"{i}\tt{i}\t{a}\t{b}" for i, (a, b, _) in enumerate(rows[:5])]
    (tmp_path / "toy-nli-test-student.csv").write_text("\n".join(test_lines) + "\n")
    with tasks.registered(TOY):
        yield tmp_path


def test_a_fourth_task_trains_evaluates_and_predicts_through_the_generic_paths(toy_task, tmp_path):
    config = TrainConfig(
        heads=HeadConfig(tasks=["entailment", "similarity"], pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4),
        backbone="minilm-l3",  # pretrained (the toy task must be learnt), at half MiniLM-L6's cost
        epochs=2,
        batch_size=16,
        lr=2e-3,
        data_dir=str(toy_task),
        out_dir=str(tmp_path / "run"),
        train_limit=32,
    )
    best = train(config)  # one multitask model: the toy task beside STS, on the sequential schedule
    model = load(best)
    assert model.tasks == ["entailment", "similarity"]
    report = evaluate(model, toy_task, "dev")
    assert set(report.metrics) == {"toy_acc", "sts_pearson"} and report.metrics["toy_acc"] >= 0.75
    assert report.confusion["entailment"] and list(report.predictions["entailment"].columns[-2:]) == [
        "probability",
        "predicted",
    ]
    probabilities = model.predict(
        "entailment",
        ["a man runs in the park.", "a man runs in the park."],
        ["a man runs.", "the stock market fell sharply today."],
    )
    assert probabilities.shape == (2,) and probabilities[0] > probabilities[1]  # it learnt which pair follows
    written = write_test_predictions(model, toy_task, tmp_path / "test")
    assert [p.name for p in written] == ["toy-test-output.csv"]
    assert written[0].read_text().splitlines()[0] == "id \t Predicted_Entails "


def test_unknown_tasks_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown task 'nli'; known tasks: sentiment, paraphrase, similarity"):
        tasks.get("nli")
    with pytest.raises(ValueError, match="non-empty subset"):
        HeadConfig(tasks=["nli"])
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(tasks.get("sentiment"))
    with pytest.raises(ValueError, match="built-in"):
        tasks.unregister("sentiment")


def test_metrics_decisions_and_the_overall_formula():
    sentiment, paraphrase, similarity = (tasks.get(t) for t in tasks.CS224N_TASKS)
    assert sentiment.metric(np.array([0, 1, 2]), np.eye(3)[[0, 1, 1]]) == pytest.approx(2 / 3)
    assert paraphrase.metric(np.array([1, 0]), np.array([0.7, 0.6])) == 0.5  # 0.6 >= 0.5 counts as a duplicate
    assert paraphrase.decide(np.array([0.49, 0.5])).tolist() == [0, 1]
    assert similarity.metric(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert similarity.unit(-1.0) == 0.0 and similarity.unit(0.6) == pytest.approx(0.8) and sentiment.unit(0.3) == 0.3
    metrics = {"sst_acc": 0.5, "quora_acc": 0.8, "sts_pearson": 0.6}
    assert tasks.overall_score(metrics) == pytest.approx((0.5 + 0.8 + 0.8) / 3)
    assert tasks.overall_score({"sst_acc": 0.5}) is None
    assert [similarity.test_value(3.14159), paraphrase.test_value(0.7), sentiment.test_value(np.eye(5)[3])] == [
        "3.1416",
        "1",
        "3",
    ]
    assert sentiment.labels(2) == ["negative", "positive"] and len(sentiment.labels()) == 5
    assert [s.metric_name for s in (sentiment, paraphrase, similarity)] == ["SST acc", "Quora acc", "STS Pearson"]


def test_losses_and_postprocessing_follow_the_output_kind():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    sentiment, paraphrase, similarity = (tasks.get(t) for t in tasks.CS224N_TASKS)
    assert sentiment.postprocess(logits).sum().item() == pytest.approx(1.0)
    assert sentiment.loss(logits, torch.tensor([0.0])).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, torch.tensor([0])).item()
    )
    assert paraphrase.postprocess(torch.tensor([0.0])).item() == 0.5
    assert similarity.postprocess(torch.tensor([-1.0, 7.0])).tolist() == [0.0, 5.0]
    assert similarity.head_activation(torch.tensor([0.0])).item() == pytest.approx(2.5)
    assert paraphrase.head_activation(torch.tensor([0.3])).item() == pytest.approx(0.3)
    assert similarity.loss(torch.tensor([1.0]), torch.tensor([3.0])).item() == pytest.approx(4.0)


def test_the_registry_and_the_report_tooling_load_without_torch():
    code = "import sys, mtbert.tasks, mtbert.lab.significance; print('torch' in sys.modules, 'peft' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
