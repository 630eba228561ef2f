"""The app's training runs: checks before anything starts, one run at a time with a queue, a server restart that
reattaches to a running run, SIGKILL (stopped, Resume offered). A whole stop, resume and finish, and a run on the
user's own data, are driven from the browser (tests/app/test_app_browser.py); a resume that logs every step once
is tests/test_run_log.py's."""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest

from mtbert.app.service import InputError
from mtbert.app.training_jobs import FINISHED, QUEUED, RUNNING, STOPPED, TrainingJobs
from mtbert.datasets import from_table
from mtbert.run_log import METRICS_LOG, read_records
from tests.test_distributed import write_preset


@pytest.fixture
def presets(tmp_path):
    folder = tmp_path / "presets"
    folder.mkdir()
    write_preset(folder / "tiny.toml", epochs=1, train_limit=32, log_every_steps=1)
    # Slow enough to be caught running: 3 epochs of 160 rows a task, state saved every 4 steps.
    write_preset(folder / "tiny-slow.toml", epochs=3, train_limit=160, log_every_steps=1, save_every_steps=4)
    write_preset(folder / "tiny-sts.toml", epochs=1, train_limit=32, **{"heads.tasks": ["similarity"]})
    return folder


def jobs_in(tmp_path, presets, data, allowed=True, finished=None):
    done = finished if finished is not None else []
    return TrainingJobs(
        tmp_path / "runs", [presets], data, allowed, on_finish=lambda job, folder: done.append(job.name)
    )


def wait(jobs, until, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs.poll()
        if until():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out: {[(j.name, j.status, j.message) for j in jobs.jobs()]}")


@pytest.mark.parametrize(
    ("preset", "overrides", "named"),
    [
        ("tiny", {"epochs": "two"}, "epochs: takes a number"),
        ("tiny", {"epochs": 2.5}, "epochs: takes a whole number"),
        ("tiny", {"lr": 3}, "lr: must be <= 1"),
        ("tiny", {"lr": 0}, "lr: must be > 0"),
        ("tiny", {"heads.pooling": "max"}, "heads.pooling: must be one of"),
        ("tiny", {"no_such_thing": 1}, "no_such_thing: no such setting"),
        ("tiny", {"out_dir": "/etc"}, "out_dir: no such setting (or one the Train tab sets itself)"),
        ("tiny-sts", {"smart_tasks": ["sentiment"]}, "smart_tasks names tasks the model does not train"),
        ("tiny", {"heads.tasks": ["sentiment", "poetry"]}, "heads.tasks: names unknown tasks ['poetry']"),
        ("nope", {}, "unknown preset 'nope'"),
    ],
)
def test_a_wrong_setting_is_named_and_nothing_starts(tmp_path, presets, small_data, preset, overrides, named):
    jobs = jobs_in(tmp_path, presets, small_data)
    with pytest.raises(InputError, match=named.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        jobs.submit(preset, overrides)
    assert jobs.jobs() == [] and not list((tmp_path / "runs").glob("*"))


def test_a_run_on_the_users_dataset_refuses_what_belongs_to_the_cs224n_files(tmp_path, presets, small_data):
    rows = pd.read_csv(small_data / "sts-train.csv", sep="\t").head(100)
    dataset = from_table("my-sts", rows[["sentence1", "sentence2", "similarity"]], task="similarity")
    jobs = jobs_in(tmp_path, presets, small_data)
    with pytest.raises(InputError, match="sst_phrases"):
        jobs.submit("tiny", {"sst_phrases": True}, dataset=dataset)
    with pytest.raises(InputError, match="distill_targets"):
        jobs.submit("tiny", {"distill_targets": "assets/distill/ensemble"}, dataset=dataset)
    assert jobs.jobs() == []


def test_training_off_refuses_and_no_train_files_say_what_is_needed(tmp_path, presets, small_data):
    with pytest.raises(InputError, match="--allow-training"):
        jobs_in(tmp_path, presets, small_data, allowed=False).submit("tiny")
    empty = tmp_path / "empty"
    empty.mkdir()
    jobs = jobs_in(tmp_path, presets, empty)
    assert "quora-train.csv" in jobs.train_files()
    with pytest.raises(InputError, match="CS224N train files"):
        jobs.submit("tiny")


def test_one_run_at_a_time_a_restart_reattaches_sigkill_shows_stopped_and_resume_is_offered(
    tmp_path, presets, small_data
):
    finished: list[str] = []
    jobs = jobs_in(tmp_path, presets, small_data, finished=finished)
    slow, quick = jobs.submit("tiny-slow", name="slow"), jobs.submit("tiny", name="quick")
    assert (slow.status, quick.status) == (RUNNING, QUEUED)  # two starts: one run, one waiting
    steps = lambda: [r["step"] for r in read_records(jobs.folder("slow") / METRICS_LOG) if r["kind"] == "step"]  # noqa: E731
    wait(jobs, lambda: len(steps()) >= 6)

    restarted = jobs_in(tmp_path, presets, small_data, finished=finished)  # a new server on the same runs folder
    assert restarted.job("slow").status == RUNNING and restarted.job("slow").pid == slow.pid  # reattached
    assert restarted.job("quick").status == QUEUED
    os.kill(slow.pid, signal.SIGKILL)
    wait(restarted, lambda: restarted.job("slow").status == STOPPED)
    assert restarted.job("slow").resumable and "Resume" in restarted.job("slow").message
    assert restarted.job("quick").status == RUNNING  # the queue moved on
    wait(restarted, lambda: restarted.job("quick").status == FINISHED)
    assert finished == ["quick"] and (restarted.folder("quick") / "best" / "config.json").exists()

    restarted.resume("slow")
    assert restarted.job("slow").status == RUNNING and "resumed" in restarted.job("slow").message
    restarted.stop("slow")  # SIGTERM (before or after its state loads): stopped again, resumable
    wait(restarted, lambda: restarted.job("slow").status == STOPPED)
    assert restarted.job("slow").resumable


def test_progress_reads_a_runs_log_again_only_when_it_changed(tmp_path, presets, small_data, monkeypatch):
    import json

    import mtbert.app.training_jobs as training_jobs

    reads = []
    real = training_jobs.read_records
    monkeypatch.setattr(training_jobs, "read_records", lambda path: reads.append(path) or real(path))
    jobs = jobs_in(tmp_path, presets, small_data)
    log = jobs.folder("watched") / METRICS_LOG
    log.parent.mkdir(parents=True)
    start = {"kind": "start", "total_steps": 10, "device": "cpu", "step": 0}
    step = {"kind": "step", "step": 2, "train_seconds": 1.0}
    log.write_text(json.dumps(start) + "\n" + json.dumps(step) + "\n")
    assert jobs.progress("watched")["step"] == 2 and jobs.progress("watched")["step"] == 2
    assert len(reads) == 1
    with log.open("a") as f:
        f.write(json.dumps({**step, "step": 4, "train_seconds": 2.0}) + "\n")
    progress = jobs.progress("watched")
    assert progress["step"] == 4 and progress["fraction"] == 0.4 and len(reads) == 2
