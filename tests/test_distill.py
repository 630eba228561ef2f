"""Distillation: the teacher's targets are computed once (resumably) and belong to one train file and teacher; the
mixed loss is the gold loss at weight 0 and follows the teacher at weight 1; runs distil on every schedule."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtbert import tasks as task_registry
from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.distill import TargetsError, compute_targets, distill_loss, read_targets, teacher_weight
from mtbert.train_steps import build_model
from mtbert.training import train
from tests.tiny import tiny_backbone
from tests.tolerances import SAME_ORDER

TASKS = ["sentiment", "paraphrase", "similarity"]


def _tiny(seed: int, tasks=TASKS, pair_encoding="cross"):
    torch.manual_seed(seed)
    cfg = TrainConfig(backbone=tiny_backbone(), heads=HeadConfig(tasks=list(tasks), pair_encoding=pair_encoding))
    return build_model(cfg, list(tasks)).eval()


@pytest.fixture(scope="module")
def teacher(small_data, tmp_path_factory):
    """Targets of a two-member teacher on the small train files; how often each member was loaded."""
    loads: list[str] = []
    members = {f"m{i}": (lambda i=i: loads.append(f"m{i}") or _tiny(i)) for i in range(2)}
    out = compute_targets(members, small_data, tmp_path_factory.mktemp("targets"), TASKS)
    return out, members, loads


def test_the_targets_are_the_members_mean_and_name_their_file_and_teacher(teacher, small_data):
    out, members, _ = teacher
    manifest = json.loads((out / "targets.json").read_text())
    assert manifest["teacher"] == ["m0", "m1"] and manifest["files"]["paraphrase"]["file"] == "quora-train.csv"
    targets = read_targets(out, "sentiment", small_data / "ids-sst-train.csv")
    assert len(targets) == 240 and all(abs(float(v.sum()) - 1) < 1e-4 for v in targets.values())
    from mtbert.data import read_examples

    first = read_examples(small_data / "sts-train.csv", "similarity")[:3]
    mean = np.mean([m().predict("similarity", [e.a for e in first], [e.b for e in first]) for m in members.values()], 0)
    scores = read_targets(out, "similarity", small_data / "sts-train.csv")
    np.testing.assert_allclose([scores[e.id] for e in first], mean, atol=1e-5)


def test_a_pass_resumes_where_it_stopped(small_data, tmp_path):
    loads: list[str] = []

    def broken():
        raise KeyboardInterrupt

    members = {"m0": lambda: loads.append("m0") or _tiny(0), "m1": broken}
    with pytest.raises(KeyboardInterrupt):
        compute_targets(members, small_data, tmp_path, ["similarity"])
    members["m1"] = lambda: loads.append("m1") or _tiny(1)
    compute_targets(members, small_data, tmp_path, ["similarity"])
    assert loads == ["m0", "m1"]  # m0's part was kept, not computed again


def test_targets_of_another_file_or_teacher_are_refused_by_name(teacher, small_data, tmp_path):
    out, _, _ = teacher
    other = tmp_path / "sts-train.csv"
    lines = (small_data / "sts-train.csv").read_text().splitlines()
    other.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(TargetsError, match=r"computed on sts-train.csv \(sha256 .*\), not on .*sts-train.csv"):
        read_targets(out, "similarity", other)
    with pytest.raises(TargetsError, match=r"teacher \['m0', 'm1'\], not \['m0'\]"):
        read_targets(out, "similarity", small_data / "sts-train.csv", teacher=["m0"])
    with pytest.raises(TargetsError, match=r"teacher \['m0', 'm1'\], not \['x'\]"):
        compute_targets({"x": lambda: _tiny(0)}, small_data, out, ["similarity"])


@pytest.mark.parametrize("task", TASKS)
def test_the_mixed_loss_is_gold_at_0_and_teacher_at_1(task):
    spec = task_registry.get(task)
    torch.manual_seed(0)
    n = 6
    values = torch.randn(n, 5) if spec.output == "classes" else torch.randn(n)
    gold = (torch.randint(0, 5, (n,)) if spec.output == "classes" else torch.randint(0, 2, (n,))).float()
    if spec.output == "score":
        gold = torch.rand(n) * 5
    soft = torch.rand(n, 5).softmax(-1) if spec.output == "classes" else torch.rand(n)
    torch.testing.assert_close(distill_loss(task, values, gold, soft, 0.0), spec.loss(values, gold))
    if spec.output == "classes":
        expected = -(soft * values.log_softmax(-1)).sum(-1).mean()
    elif spec.output == "probability":
        expected = F.binary_cross_entropy_with_logits(values, soft)
    else:
        expected = F.mse_loss(values, soft)
    torch.testing.assert_close(distill_loss(task, values, gold, soft, 1.0), expected)
    soft[0] = float("nan")  # no teacher target for the first row: gold there
    half = distill_loss(task, values[:1], gold[:1], soft[:1], 1.0)
    torch.testing.assert_close(half, spec.loss(values[:1], gold[:1]))


def test_the_teacher_share_is_fixed_or_annealed_and_the_temperature_softens():
    assert teacher_weight(0.3, "fixed", 0.9) == 0.3
    assert [teacher_weight(0.3, "anneal", p) for p in (0.0, 0.25, 1.0)] == [1.0, 0.75, 0.0]
    values, gold = torch.zeros(1, 5), torch.tensor([0.0])
    sharp = torch.tensor([[0.9, 0.1, 0.0, 0.0, 0.0]])
    hot, cold = (distill_loss("sentiment", values, gold, sharp, 1.0, t) for t in (1.0, 4.0))
    assert hot == pytest.approx(np.log(5)) and cold == pytest.approx(
        np.log(5)
    )  # uniform logits: any target costs log 5
    with pytest.raises(ValueError, match="distill_alpha"):
        TrainConfig(distill_alpha=1.5)
    with pytest.raises(ValueError, match="R-Drop"):
        TrainConfig(distill_targets="x", rdrop_tasks=["similarity"], heads=HeadConfig(tasks=["similarity"]))


def _config(small_data, out, **overrides):
    base = dict(
        backbone=tiny_backbone(),
        heads=HeadConfig(tasks=TASKS, pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4),
        epochs=1,
        batch_size=16,
        lr=1e-3,
        train_limit=48,
        save_every_steps=0,
        data_dir=str(small_data),
        out_dir=str(out),
    )
    return TrainConfig(**(base | overrides))


def test_a_run_with_the_teacher_at_0_is_the_run_without_it(teacher, small_data, tmp_path):
    out, _, _ = teacher
    train(_config(small_data, tmp_path / "gold"))
    train(_config(small_data, tmp_path / "zero", distill_targets=str(out), distill_alpha=0.0))
    gold, zero = (json.loads((tmp_path / r / "log.jsonl").read_text().splitlines()[0]) for r in ("gold", "zero"))
    for task in TASKS:
        assert zero["train_loss"][task] == pytest.approx(gold["train_loss"][task], abs=SAME_ORDER)


@pytest.mark.parametrize(
    "options",
    [
        {"schedule": "joint", "gradient_surgery": "pcgrad", "distill_schedule": "anneal"},
        {"schedule": "sequential", "contrastive_weight": 0.1, "distill_temperature": 2.0},
        {"schedule": "annealed", "heads": HeadConfig(tasks=TASKS, pair_encoding="cross", shared_layer=True)},
    ],
    ids=["joint-pcgrad-bam", "sequential-contrastive", "annealed-shared"],
)
def test_distillation_trains_on_every_schedule_with_the_other_options(teacher, small_data, tmp_path, options):
    out, _, _ = teacher
    best = train(_config(small_data, tmp_path / "run", distill_targets=str(out), **options))
    saved = json.loads((best / "config.json").read_text())["train"]
    assert saved["distill_targets"] == str(out) and (best / "model.safetensors").exists()
    shutil.rmtree(tmp_path / "run")
