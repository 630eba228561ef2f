"""Step records: metrics.jsonl once per step across a resume, torn lines, trackers through accelerate."""

from __future__ import annotations

import json

import pytest

import mtbert.training as training
from mtbert.config import TrainConfig
from mtbert.run_log import METRICS_LOG, flat_values, keep_until, read_records
from mtbert.run_state import TrainingInterrupted
from mtbert.training import train
from tests.test_training import config


def _steps(run):
    return [r for r in read_records(run / METRICS_LOG) if r["kind"] == "step"]


def test_every_step_is_logged_with_its_loss_rate_norm_and_throughput(small_data, tmp_path):
    run = tmp_path / "run"
    train(config(small_data, run, log_every_steps=1))
    steps = _steps(run)
    assert [r["step"] for r in steps] == list(range(1, len(steps) + 1)) and len(steps) == 20  # 160 rows / 16, 2 ep
    first = steps[0]
    assert set(first["loss"]) == {"similarity"} and first["grad_norm"] > 0 and first["examples_per_second"] > 0
    assert first["lr"] < steps[1]["lr"] and steps[-1]["lr"] < steps[1]["lr"]  # warm-up, then decay
    assert steps[-1]["examples"] == 320 and steps[-1]["epoch"] == pytest.approx(2.0)
    epochs = [r for r in read_records(run / METRICS_LOG) if r["kind"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and "sts_pearson" in epochs[0]["dev"] and epochs[0]["best"]


def test_a_record_averages_the_steps_since_the_last(small_data, tmp_path):
    run = tmp_path / "run"
    train(config(small_data, run, log_every_steps=4))
    assert [r["step"] for r in _steps(run)] == [4, 8, 12, 16, 20]


def test_a_resumed_run_logs_every_step_once(small_data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_loss = training.task_loss
    calls = {"n": 0}

    def interrupting_loss(*args):
        calls["n"] += 1
        if calls["n"] == 13:  # epoch 2, step 3
            raise KeyboardInterrupt
        return real_loss(*args)

    monkeypatch.setattr(training, "task_loss", interrupting_loss)
    with pytest.raises(TrainingInterrupted):
        train(config(small_data, run, log_every_steps=1, save_every_steps=100))
    # As if SIGKILL struck later: records past the saved state, and half a line.
    with open(run / METRICS_LOG, "a") as f:
        f.write(json.dumps({"kind": "step", "step": 13, "epoch": 1.3, "loss": {}}) + "\n" + '{"kind": "st')
    monkeypatch.setattr(training, "task_loss", real_loss)
    train(config(small_data, run, log_every_steps=1, save_every_steps=100), resume=True)
    assert [r["step"] for r in _steps(run)] == list(range(1, 21))
    epochs = [r["epoch"] for r in read_records(run / METRICS_LOG) if r["kind"] == "epoch"]
    assert epochs == [1, 2]
    assert all(line.endswith("}") for line in (run / METRICS_LOG).read_text().splitlines())
    starts = [r for r in read_records(run / METRICS_LOG) if r["kind"] == "start"]
    assert [s["step"] for s in starts] == [0, 12] and starts[0]["total_steps"] == 20 and starts[0]["device"] == "cpu"


def test_keep_until_drops_later_steps_later_epochs_and_a_torn_line(tmp_path):
    path = tmp_path / METRICS_LOG
    records = [
        {"kind": "step", "step": 1},
        {"kind": "step", "step": 2},
        {"kind": "epoch", "epoch": 1, "step": 2},
        {"kind": "step", "step": 3},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"kind": "step", "st')
    assert keep_until(path, 2, 0) == records[:2]
    assert read_records(path) == records[:2]


def test_tensorboard_tracker_writes_events_tensorboard_reads(small_data, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(config(small_data, run, log_every_steps=2, log_with=["tensorboard"]))
    events = list((run / "trackers").rglob("events.out.tfevents.*"))
    assert events
    scalars = {}
    for event_file in events:
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars[tag] = [e.step for e in accumulator.Scalars(tag)]
    assert scalars["train/loss/similarity"] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert scalars["dev/sts_pearson"] == [10, 20]


def test_a_tracker_whose_package_is_missing_is_skipped_with_a_note(small_data, tmp_path, capsys, monkeypatch):
    import mtbert.run_log as run_log

    monkeypatch.setattr(run_log, "available_trackers", lambda names: ([], list(names)))
    run = tmp_path / "run"
    train(config(small_data, run, epochs=1, log_with=["wandb"]))
    assert "wandb is not installed" in capsys.readouterr().out
    assert _steps(run)


def test_log_options_are_checked_and_do_not_change_the_recipe(small_data, tmp_path):
    with pytest.raises(ValueError, match="unknown trackers"):
        TrainConfig(log_with=["tensorbored"])
    with pytest.raises(ValueError, match="log_every_steps"):
        TrainConfig(log_every_steps=0)
    from mtbert.config import recipe_changes

    assert recipe_changes(TrainConfig(), TrainConfig(log_with=["tensorboard"], log_every_steps=50)) == {}


def test_flat_values_name_each_number_for_trackers():
    step = {"kind": "step", "step": 3, "loss": {"sentiment": 1.5}, "lr": 0.1, "examples_per_second": None}
    assert flat_values(step) == {"train/loss/sentiment": 1.5, "train/lr": 0.1}
    epoch = {"kind": "epoch", "step": 9, "epoch": 1, "dev": {"sst_acc": 0.5}, "best": True}
    assert flat_values(epoch) == {"dev/epoch": 1.0, "dev/sst_acc": 0.5}
