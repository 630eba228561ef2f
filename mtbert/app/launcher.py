"""``python -m train.train`` in a process of its own, without paying the trainer's imports (torch, transformers,
peft, accelerate: about 10 s on two cores) for each run: a fork server imports the module once, and each run is a
fresh fork of it that runs the module as ``python -m`` would (``runpy``, with ``sys.argv`` set). The fork server
has opened nothing of the app (no sockets, no models, no CUDA), so a run starts as clean as a new interpreter.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import subprocess
import sys
import threading
from multiprocessing.context import ForkServerContext
from pathlib import Path

TRAIN_MODULE = "train.train"


def _context(module: str) -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([module])
    return context


def warm_up(module: str = TRAIN_MODULE) -> threading.Thread:
    """Start the fork server (and its imports) in the background, so that the first run starts at once."""
    from multiprocessing import forkserver

    _context(module)
    thread = threading.Thread(target=forkserver.ensure_running, name="fork-server", daemon=True)
    thread.start()
    return thread


def _run(module: str, argv: list[str], log: str, cwd: str, env: dict[str, str], threads: int | None) -> None:
    """The forked process: ``python -m module *argv`` with its output appended to ``log``."""
    os.chdir(cwd)
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class ModuleProcess:
    """``python -m module *argv`` forked from the fork server, with the part of ``subprocess.Popen``'s interface
    that its callers use (``pid``, ``poll``, ``wait``, ``send_signal``, ``returncode``). Its exit status is the
    module's ``sys.exit`` code, or minus the signal that killed it."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        cwd: Path,
        env: dict[str, str] | None = None,
        module: str = TRAIN_MODULE,
        threads: int | None = None,
    ) -> None:
        args = (module, list(argv), str(log), str(cwd), dict(env or {}), threads)
        self._process = _context(module).Process(target=_run, args=args, name=module)
        self._process.start()
        self.pid: int = self._process.pid
        self.args = [module, *argv]

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self._process.kill()

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode
