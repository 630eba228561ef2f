"""Reading a run's curves: step records, epoch lines only, single-task parts, nothing at all."""

from __future__ import annotations

import json

from mtbert.runs import epoch_frame, read_run, step_frame
from mtbert.training import train
from tests.test_training import config


def test_a_run_reads_its_step_and_epoch_records(small_data, tmp_path):
    run_dir = tmp_path / "run"
    train(config(small_data, run_dir, log_every_steps=5))
    run = read_run("run", run_dir)
    assert run.step_level and run.note() == ""
    steps, epochs = step_frame(run), epoch_frame(run)
    assert list(steps["step"]) == [5, 10, 15, 20] and set(steps["task"]) == {"similarity"}
    assert list(epochs["epoch"]) == [1, 2] and set(epochs["metric"]) == {"sts_pearson"}
    assert epochs["best"].sum() == 1
    assert run.start()["total_steps"] == 20 and run.latest()["step"] == 20


def test_a_run_with_only_epoch_lines_says_so_and_invents_no_steps(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    lines = [
        {"epoch": 1, "global_step": 100, "train_loss": {"sentiment": 1.2}, "dev": {"sst_acc": 0.40}},
        {"epoch": 2, "global_step": 200, "train_loss": {"sentiment": 1.0}, "dev": {"sst_acc": 0.45}},
        {"epoch": 3, "global_step": 300, "train_loss": {"sentiment": 0.9}, "dev": {"sst_acc": 0.43}},
    ]
    (folder / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = read_run("old", folder)
    assert not run.step_level and "only one line per epoch" in run.note()
    assert step_frame(run).empty
    epochs = epoch_frame(run)
    assert list(epochs["value"]) == [0.40, 0.45, 0.43] and list(epochs["best"]) == [False, True, False]


def test_a_single_task_run_reads_each_task_models_log(small_data, tmp_path):
    run_dir = tmp_path / "run"
    train(config(small_data, run_dir, mode="single", heads={"tasks": ["sentiment", "similarity"]}, epochs=1))
    run = read_run("run", run_dir)
    assert run.step_level
    assert set(step_frame(run)["part"]) == {"sentiment", "similarity"}
    assert set(epoch_frame(run)["metric"]) == {"sst_acc", "sts_pearson"}


def test_a_folder_without_logs_has_nothing_to_draw(tmp_path):
    run = read_run("none", tmp_path / "nowhere")
    assert not run.found and "no training log survives" in run.note()
