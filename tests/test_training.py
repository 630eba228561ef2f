"""Tiny training runs: the loss goes down, Ctrl-C resumes exactly, NaN stops cleanly, schedules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import mtbert.run_state as run_state
import mtbert.train_steps as train_steps
import mtbert.training as training
from mtbert.checkpoint import load
from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig
from mtbert.data import read_examples
from mtbert.evaluation import evaluate, predict_examples
from mtbert.run_state import TrainingDiverged, TrainingInterrupted
from mtbert.train_steps import epoch_plan
from mtbert.training import train
from tests.tiny import tiny_backbone
from tests.tolerances import SAME_ORDER


def config(small_data, out, **overrides) -> TrainConfig:
    """A small LoRA recipe on the session's tiny BERT (tests.tiny), for the tests whose subject is not learning."""
    base = dict(
        backbone=tiny_backbone(),
        heads=HeadConfig(tasks=["similarity"], pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4, lora_targets=["query", "value"]),
        epochs=2,
        batch_size=16,
        lr=1e-3,
        train_limit=160,
        save_every_steps=4,
        data_dir=str(small_data),
        out_dir=str(out),
    )
    base.update(overrides)
    return TrainConfig(**base)


def _mse(model, data_dir):
    examples = read_examples(data_dir / "sts-train.csv", "similarity")[:160]
    predictions = predict_examples(model, "similarity", examples)
    return float(np.mean((predictions - np.array([e.label for e in examples])) ** 2))


def test_tiny_run_lowers_the_loss(small_data, tmp_path, backbone_cache):
    # learning needs pretrained weights: MiniLM-L3 (paraphrase-MiniLM-L3-v2), at half MiniLM-L6's cost
    cfg = config(small_data, tmp_path / "run", epochs=3, lr=1e-2, backbone="minilm-l3")
    before = _mse(train_steps.build_model(cfg, ["similarity"]), small_data)
    best = train(cfg)
    after = _mse(load(best, backbone_cache), small_data)
    assert after < 0.7 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2, 3] and "sts_pearson" in log[0]["dev"]
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["trainable_parameters"] > 0 and metrics["seed"] == cfg.seed
    assert json.loads((best / "config.json").read_text())["data_sha256"]["sts-train.csv"]


def test_a_finished_run_records_every_epochs_seconds_even_when_an_earlier_epoch_is_best(
    small_data, tmp_path, monkeypatch
):
    monkeypatch.setattr(training.Trainer, "score", lambda self, metrics: -self.state.epoch)  # epoch 1 scores best
    # MiniLM-L3: an epoch of the tiny BERT can take less than the 0.1 s that train_seconds is rounded to
    best = train(config(small_data, tmp_path / "run", epochs=2, train_limit=32, backbone="minilm-l3"))
    metrics = json.loads((best / "metrics.json").read_text())
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert metrics["epoch"] == 1 and log[0]["train_seconds"] < log[1]["train_seconds"]
    assert metrics["train_seconds"] == log[-1]["train_seconds"]  # the run's cost, not the time to its best epoch


def test_interrupt_then_resume_matches_an_uninterrupted_run(small_data, tmp_path, monkeypatch):
    straight = json.loads((train(config(small_data, tmp_path / "a")) / "metrics.json").read_text())
    real_loss = training.task_loss
    calls = {"n": 0}

    def interrupting_loss(*args):
        calls["n"] += 1
        if calls["n"] == 13:  # epoch 2, step 3: between two periodic state saves
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(training, "task_loss", interrupting_loss)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        train(config(small_data, tmp_path / "b"))
    monkeypatch.setattr(training, "task_loss", real_loss)
    resumed = json.loads((train(config(small_data, tmp_path / "b"), resume=True) / "metrics.json").read_text())
    assert resumed["sts_pearson"] == pytest.approx(straight["sts_pearson"], abs=SAME_ORDER)


def test_a_run_resumed_on_another_device_records_both(small_data, tmp_path, monkeypatch):
    real_loss = training.task_loss
    calls = {"n": 0}

    def interrupting_loss(*args):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(training, "task_loss", interrupting_loss)
    with pytest.raises(TrainingInterrupted):
        train(config(small_data, tmp_path / "run"))
    monkeypatch.setattr(training, "task_loss", real_loss)
    state_file = tmp_path / "run" / "state" / "state.json"
    state = json.loads(state_file.read_text())
    assert state["devices"] == ["cpu"]
    state_file.write_text(json.dumps({**state, "devices": ["cuda"]}))  # as if its first part ran on a GPU
    monkeypatch.setattr(training.Trainer, "score", lambda self, metrics: -self.state.epoch)  # epoch 1 stays best
    metrics = json.loads((train(config(small_data, tmp_path / "run"), resume=True) / "metrics.json").read_text())
    assert metrics["epoch"] == 1 and metrics["device"] == "cpu, cuda"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(small_data, tmp_path, monkeypatch):
    real_loss = training.task_loss
    calls = {"n": 0}

    def nan_in_epoch_two(*args):
        calls["n"] += 1
        loss = real_loss(*args)
        return loss * float("nan") if calls["n"] == 12 else loss

    monkeypatch.setattr(training, "task_loss", nan_in_epoch_two)
    with pytest.raises(TrainingDiverged, match="loss became nan") as info:
        train(config(small_data, tmp_path / "run"))
    assert "epoch 1" in str(info.value) and str(tmp_path / "run" / "best") in str(info.value)
    model = load(tmp_path / "run" / "best")
    assert np.isfinite(model.predict_similarity(["a"], ["b"])).all()


def test_resume_refuses_another_recipe_and_skips_a_finished_run(small_data, tmp_path, monkeypatch):
    cfg = config(small_data, tmp_path / "run", epochs=1, train_limit=32)
    best = train(cfg)
    assert json.loads((best / "metrics.json").read_text())["device"] == "cpu"
    # finished: resuming trains nothing (a Trainer would fail here)
    monkeypatch.setattr(training.Trainer, "run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert train(cfg, resume=True) == best
    monkeypatch.undo()
    # more epochs is another recipe: its schedule differs, so the old state must not be continued
    with pytest.raises(ValueError, match=r"epochs: 1 -> 2"):
        train(config(small_data, tmp_path / "run", epochs=2, train_limit=32), resume=True)
    # where the run happens is not part of the recipe
    assert train(config(small_data, tmp_path / "run", epochs=1, train_limit=32, device="cpu"), resume=True) == best
    # a finished run is not taken for a run of another recipe either
    with pytest.raises(ValueError, match=r"lr: 0\.\d+ -> 0\.5"):
        train(config(small_data, tmp_path / "run", epochs=1, train_limit=32, lr=0.5), resume=True)
    # kept without its state/, a finished run is still finished: its log and best checkpoint say so
    shutil.rmtree(tmp_path / "run" / "state")
    monkeypatch.setattr(training.Trainer, "run", lambda *a, **k: pytest.fail("a finished run was trained again"))
    assert train(cfg, resume=True) == best
    with pytest.raises(ValueError, match=r"best belongs to a run with other settings \(lr: "):
        train(config(small_data, tmp_path / "run", epochs=1, train_limit=32, lr=0.5), resume=True)


def test_resolve_device():
    assert run_state.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert run_state.resolve_device("auto").type == expected
    assert run_state.describe_device(run_state.resolve_device("cpu")) == "cpu"


def test_joint_device_names_each_device_once():
    gpu = "cuda"
    assert run_state.joint_device([{"device": "cpu"}, {}]) == "cpu"
    # a record that is itself a joint run (an assembled single-task checkpoint) is split into its devices
    records = [{"device": "cpu"}, {"device": f"cpu, {gpu}"}, {"device": gpu}]
    assert run_state.joint_device(records) == f"cpu, {gpu}"


def test_single_task_models_train_in_separate_calls(small_data, tmp_path):
    cfg = config(
        small_data,
        tmp_path / "split",
        mode="single",
        epochs=1,
        train_limit=32,
        heads=HeadConfig(tasks=["sentiment", "similarity"], pair_encoding="cross"),
    )
    best = train(cfg, only_tasks=["similarity"])
    assert not best.exists() and (tmp_path / "split" / "tasks" / "similarity" / "best").exists()
    assert not (tmp_path / "split" / "tasks" / "sentiment").exists()
    train(cfg, resume=True, only_tasks=["sentiment"])
    assert load(best).tasks == ["sentiment", "similarity"]  # assembled once both are finished
    with pytest.raises(ValueError, match="single-task mode"):
        train(config(small_data, tmp_path / "multi"), only_tasks=["similarity"])


def test_single_task_mode_builds_one_model_per_task(small_data, tmp_path):
    cfg = config(
        small_data,
        tmp_path / "single",
        mode="single",
        epochs=1,
        train_limit=48,
        heads=HeadConfig(tasks=["sentiment", "similarity"], pair_encoding="concat"),
    )
    best = train(cfg)
    model = load(best)
    assert model.tasks == ["sentiment", "similarity"]
    metrics = json.loads((best / "metrics.json").read_text())
    assert {"sst_acc", "sts_pearson"} <= set(metrics)


@pytest.mark.parametrize("schedule", ["sequential", "round_robin", "annealed"])
def test_schedules_cover_the_tasks(schedule):
    batches = {"sentiment": list(range(10)), "paraphrase": list(range(30)), "similarity": list(range(5))}
    cfg = TrainConfig(schedule=schedule, epochs=3)
    plan = epoch_plan(cfg, batches, 0)
    tasks = [task for step in plan for task, _ in step]
    if schedule == "sequential":
        assert len(plan) == 45 and tasks == ["sentiment"] * 10 + ["paraphrase"] * 30 + ["similarity"] * 5
    elif schedule == "round_robin":
        assert len(plan) == 30 and all(len(step) == 3 for step in plan)
    else:
        assert len(plan) == 45 and set(tasks) == set(batches)


def test_annealing_shrinks_the_largest_tasks_share():
    batches = {"sentiment": list(range(100)), "paraphrase": list(range(300)), "similarity": list(range(50))}

    def paraphrase_steps(epoch: int, anneal_end: float) -> int:
        cfg = TrainConfig(schedule="annealed", epochs=3, anneal_start=1.0, anneal_end=anneal_end)
        return sum(task == "paraphrase" for step in epoch_plan(cfg, batches, epoch) for task, _ in step)

    # alpha 1 samples paraphrase with p = 300/450 (about 300 of 450 steps); alpha 0.2 with p = 0.40 (about 180)
    assert paraphrase_steps(0, 0.2) > 260 and paraphrase_steps(2, 0.2) < 220
    # without annealing (alpha stays 1) the share stays where it was
    assert paraphrase_steps(2, 1.0) > 260


@pytest.mark.parametrize("schedule", ["round_robin", "annealed"])
def test_multitask_run_scores_overall(small_data, tmp_path, schedule):
    cfg = config(
        small_data,
        tmp_path / "multi",
        epochs=1,
        train_limit=32,
        schedule=schedule,
        heads=HeadConfig(tasks=["sentiment", "paraphrase", "similarity"], shared_layer=True),
    )
    metrics = json.loads((train(cfg) / "metrics.json").read_text())
    assert {"sst_acc", "quora_acc", "sts_pearson", "overall"} <= set(metrics)


def test_symmetric_pairs_doubles_pair_data(small_data, tmp_path):
    cfg = config(small_data, tmp_path / "x", symmetric_pairs=True, train_limit=10)
    model = train_steps.build_model(cfg, ["similarity"])
    data = train_steps.load_task_data(model, cfg, small_data, "similarity")
    assert len(data.items) == 20


def test_build_model_uses_given_tasks(small_data, tmp_path):
    model = train_steps.build_model(config(small_data, tmp_path), ["paraphrase"])
    assert list(model.heads) == ["paraphrase"]
    assert model.predict_paraphrase(["a"], ["b"]).shape == (1,)


def test_sigterm_saves_state_and_the_cli_resumes(small_data, tmp_path):
    """``python -m train.train`` as its own process (forked from a server that has imported it, as the app starts
    runs): SIGTERM saves the state and exits 130; ``--resume`` finishes the run."""
    import signal
    import time
    from pathlib import Path

    from mtbert.app.launcher import ModuleProcess

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path / "killed"
    argv = [
        "--config",
        "train/configs/sts-cross-lora.toml",
        "--data-dir",
        str(small_data),
        "--out",
        str(out),
        "epochs=2",
        "train_limit=160",
        "batch_size=8",
        "save_every_steps=2",
        "finetune.lora_rank=4",
        "mode=multi",
        f"backbone={tiny_backbone()}",
    ]
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    process = ModuleProcess(argv, first, repo, {"HF_HUB_OFFLINE": "1"}, threads=1)
    deadline = time.time() + 120
    while not (out / "state" / "state.json").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130, first.read_text()[-2000:]
    assert "--resume" in first.read_text()
    state = json.loads((out / "state" / "state.json").read_text())
    assert state["epoch"] * 20 + state["step_in_epoch"] < 40  # stopped before the end
    resumed = ModuleProcess([*argv, "--resume"], second, repo, {"HF_HUB_OFFLINE": "1"}, threads=1)
    assert resumed.wait(timeout=300) == 0, second.read_text()[-2000:]
    assert "resuming" in second.read_text()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]  # every epoch logged once across the kill
    best = max(e["dev"]["sts_pearson"] for e in log)
    assert json.loads((out / "best" / "metrics.json").read_text())["sts_pearson"] == best
    assert json.loads((out / "state" / "state.json").read_text())["epoch"] == 2


def test_contrastive_steps_ride_along_with_pair_steps():
    batches = {"sentiment": ["s"] * 4, "paraphrase": ["p"] * 3, "similarity": ["t"] * 2, "contrastive": ["c0", "c1"]}
    plan = epoch_plan(TrainConfig(schedule="sequential"), batches, 0)
    assert [len(step) for step in plan] == [1] * 4 + [2] * 5
    assert [step[-1][1] for step in plan[4:]] == ["c0", "c1", "c0", "c1", "c0"]


def test_contrastive_run_logs_its_loss(small_data, tmp_path):
    cfg = config(small_data, tmp_path / "c", epochs=1, train_limit=64, contrastive_weight=0.5)
    train(cfg)
    entry = json.loads((tmp_path / "c" / "log.jsonl").read_text().splitlines()[0])
    assert set(entry["train_loss"]) == {"similarity", "contrastive"}


def test_contrastive_needs_a_trainable_backbone():
    with pytest.raises(ValueError, match="contrastive"):
        TrainConfig(contrastive_weight=0.1, finetune=FinetuneConfig(mode="frozen"))


def test_the_train_cli_points_ensemble_presets_to_build_zoo(capsys):
    from pathlib import Path

    from train.train import main

    with pytest.raises(SystemExit):
        main(["--config", str(Path(__file__).resolve().parents[1] / "train" / "configs" / "ensemble.toml")])
    assert "python -m train.build_zoo ensemble" in capsys.readouterr().err


def test_optimizer_groups_give_heads_their_own_rate_and_no_decay_to_biases(small_data, tmp_path):
    cfg = config(small_data, tmp_path, lr=1e-4, head_lr=3e-3, weight_decay=0.05)
    model = train_steps.build_model(cfg, ["similarity"])
    groups = train_steps.make_optimizer(model, cfg).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    by_group = [({names[id(p)] for p in g["params"]}, g["lr"], g["weight_decay"]) for g in groups]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set().union(*(g for g, _, _ in by_group)) == trainable  # every trainable parameter, frozen ones left out
    for params, lr, decay in by_group:
        heads = {not n.startswith("backbone.") for n in params}
        vectors = {model.get_parameter(n).ndim < 2 for n in params}
        assert len(heads) == 1 and len(vectors) == 1  # a group is all heads or all backbone, all matrices or not
        assert lr == (3e-3 if heads == {True} else 1e-4)
        assert decay == (0.0 if vectors == {True} else 0.05)
    assert any("lora_" in n for params, _, _ in by_group for n in params)
    no_head_lr = train_steps.make_optimizer(model, config(small_data, tmp_path, lr=2e-4)).param_groups
    assert {g["lr"] for g in no_head_lr} == {2e-4}  # head_lr defaults to lr


def test_learning_rate_warms_up_then_decays_linearly_to_zero():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = train_steps.linear_schedule(optimizer, total_steps=10, warmup_ratio=0.2)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])
    assert optimizer.param_groups[0]["lr"] == 0.0


def test_a_frozen_backbone_stays_in_eval_mode_and_unchanged_while_training(small_data, tmp_path, monkeypatch):
    cfg = config(small_data, tmp_path / "frozen", epochs=1, train_limit=32, finetune=FinetuneConfig(mode="frozen"))
    seen = []
    real_step = training.Trainer.train_step

    def recording_step(self, step):
        seen.append((self.model.training, self.model.backbone.training, self.model.heads.training))
        return real_step(self, step)

    monkeypatch.setattr(training.Trainer, "train_step", recording_step)
    trainer = training.Trainer.from_config(cfg, ["similarity"], tmp_path / "frozen", small_data)
    before = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    trainer.run()
    assert seen and all(state == (True, False, True) for state in seen)  # no dropout in the backbone
    after = trainer.model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in trainer.model.backbone.parameters())


def test_binary_cfimdb_sentiment_trains_and_predicts_two_classes(small_data, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = ["a wonderful, moving film\t1", "a dull and tired mess\t0", "great acting throughout\t1", "awful\t0"]
    for split in ("train", "dev"):
        lines = ["\tid\tsentence\tsentiment"] + [f"{i}\tc{i}\t{r}" for i, r in enumerate(rows * 8)]
        (data / f"ids-cfimdb-{split}.csv").write_text("\n".join(lines) + "\n")
    cfg = config(
        small_data,
        tmp_path / "cfimdb",
        epochs=1,
        sst_file="ids-cfimdb",
        data_dir=str(data),
        heads=HeadConfig(tasks=["sentiment"], num_sentiment_classes=2, pooling="mean"),
    )
    best = train(cfg)
    model = load(best)
    assert model.sentiment_labels == ["negative", "positive"]
    assert model.predict_sentiment(["a lovely film", "a boring film"]).shape == (2, 2)
    report = evaluate(model, data, "dev", sst_file="ids-cfimdb")
    assert np.array(report.confusion["sentiment"]).shape == (2, 2) and "sst_acc" in report.metrics
    assert json.loads((best / "config.json").read_text())["data_sha256"].keys() == {
        "ids-cfimdb-train.csv",
        "ids-cfimdb-dev.csv",
    }


def test_train_state_is_saved_and_loaded_whole(small_data, tmp_path):
    cfg = config(small_data, tmp_path / "state", epochs=1, train_limit=16)
    trainer = training.Trainer.from_config(cfg, ["similarity"], tmp_path / "state", small_data)
    trainer.state = run_state.TrainState(1, 3, 7, 0.25, 0, 12.5, {"similarity": [0.5, 0.25]})
    trainer.save_state()
    fresh = training.Trainer.from_config(cfg, ["similarity"], tmp_path / "state", small_data)
    assert fresh.load_state() and fresh.state == trainer.state


def test_phrase_level_sst_adds_a_fresh_sample_of_phrases_each_epoch(small_data, tmp_path):
    cfg = config(
        small_data,
        tmp_path / "p",
        heads=HeadConfig(tasks=["sentiment"]),
        sst_phrases=True,
        sst_phrase_ratio=0.5,
        train_limit=64,
    )
    trainer = training.Trainer.from_config(cfg, ["sentiment"], tmp_path / "p", small_data)
    data = trainer.data["sentiment"]
    assert len(data.items) == 64 and len(data.pool) > 64 and data.pool_per_epoch == 32
    first, second = data.epoch_items(1), data.epoch_items(2)
    assert len(first) == len(second) == 96 and first[:64] == data.items and first[64:] != second[64:]
    assert len(epoch_plan(cfg, trainer._batches(0), 0)) == 96 // 16
    trainer.run()
    assert json.loads((tmp_path / "p" / "best" / "config.json").read_text())["data_sha256"]["sst-train-trees.txt"]


def test_phrase_level_sst_says_when_the_trees_file_is_missing(small_data, tmp_path):

    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    (data / "sst-train-trees.txt").unlink()
    cfg = config(data, tmp_path / "p", heads=HeadConfig(tasks=["sentiment"]), sst_phrases=True)
    with pytest.raises(FileNotFoundError, match="sst-train-trees.txt"):
        train(cfg)
