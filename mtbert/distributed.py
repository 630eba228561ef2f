"""Data-parallel training across processes: ``accelerate launch [--num_processes N] -m train.train ...``.

accelerate starts the processes and the process group (gloo on CPUs, nccl on GPUs, several machines
through its usual ``--num_machines/--machine_rank/--main_process_ip`` flags). Every process holds the whole
model; each global batch is cut into one contiguous slice per process, each slice's loss is scaled by its
share of the batch, and the gradients are summed across processes before the optimizer step: the same
update a single process makes on the whole batch (DDP's all-reduce, done by hand so that it also covers
several backward passes per step, heads that get no gradient in a step, and gradient surgery, which needs
each task's summed gradient before it combines them). Rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
from torch import nn

from mtbert.data import Batch


class WorkerLost(RuntimeError):
    """Another training process stopped (it crashed or was killed): this one cannot go on."""


@contextmanager
def _collective(what: str) -> Iterator[None]:
    try:
        yield
    except RuntimeError as err:  # gloo/nccl: "Connection closed by peer", timeouts
        raise WorkerLost(
            f"another training process stopped during {what} ({str(err).splitlines()[0][:160]}); the last saved "
            "state is intact: run the same command again with --resume"
        ) from err


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def shard(self, batch: Batch) -> tuple[Batch | None, float]:
        """This process's rows of a global batch and their share of it (None, 0.0 when it gets no row)."""
        if not self.distributed:
            return batch, 1.0
        n = len(batch.indices)
        start, stop = self.rank * n // self.world_size, (self.rank + 1) * n // self.world_size
        if start == stop:
            return None, 0.0
        rows = slice(start, stop)
        inputs = [{k: v[rows] for k, v in x.items()} for x in batch.inputs]
        labels = None if batch.labels is None else batch.labels[rows]
        soft = None if batch.soft is None else batch.soft[rows]
        return replace(batch, inputs=inputs, labels=labels, indices=batch.indices[rows], soft=soft), (stop - start) / n

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (in place; returned for chaining)."""
        if self.distributed:
            with _collective("a gradient sum"):
                dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def sum_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Sum every parameter's gradient over the processes in one call.

        A parameter that got no gradient on any process keeps ``grad = None`` (so AdamW skips it, as a
        single process would); one that got a gradient somewhere gets the sum, zeros counting for the rest.
        """
        if not self.distributed:
            return
        params = list(parameters)
        if not params:
            return
        device = params[0].device
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        has_grad = torch.tensor([float(p.grad is not None) for p in params], device=device)
        self.sum(flat)
        self.sum(has_grad)
        offset = 0
        for p, seen in zip(params, has_grad.tolist(), strict=True):
            size = p.numel()
            p.grad = flat[offset : offset + size].view_as(p).clone() if seen else None
            offset += size

    def broadcast_from_main(self, module: nn.Module) -> None:
        """Give every process rank 0's parameters and buffers."""
        if self.distributed:
            with _collective("the start-up broadcast"):
                for tensor in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.distributed:
            with _collective("a barrier"):
                dist.barrier()

    def gather(self, value: object) -> list[object]:
        """Every process's ``value``, in rank order (on every process)."""
        if not self.distributed:
            return [value]
        values: list[object] = [None] * self.world_size
        with _collective("a state save"):
            dist.all_gather_object(values, value)
        return values


def start(device: str) -> tuple[Workers, torch.device | None]:
    """This process's Workers and, when launched by accelerate/torchrun, the device accelerate assigns it.

    A plain ``python -m train.train`` is one worker (the device is then the config's, None here).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Workers(), None
    from accelerate import PartialState

    cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=cpu)
    return Workers(state.process_index, state.num_processes), state.device


def finish(workers: Workers) -> None:
    """End the process group once this process's training is done (a no-op for one process). Left to interpreter
    shutdown, gloo's worker threads can outlive it, and a run that succeeded aborts with SIGABRT ("terminate called
    without an active exception")."""
    if workers.distributed and dist.is_initialized():
        workers.barrier()
        dist.destroy_process_group()
