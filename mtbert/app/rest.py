"""A plain JSON route beside the Gradio API, for programs that send many predictions: ``POST /v1/predict``.

A Gradio API call goes through the queue and an event stream (several requests and messages per answer), which
costs more than the model's share of a batched answer. This route is one request and one answer. Concurrent
single inputs still meet in the model's batches (``mtbert.app.batching``), and once ``MAX_IN_FLIGHT`` requests are
being answered, the next one is told at once that the server is busy (503, with ``Retry-After``) instead of waiting
behind them.

curl -s localhost:7860/v1/predict -H 'content-type: application/json' \\
  -d '{"task": "similarity", "a": "A man plays guitar.", "b": "A man is playing a guitar.", "variant": "multi-cross"}'
{"task": "similarity", "variant": "multi-cross", "value": 4.566633224487305, "notes": []}
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.routing import Route

from mtbert import tasks as task_registry
from mtbert.app.playground import predict_with
from mtbert.app.store import VariantStore
from mtbert.app.ui import USER_ERRORS, user_message

PATH = "/v1/predict"
MAX_IN_FLIGHT = 64  # requests answered at once (one full batch, mtbert.app.batching); the next is told "busy"
THREADS = 32  # worker threads of this route, apart from those of Gradio's own events
RETRY_AFTER_S = 1


class PredictRoute:
    """``POST /v1/predict`` over a store: {"task", "a", "b" (pair tasks), "variant"} -> {"task", "variant",
    "value", "notes"}. A sentiment value is {class: probability}, paraphrase a probability, similarity 0-5."""

    def __init__(self, store: VariantStore, max_in_flight: int = MAX_IN_FLIGHT, threads: int = THREADS) -> None:
        self.store = store
        self.max_in_flight = max_in_flight
        self._limiter = anyio.CapacityLimiter(threads)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.busy_answers = 0  # requests told to retry (the load benchmark reads it)

    def answer(self, body: Any) -> dict[str, Any]:
        """The prediction for one request body; raises ValueError (or a user error) on a bad one."""
        if not isinstance(body, dict):
            raise ValueError('the body must be a JSON object: {"task", "a", "b", "variant"}')
        unknown = sorted(set(body) - {"task", "a", "b", "variant"})
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; the fields are task, a, b and variant")
        task, variant = body.get("task"), body.get("variant")
        a, b = body.get("a"), body.get("b")
        if task not in task_registry.names():
            raise ValueError(f"task must be one of {', '.join(task_registry.names())}, got {task!r}")
        if not isinstance(variant, str) or not isinstance(a, str) or not (b is None or isinstance(b, str)):
            raise ValueError("variant and a must be strings, and b a string or absent")
        if not task_registry.is_pair(task) and b:
            raise ValueError(f"{task} takes one sentence: leave b out")
        prediction = predict_with(self.store, task, a, b, variant, attentions=False)
        return {"task": task, "variant": variant, "value": prediction.value(task), "notes": prediction.notes}

    async def endpoint(self, request: Request) -> JSONResponse:
        """The route's handler: busy at once over the limit, else the answer (400 or 404 for a bad request)."""
        with self._lock:
            if self.in_flight >= self.max_in_flight:
                self.busy_answers += 1
                busy = f"busy: {self.in_flight} requests are being answered; retry in {RETRY_AFTER_S} s"
                return JSONResponse({"error": busy}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
            self.in_flight += 1
        try:
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": "the body is not JSON"}, status_code=400)
            try:
                out = await anyio.to_thread.run_sync(self.answer, body, limiter=self._limiter)
            except KeyError as err:  # an unknown variant
                return JSONResponse({"error": user_message(err)}, status_code=404)
            except (ValueError, *USER_ERRORS) as err:
                return JSONResponse({"error": user_message(err)}, status_code=400)
            return JSONResponse(out)
        finally:
            with self._lock:
                self.in_flight -= 1


def routes(store: VariantStore) -> list[Route]:
    """The routes to put before Gradio's own (``launch(app_kwargs={"routes": ...})``)."""
    return [Route(PATH, PredictRoute(store).endpoint, methods=["POST"], name="predict")]
