"""A step's gradients: gradient surgery touches only the shared parameters, loss weights are learnt."""

from __future__ import annotations

import json

import pytest
import torch

from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.data import bucketed_batches, read_examples
from mtbert.distributed import Workers
from mtbert.step import StepGradients
from mtbert.surgery import pcgrad
from mtbert.train_steps import build_model, epoch_plan, task_loss
from mtbert.training import train
from tests.tiny import tiny_backbone

TASKS = ["sentiment", "paraphrase", "similarity"]
STEMS = {"sentiment": "ids-sst", "paraphrase": "quora", "similarity": "sts"}


def _config(small_data, **overrides) -> TrainConfig:
    """Joint steps on the session's tiny BERT (tests.tiny): what these tests check does not need pretrained weights."""
    base = dict(
        backbone=tiny_backbone(),
        heads=HeadConfig(tasks=TASKS, pair_encoding="cross", pooling="mean", dropout=0.0),
        finetune=FinetuneConfig(mode="lora", lora_rank=4, lora_dropout=0.0, lora_targets=["query", "value"]),
        schedule="joint",
        backbone_dropout=0.0,
        data_dir=str(small_data),
    )
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def step_and_model(small_data):
    torch.manual_seed(0)  # the heads' and adapters' initial weights: PCGrad must find the tasks' gradients in conflict
    model = build_model(_config(small_data), TASKS)
    step = []
    for task in TASKS:
        items = model.items_for(read_examples(small_data / f"{STEMS[task]}-train.csv", task)[:8])
        step.append((task, bucketed_batches(items, 8, shuffle=False)[0]))
    return model, step


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_joint_steps_hold_one_batch_of_every_task():
    plan = epoch_plan(TrainConfig(schedule="joint"), {"sentiment": [1, 2], "paraphrase": [1, 2, 3, 4]}, 0)
    assert len(plan) == 4 and all([t for t, _ in step] == ["sentiment", "paraphrase"] for step in plan)


def test_pcgrad_changes_only_the_shared_gradient_and_equals_pcgrad_of_the_task_gradients(small_data, step_and_model):
    model, step = step_and_model
    model.eval()
    shared = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")]
    per_task = []
    for task, batch in step:
        model.zero_grad(set_to_none=True)
        task_loss(model, task, batch).backward()
        per_task.append(torch.cat([dict(model.named_parameters())[n].grad.reshape(-1) for n in shared]))
    cfg = _config(small_data, gradient_surgery="none")

    def run(config: TrainConfig) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        StepGradients(model, config, Workers(), lambda t, b: task_loss(model, t, b)).compute(step, global_step=7)
        return _grads(model)

    plain, surgery = run(cfg), run(_config(small_data, gradient_surgery="pcgrad"))
    heads = [n for n in plain if n not in shared]
    assert heads and all(torch.allclose(plain[n], surgery[n]) for n in heads)
    expected = pcgrad(torch.stack(per_task), torch.Generator().manual_seed(cfg.seed * 1_000_003 + 7))
    got = torch.cat([surgery[n].reshape(-1) for n in shared])
    # the task gradients of separate backward passes against those of one step: the same sums in another order,
    # computed in one process; the next line shows that 1e-6 still tells PCGrad's projection from the plain sum
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, torch.cat([plain[n].reshape(-1) for n in shared]), atol=1e-6)


def test_uncertainty_weights_are_trained_saved_and_logged(small_data, tmp_path):
    cfg = _config(
        small_data,
        loss_weighting="uncertainty",
        gradient_surgery="gradvac",
        train_limit=32,
        batch_size=16,
        epochs=2,
        lr=1e-3,
        save_every_steps=1,
        out_dir=str(tmp_path / "run"),
    )
    train(cfg)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]
    weights = log[-1]["loss_weights"]
    assert set(weights) == set(TASKS) and weights != {"sentiment": 1.0, "paraphrase": 1.0, "similarity": 0.5}
    extra = torch.load(tmp_path / "run" / "state" / "optimizer.pt", weights_only=True)
    assert extra["step_gradients"]["log_vars"].abs().sum() > 0
    assert extra["step_gradients"]["gradvac_targets"].abs().sum() > 0  # GradVac's running targets resume too


def test_surgery_needs_joint_steps_and_a_trainable_backbone():
    with pytest.raises(ValueError, match="joint"):
        TrainConfig(gradient_surgery="pcgrad", schedule="sequential")
    with pytest.raises(ValueError, match="frozen"):
        TrainConfig(gradient_surgery="cagrad", schedule="joint", finetune=FinetuneConfig(mode="frozen"))
    with pytest.raises(ValueError, match="gradient_surgery"):
        TrainConfig(gradient_surgery="mgda", schedule="joint")


def test_mt_dnn_starts_each_task_model_from_the_multitask_checkpoint(small_data, tmp_path):
    multi = _config(small_data, schedule="sequential", train_limit=32, epochs=1, out_dir=str(tmp_path / "multi"))
    best = train(multi)
    single = _config(
        small_data,
        mode="single",
        schedule="sequential",
        init_from=str(best),
        train_limit=32,
        epochs=1,
        out_dir=str(tmp_path / "single"),
    )
    started = build_model(single, ["similarity"])
    from mtbert.checkpoint import load

    source = load(best).state_dict()
    own = started.state_dict()
    copied = [k for k in own if "lora_" in k or k.startswith("heads.")]
    assert copied and all(torch.equal(own[k], source[k]) for k in copied)
    fresh = build_model(_config(small_data, mode="single"), ["similarity"]).state_dict()
    assert not all(torch.equal(fresh[k], own[k]) for k in copied)
    other = _config(small_data, mode="single", init_from=str(best), heads=HeadConfig(tasks=TASKS, pooling="cls"))
    with pytest.raises(ValueError, match="pooling differs"):
        build_model(other, ["similarity"])
