"""The app's named API endpoints beyond the tabs' own: one prediction without the UI, for scripts and clients."""

from __future__ import annotations

from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.playground import predict_with
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore
from mtbert.app.ui import user_errors
from mtbert.tasks import PARAPHRASE, SENTIMENT, SIMILARITY


def predict_pair(
    store: VariantStore, sentence_a: str, sentence_b: str, task: str, variant: str, attentions: bool
) -> dict[str, Any]:
    """A pair task's prediction for a pair, with every layer's attention when ``attentions`` is true."""
    if task not in task_registry.pair_tasks():
        raise InputError(f"task must be {' or '.join(repr(t) for t in task_registry.pair_tasks())}")
    prediction = predict_with(store, task, sentence_a, sentence_b, variant, attentions)
    out: dict[str, Any] = {"task": task, "value": prediction.value(task), "notes": prediction.notes}
    if attentions:
        out["inputs"] = [
            {"tokens": v.tokens, "segments": v.segments, "attentions": v.attentions.astype("float64").round(4).tolist()}
            for v in prediction.views[task]
        ]
    return out


def register(store: VariantStore) -> None:
    """Add the named endpoints /predict_sentiment, /predict_paraphrase, /predict_similarity and /predict_pair."""

    @user_errors
    def predict_sentiment(text: str, variant: str) -> dict[str, float]:
        """Sentiment class probabilities for one sentence."""
        return predict_with(store, SENTIMENT, text, None, variant, attentions=False).value(SENTIMENT) or {}

    @user_errors
    def predict_paraphrase(sentence_a: str, sentence_b: str, variant: str) -> float:
        """Probability that two questions are paraphrases."""
        prediction = predict_with(store, PARAPHRASE, sentence_a, sentence_b, variant, attentions=False)
        return prediction.value(PARAPHRASE) or 0.0

    @user_errors
    def predict_similarity(sentence_a: str, sentence_b: str, variant: str) -> float:
        """Similarity score in [0, 5] of two sentences."""
        prediction = predict_with(store, SIMILARITY, sentence_a, sentence_b, variant, attentions=False)
        return prediction.value(SIMILARITY) or 0.0

    @user_errors
    def predict_pair_api(sentence_a: str, sentence_b: str, task: str, variant: str, attentions: bool) -> dict[str, Any]:
        """Paraphrase or similarity for a pair, with every layer's attention when ``attentions`` is true."""
        return predict_pair(store, sentence_a, sentence_b, task, variant, attentions)

    for fn, name in (
        (predict_sentiment, "predict_sentiment"),
        (predict_paraphrase, "predict_paraphrase"),
        (predict_similarity, "predict_similarity"),
        (predict_pair_api, "predict_pair"),
    ):
        gr.api(fn, api_name=name)
