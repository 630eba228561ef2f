"""Reliability: SIGKILL at random moments resumes to the same weights; a failed save keeps the last good state."""

from __future__ import annotations

import errno
import json
import random
import signal
import time

import pytest
from safetensors.torch import load_file

import mtbert.files as files
import mtbert.run_state as run_state
import mtbert.training as training
from tests.test_distributed import _global_step, finish, launch, max_gap, weights, write_preset
from tests.tolerances import SAME_ORDER


def test_sigkill_at_five_random_moments_resumes_to_the_weights_of_an_uninterrupted_run(small_data, tmp_path):
    # Dropout on (the preset's backbone/LoRA/head dropout at 0.1): resuming must also restore the random generators.
    preset = write_preset(
        tmp_path / "tiny.toml",
        epochs=2,
        batch_size=8,
        train_limit=40,
        save_every_steps=1,
        backbone_dropout=0.1,
        **{"heads.dropout": 0.1, "finetune.lora_dropout": 0.1},
    )
    reference = launch(preset, small_data, tmp_path / "reference", 1)
    total = 2 * 3 * 5  # epochs x tasks x batches
    rng = random.Random(20261127)
    moments = sorted(rng.sample(range(1, total - 1), 5))
    for at in moments:  # each kill lands at a random step, a random fraction of a step later (mid-step or mid-save)
        run = launch(preset, small_data, tmp_path / "run", 1, "--resume")
        step_seconds = _wait_for_step(run, tmp_path / "run", at)
        time.sleep(rng.uniform(0.0, 1.0) * step_seconds)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    assert _global_step(tmp_path / "run") < total, "the kills came too late to interrupt anything"
    assert finish(launch(preset, small_data, tmp_path / "run", 1, "--resume")) == 0
    assert finish(reference) == 0
    assert max_gap(weights(tmp_path / "reference"), weights(tmp_path / "run")) < SAME_ORDER
    best = [load_file(str(tmp_path / d / "best" / "model.safetensors")) for d in ("reference", "run")]
    assert max_gap(*best) < SAME_ORDER
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]  # an epoch logged before a kill is not logged twice


def _wait_for_step(run, out, at: int, timeout: float = 240) -> float:
    """Wait until the run in ``out`` has saved step ``at``; returns the seconds a step took meanwhile (0.05 when
    no step was seen), so that a kill can land a random fraction of a step later."""
    deadline, seen = time.time() + timeout, []
    last = _global_step(out)
    while last < at and run.poll() is None and time.time() < deadline:
        time.sleep(0.002)
        step = _global_step(out)
        if step != last:
            seen.append(time.perf_counter())
            last = step
    return (seen[-1] - seen[0]) / (len(seen) - 1) if len(seen) >= 2 else 0.05


def _config(small_data, out, **overrides):
    from mtbert.config import FinetuneConfig, HeadConfig, TrainConfig

    base = dict(
        heads=HeadConfig(tasks=["similarity"], pair_encoding="cross", pooling="mean"),
        finetune=FinetuneConfig(mode="lora", lora_rank=4, lora_targets=["query", "value"]),
        epochs=1,
        batch_size=16,
        train_limit=96,
        save_every_steps=2,
        data_dir=str(small_data),
        out_dir=str(out),
    )
    return TrainConfig(**{**base, **overrides})


def _fail_after(calls: int, error: OSError, real):
    count = [0]

    def failing(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise error
        return real(*args, **kwargs)

    return failing


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("save_file", OSError(errno.ENOSPC, "No space left on device")),
        ("mkdtemp", OSError(errno.EROFS, "Read-only file system")),
    ],
)
def test_a_failed_state_save_keeps_the_last_good_state_and_says_why(small_data, tmp_path, monkeypatch, target, error):
    out = tmp_path / "run"
    if target == "save_file":
        monkeypatch.setattr(training, "save_file", _fail_after(1, error, training.save_file))
    else:
        monkeypatch.setattr(files.tempfile, "mkdtemp", _fail_after(1, error, files.tempfile.mkdtemp))
    with pytest.raises(run_state.CheckpointSaveFailed) as caught:
        training.train(_config(small_data, out))
    message = str(caught.value)
    assert error.strerror in message and "intact" in message and str(out / "state") in message
    assert _global_step(out) == 2  # the first save, untouched
    assert load_file(str(out / "state" / "weights.safetensors"))
    assert not [p for p in out.iterdir() if p.name.startswith(".state")]  # no half-written folder left


def test_the_cli_reports_a_failed_save_and_exits_1(small_data, tmp_path, monkeypatch, capsys):
    from train.train import main

    preset = write_preset(tmp_path / "tiny.toml")
    monkeypatch.setattr(training, "save_file", _fail_after(0, OSError(errno.ENOSPC, "No space left"), None))
    assert main(["--config", str(preset), "--data-dir", str(small_data), "--out", str(tmp_path / "run")]) == 1
    assert "could not save the training state" in capsys.readouterr().err


def test_a_replacement_cut_between_its_renames_is_recovered(tmp_path):
    target = tmp_path / "state"
    target.mkdir()
    (target / "state.json").write_text("{}")
    target.rename(tmp_path / ".state.old")  # killed after moving the old folder aside, before the new one moved in
    files.recover_directory(target)
    assert (target / "state.json").exists() and not (tmp_path / ".state.old").exists()
