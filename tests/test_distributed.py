"""Data-parallel training: slices of a global batch, 2 processes against 1, and a rank that dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mtbert.app.launcher import ModuleProcess
from mtbert.data import Batch
from mtbert.distributed import Workers
from tests.tiny import tiny_backbone
from tests.tolerances import TWO_PROCESSES

REPO = Path(__file__).resolve().parent.parent

# A tiny multitask recipe with every dropout off, so that processes and runs can be compared weight for weight. It
# trains the session's tiny BERT (tests.tiny): what these tests check does not depend on pretrained weights.
TINY = """
mode = "multi"
epochs = 1
batch_size = 16
lr = 1e-3
train_limit = 45
save_every_steps = 0
backbone_dropout = 0.0
[heads]
tasks = ["sentiment", "paraphrase", "similarity"]
pair_encoding = "cross"
pooling = "mean"
dropout = 0.0
[finetune]
mode = "lora"
lora_rank = 4
lora_dropout = 0.0
lora_targets = ["query", "value"]
"""


def write_preset(path: Path, **overrides: object) -> Path:
    """TINY with ``overrides`` (``section.key`` for a key in [heads] or [finetune]) written as a preset."""
    config = {"backbone": tiny_backbone(), **tomllib.loads(TINY)}
    for key, value in overrides.items():
        *section, name = key.split(".")
        (config[section[0]] if section else config)[name] = value
    top = [f"{k} = {json.dumps(v)}" for k, v in config.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "\n".join(f"{n} = {json.dumps(x)}" for n, x in v.items())
        for k, v in config.items()
        if isinstance(v, dict)
    ]
    path.write_text("\n".join(top + tables) + "\n")
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


class Ranks:
    """``train.train`` as N ranks forked by mtbert.app.launcher, each with the environment torchrun gives a rank
    (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): accelerate's PartialState forms the gloo group from
    it as it does under ``accelerate launch``, without the launcher's process and the ranks' imports."""

    def __init__(self, args: list[str], log: Path, processes: int) -> None:
        port = str(_free_port())
        world = {"WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes), "MASTER_ADDR": "127.0.0.1"}
        world["MASTER_PORT"] = port
        self.ranks = [
            ModuleProcess(args, log, REPO, {**_env(), **world, "RANK": str(r), "LOCAL_RANK": str(r)})
            for r in range(processes)
        ]

    def poll(self) -> int | None:
        codes = [rank.poll() for rank in self.ranks]
        return None if None in codes else next((c for c in codes if c != 0), 0)

    def wait(self, timeout: float | None = None) -> int:
        codes = [rank.wait(timeout) for rank in self.ranks]
        return next((c for c in codes if c != 0), 0)


def launch(
    preset: Path, data: Path, out: Path, processes: int, *extra: str, accelerate_cli: bool = False
) -> subprocess.Popen | ModuleProcess | Ranks:
    """``train.train`` in processes of their own, its output in ``<out>.log``: one process, or ``processes`` ranks,
    forked by mtbert.app.launcher from a server that has imported it; with ``accelerate_cli``, the README's
    ``accelerate launch --multi_gpu --num_processes N -m train.train``."""
    args = ["--config", str(preset), "--data-dir", str(data), "--out", str(out), *extra]
    log = out.parent / f"{out.name}.log"
    if processes == 1:
        return ModuleProcess(args, log, REPO, _env(), threads=1)
    if not accelerate_cli:
        return Ranks(args, log, processes)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
    command += ["--main_process_port", str(_free_port()), "-m", "train.train", *args]
    with open(log, "ab") as output:
        return subprocess.Popen(command, cwd=REPO, env=_env(), stdout=output, stderr=subprocess.STDOUT)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finish(process: subprocess.Popen | ModuleProcess | Ranks, timeout: float = 300) -> int:
    return process.wait(timeout=timeout)


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "state" / "weights.safetensors"))


def saved_processes(out: Path) -> int:
    """How many processes saved the run's state (each its own RNG state): 2 proves a group, not two lone runs."""
    return len(torch.load(out / "state" / "optimizer.pt", weights_only=True)["rng"])


def max_gap(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_shards_cover_the_batch_once_with_shares_that_sum_to_one():
    batch = Batch([{"input_ids": torch.arange(13)[:, None]}], torch.arange(13.0), list(range(13)))
    shards = [Workers(r, 3).shard(batch) for r in range(3)]
    assert sum(share for _, share in shards) == pytest.approx(1.0)
    assert sorted(i for b, _ in shards for i in b.indices) == list(range(13))
    assert [len(b.indices) for b, _ in shards] == [4, 4, 5]
    assert Workers(0, 4).shard(Batch([{"x": torch.zeros(2, 1)}], None, [0, 1])) == (None, 0.0)


CASES = {
    # Joint steps with PCGrad: each task's shared gradient is summed over processes before surgery.
    "joint-pcgrad-uncertainty": dict(schedule="joint", gradient_surgery="pcgrad", loss_weighting="uncertainty"),
    # One task per step: the other heads get no gradient; the last batch of 13 rows splits 6 / 7. The backbone is
    # frozen (LoRA's all-reduce is the joint case's), so only the heads train. The cheapest case, so the one launched
    # with the README's `accelerate launch`.
    "sequential-frozen": {"schedule": "sequential", "finetune.mode": "frozen"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_end_with_the_weights_of_one_process_on_the_same_global_batch(small_data, tmp_path, case):
    preset = write_preset(tmp_path / "tiny.toml", **CASES[case])
    one = launch(preset, small_data, tmp_path / "one", 1)
    two = launch(preset, small_data, tmp_path / "two", 2, accelerate_cli=case == "sequential-frozen")
    assert finish(one) == 0 and finish(two) == 0, (tmp_path / "two.log").read_text()[-3000:]
    state = json.loads((tmp_path / "two" / "state" / "state.json").read_text())
    assert state["global_step"] >= 3 and saved_processes(tmp_path / "two") == 2
    assert max_gap(weights(tmp_path / "one"), weights(tmp_path / "two")) < TWO_PROCESSES
    log = (tmp_path / "two.log").read_text()
    assert log.count('{"epoch": 1') == 1  # rank 0 alone logs
    assert "Workers" not in log and (tmp_path / "two" / "best" / "metrics.json").exists()


def _global_step(out: Path) -> int:
    try:
        return json.loads((out / "state" / "state.json").read_text())["global_step"]
    except (OSError, ValueError, KeyError):
        return -1


def test_a_rank_that_dies_fails_the_run_cleanly_and_the_run_resumes_to_the_same_weights(small_data, tmp_path):
    preset = write_preset(tmp_path / "tiny.toml", epochs=2, save_every_steps=1, batch_size=8)
    reference = launch(preset, small_data, tmp_path / "reference", 1)
    run = launch(preset, small_data, tmp_path / "run", 2)
    deadline = time.time() + 240
    while _global_step(tmp_path / "run") < 4 and time.time() < deadline and run.poll() is None:
        time.sleep(0.05)
    run.ranks[1].send_signal(signal.SIGKILL)
    assert finish(run, timeout=120) != 0
    log = (tmp_path / "run.log").read_text()
    assert "error: another training process stopped" in log and "--resume" in log  # rank 0 says what happened
    assert "Traceback" not in log
    killed_at = _global_step(tmp_path / "run")
    assert 4 <= killed_at < 12 * 2 * 3  # a good state was left before the end
    assert weights(tmp_path / "run")  # and it loads
    resumed = launch(preset, small_data, tmp_path / "run", 2, "--resume")
    assert finish(resumed) == 0 and finish(reference) == 0
    text = (tmp_path / "run.log").read_text()
    assert "resuming" in text
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2] and saved_processes(tmp_path / "run") == 2
    assert max_gap(weights(tmp_path / "reference"), weights(tmp_path / "run")) < TWO_PROCESSES
