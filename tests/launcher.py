"""``python -m train.train`` runs in processes of their own, without paying the CLI's imports (about 10 s on two
cores) for each: a fork server imports the training code once and forks one process per run. What a test waits
for, reads or kills is a real process that runs ``train.train.main``; only its start is shared."""

from __future__ import annotations

import functools
import multiprocessing
import os
import subprocess
import sys
from multiprocessing.context import ForkServerContext
from pathlib import Path


@functools.cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["train.train"])
    return context


def _main(argv: list[str], log: str, cwd: str, env: dict[str, str]) -> None:
    """The forked process: the CLI with its output in ``log`` and one thread, as ``OMP_NUM_THREADS=1`` gives."""
    import torch

    from train.train import main

    os.chdir(cwd)
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    torch.set_num_threads(1)
    sys.exit(main(argv))


class TrainProcess:
    """A forked ``train.train`` run with the part of ``subprocess.Popen``'s interface that the tests use."""

    def __init__(self, argv: list[str], log: Path, cwd: Path, env: dict[str, str]):
        self._process = _context().Process(target=_main, args=(argv, str(log), str(cwd), env))
        self._process.start()
        self.pid = self._process.pid
        self.args = argv

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode
