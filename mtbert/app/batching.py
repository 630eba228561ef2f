"""Batching of concurrent requests: single-input predictions that arrive while the model is busy with the same
task are run together, as one padded batch, when it is free.

Gradio's own ``batch=True`` batches only whole events: one malformed input would fail every request of its batch,
and a streamed handler (the Playground's, which yields the prediction and then its explanations) cannot be batched
at all. Here each request checks its own input first, in its own thread, and only valid rows meet in a batch; a
batch that fails anyway is rerun row by row, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtbert.ensemble import Model

Row = tuple[str, str | None]  # (sentence A, sentence B or None)
# Rows one forward pass takes; more waiting rows run in the next batch. Under 50 concurrent clients of the JSON
# route, 64 answered more a second than 32 (python -m train.benchmark_app).
MAX_BATCH = 64


@dataclass
class _Slot:
    row: Row
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class Coalescer:
    """Runs ``run_batch(key, rows)`` for the rows submitted under one key while an earlier batch of that key ran.

    The first waiting request runs the batch as soon as the key's previous batch has finished: a lone request
    waits for nothing, and under load each forward pass takes every row that arrived during the one before.
    """

    def __init__(self, run_batch: Callable[[Hashable, list[Row]], Sequence[Any]], max_batch: int = MAX_BATCH) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: dict[Hashable, list[_Slot]] = {}
        self._running: dict[Hashable, threading.Lock] = {}
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=10_000)  # the latest batches' sizes

    def submit(self, key: Hashable, row: Row) -> Any:
        """This row's result; blocks while its batch waits and runs. Raises what running the row alone raised."""
        slot = _Slot(row)
        with self._lock:
            self._pending.setdefault(key, []).append(slot)
            running = self._running.setdefault(key, threading.Lock())
        while not slot.done.is_set():
            with running:  # one batch of a key at a time; whoever gets here first runs what is waiting
                if slot.done.is_set():
                    break
                with self._lock:
                    waiting = self._pending.get(key, [])
                    batch, self._pending[key] = waiting[: self.max_batch], waiting[self.max_batch :]
                self._run(key, batch)
        if slot.error is not None:
            raise slot.error
        return slot.value

    def _run(self, key: Hashable, batch: list[_Slot]) -> None:
        if not batch:
            return
        self.batch_sizes.append(len(batch))
        try:
            values = self.run_batch(key, [s.row for s in batch])
            for slot, value in zip(batch, values, strict=True):
                slot.value = value
        except Exception:
            for slot in batch:  # rerun alone: the error goes to the row that causes it, the others still answer
                try:
                    slot.value = self.run_batch(key, [slot.row])[0]
                except Exception as err:
                    slot.error = err
        finally:
            for slot in batch:
                slot.done.set()


class BatchingModel:
    """A model whose one-input predictions without attentions go through a Coalescer (one per task); everything
    else is the model's own. It stands in for the model wherever ``predict`` is called on one input."""

    def __init__(self, model: Model, max_batch: int = MAX_BATCH) -> None:
        self.model = model
        self.coalescer = Coalescer(self._predict_rows, max_batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def _predict_rows(self, key: Hashable, rows: list[Row]) -> np.ndarray:
        task, paired = key  # type: ignore[misc]
        second = [b or "" for _, b in rows] if paired else None
        return self.model.predict(task, [a for a, _ in rows], second, batch_size=self.coalescer.max_batch)

    def predict(self, task: str, a: Any, b: Any = None, return_attentions: bool = False, batch_size: int = 64) -> Any:
        """As ``Model.predict``; a single input without attentions is batched with concurrent ones."""
        one_a = a if isinstance(a, str) else (a[0] if len(a) == 1 else None)
        one_b = b if b is None or isinstance(b, str) else (b[0] if len(b) == 1 else None)
        if return_attentions or one_a is None or (b is not None and one_b is None):
            return self.model.predict(task, a, b, return_attentions, batch_size)
        key = (task, one_b is not None)  # a sentence task given a B, or not, never shares a batch with the other
        return np.stack([self.coalescer.submit(key, (one_a, one_b))])
