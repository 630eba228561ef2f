"""Batching of concurrent one-input requests: a batched answer is the unbatched one, and errors stay per request."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mtbert.app.batching import BatchingModel, Coalescer
from mtbert.app.store import VariantStore

# Pairs of very different lengths, so a batch pads most of them.
PAIRS = [
    ("A man is playing a guitar.", "A man plays an instrument."),
    ("Dogs run.", "A cat sleeps on the warm windowsill all afternoon while the rain falls outside."),
    ("How do I learn Python quickly, and which books or courses are worth the money?", "Best way to learn Python?"),
    ("ok", "fine"),
]
SENTENCES = ["A gorgeous, witty and deeply moving film.", "Dull.", "It is neither good nor bad, just long and loud."]
# float32 across batch shapes: padding changes the kernels' blocking, not the result beyond float32 rounding
BATCH_TOLERANCE = {"rtol": 1e-4, "atol": 2e-5}


@pytest.fixture(scope="module")
def store(app_assets):
    return VariantStore(app_assets)


@pytest.mark.parametrize("variant", ["multi-cross", "single-concat", "ensemble"])
def test_a_batched_answer_equals_the_unbatched_one(store, variant):
    batching = store.batching(variant)
    for task, rows in (
        ("similarity", PAIRS),
        ("paraphrase", PAIRS),
        ("sentiment", [(s, None) for s in SENTENCES]),
    ):
        key = (task, rows[0][1] is not None)
        together = batching._predict_rows(key, rows)  # one padded batch, as concurrent requests would run
        alone = [store.model(variant).predict(task, [a], None if b is None else [b])[0] for a, b in rows]
        np.testing.assert_allclose(together, np.stack(alone), **BATCH_TOLERANCE)


def test_concurrent_requests_through_the_store_are_batched_and_each_gets_its_own_answer(store):
    batching = store.batching("multi-cross")
    expected = {
        pair: float(store.model("multi-cross").predict("similarity", [pair[0]], [pair[1]])[0]) for pair in PAIRS
    }
    answers: dict[int, float] = {}
    start = threading.Barrier(16)

    def client(i: int) -> None:
        pair = PAIRS[i % len(PAIRS)]
        start.wait()
        for _ in range(5):
            answers[i] = float(batching.predict("similarity", [pair[0]], [pair[1]])[0])
            assert answers[i] == pytest.approx(expected[pair], rel=1e-4, abs=2e-5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 16
    assert sum(batching.coalescer.batch_sizes) >= 80  # every request ran, in no more batches than requests
    assert store.batching("multi-cross") is batching  # one batcher per loaded model


def test_waiting_rows_run_together_and_an_error_reaches_only_its_own_request():
    running, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    def run_batch(key, rows):
        calls.append([a for a, _ in rows])
        if len(calls) == 1:  # hold the first batch so the others queue behind it
            running.set()
            release.wait(5)
        if any(a == "bad" for a, _ in rows):
            raise ValueError("bad row")
        return [a.upper() for a, _ in rows]

    coalescer = Coalescer(run_batch, max_batch=8)
    results: dict[str, object] = {}

    def submit(text: str) -> None:
        try:
            results[text] = coalescer.submit("k", (text, None))
        except ValueError as err:
            results[text] = err

    first = threading.Thread(target=submit, args=("first",))
    first.start()
    assert running.wait(5)
    others = [threading.Thread(target=submit, args=(t,)) for t in ("a", "bad", "c")]
    for t in others:
        t.start()
    while len(coalescer._pending.get("k", [])) < 3:  # all three wait behind the held batch
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join()
    assert calls[0] == ["first"] and sorted(calls[1]) == ["a", "bad", "c"]  # the three waited and ran as one batch
    assert results["first"] == "FIRST" and results["a"] == "A" and results["c"] == "C"  # rerun alone after the error
    assert isinstance(results["bad"], ValueError) and list(coalescer.batch_sizes) == [1, 3]


def test_a_batching_model_leaves_attentions_and_many_inputs_to_the_model(store):
    batching = BatchingModel(store.model("multi-cross"))
    values, views = batching.predict("similarity", [PAIRS[0][0]], [PAIRS[0][1]], return_attentions=True)
    assert views and not batching.coalescer.batch_sizes
    many = batching.predict("similarity", [a for a, _ in PAIRS], [b for _, b in PAIRS])
    assert many.shape == (len(PAIRS),) and not batching.coalescer.batch_sizes
    assert batching.tasks == store.model("multi-cross").tasks
