"""The app's named API endpoints beyond the tabs' own: one prediction without the UI, for scripts and clients."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from mtbert import tasks as task_registry
from mtbert.app.attention import grid_png
from mtbert.app.cases import hard_case_records
from mtbert.app.evaluations import dataset_metrics, decisions
from mtbert.app.explorer import dataset_for, explore_records
from mtbert.app.playground import playground_api, predict_with, saliency_api
from mtbert.app.service import InputError, focus_task
from mtbert.app.share import link_query
from mtbert.app.store import VariantStore
from mtbert.app.train_tab import HELD_OUT, TRAIN_FILES, start_run
from mtbert.app.training_jobs import TrainingJobs, summary
from mtbert.app.ui import MODEL_WORK, user_errors
from mtbert.app.whatif import live, what_if
from mtbert.bootstrap import paired
from mtbert.datasets import Dataset
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


def register(store: VariantStore, jobs: TrainingJobs | None = None) -> None:
    """Add the named endpoints /predict_sentiment, /predict_paraphrase, /predict_similarity, /predict_pair,
    /explore, /what_if, /live, /attention_grid, /hard_cases, /share_link, /models, /datasets, /dataset_metrics and
    /significance (the Explorer's upload is /add_dataset, a tab event), and, given the training runs,
    /start_training, /training_runs, /stop_training and /resume_training (which refuse unless training is on)."""
    for fn in (*_predictions(store), *_explanations(store)):  # they run a model: its shared concurrency group
        gr.api(fn, api_name=fn.__name__.removesuffix("_api"), **MODEL_WORK)
    for fn in _collections(store):  # table reads and lists: their own slots
        gr.api(fn, api_name=fn.__name__.removesuffix("_api"))
    for fn in _training(store, jobs) if jobs is not None else []:
        gr.api(fn, api_name=fn.__name__)  # they start processes and read logs


def _predictions(store: VariantStore) -> list[Any]:
    """The endpoints that predict one task on one input."""

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

    @user_errors
    def playground(task: str, sentence_a: str, sentence_b: str, variant: str) -> dict[str, Any]:
        """What the Playground's Run predicts: each task's value, the notes, the explained task, its tokens."""
        return playground_api(store, task, sentence_a, sentence_b, variant)

    @user_errors
    def saliency(task: str, sentence_a: str, sentence_b: str, variant: str) -> tuple[list[Any], str]:
        """Integrated-gradients (token, score in [-1, 1]) spans of the task the Playground explains, and what."""
        return saliency_api(store, task, sentence_a, sentence_b, variant)

    return [predict_sentiment, predict_paraphrase, predict_similarity, predict_pair_api, playground, saliency]


def _explanations(store: VariantStore) -> list[Any]:
    """The endpoints that explain one input: what-if, the attention grid, live predictions."""

    @user_errors
    def what_if_api(task: str, sentence_a: str, sentence_b: str, variant: str) -> dict[str, Any]:
        """Leave-one-out importance (token, score in [-1, 1]) of the explained task and, for a pair, the answer with
        A and B swapped."""
        out = what_if(store, task, sentence_a, sentence_b, variant)
        return {"leave_one_out": out["loo"], "explained": out["loo_note"], "swap": out["swap"]}

    @user_errors
    def attention_grid(task: str, sentence_a: str, sentence_b: str, variant: str, which: str) -> str:
        """Every layer x head of one input's attention as one PNG (a data URL): rows are layers, columns heads.
        ``which`` picks "sentence A" or "sentence B" of a pair embedded sentence by sentence."""
        prediction = predict_with(store, task, sentence_a, sentence_b, variant)
        views = prediction.views[focus_task(task, sentence_b, list(prediction.views))]
        return grid_png(views, which)

    @user_errors
    def live_api(task: str, sentence_a: str, sentence_b: str, variant: str) -> str:
        """Every prediction the variant makes for the input, as one line (what the Playground shows while typing)."""
        return live(store, task, sentence_a, sentence_b, variant)

    return [what_if_api, attention_grid, live_api]


def _collections(store: VariantStore) -> list[Any]:
    """The endpoints that read tables and list: the Explorer, the hard cases, share links, the models and datasets,
    a model's score on a dataset and the comparison of two."""

    @user_errors
    def explore(
        task: str,
        variant: str,
        other: str,
        gold: str,
        predicted: str,
        min_error: float,
        length: str,
        overlap: str,
        word: str,
        disagree_only: bool,
        dataset: str = "",
    ) -> dict[str, Any]:
        """The Explorer: every prediction of a variant on a dataset of a task (its dev set unless ``dataset`` names
        another) that passes the filters, with its error, the second variant's prediction when one is named, the
        metric per slice and the paired bootstrap of the two on the rows kept."""
        args = (task, variant, other, gold, predicted, min_error, length, overlap, word, disagree_only, dataset)
        return explore_records(store, *args)

    @user_errors
    def hard_cases() -> dict[str, Any]:
        """The hard-case tables as the Hard cases tab shows them: per category, its rows with 2-decimal predictions,
        each variant's short column name, and each prediction's distance from gold (0-1)."""
        return hard_case_records(store)

    @user_errors
    def share_link(task: str, sentence_a: str, sentence_b: str, variant: str) -> str:
        """The query string that opens the Playground on this input (append it to the app's address)."""
        return link_query(store, task, sentence_a, sentence_b, variant)

    @user_errors
    def models() -> list[dict[str, Any]]:
        """Every variant: name, where it comes from (shipped or yours), backbone, description, tasks, dev metrics,
        and the reason when it cannot be used (the user's models get their dev metrics on their first open)."""
        store.evaluate_user_models()
        return [
            {
                "name": v.name,
                "from": v.source,
                "backbone": v.backbone,
                "description": v.description,
                "tasks": v.tasks,
                "metrics": v.metrics,
                "error": v.error,
            }
            for v in store.variants.values()
        ]

    @user_errors
    def datasets() -> list[dict[str, Any]]:
        """Every dataset: name, task, rows, whether it is labelled, its content sha256, where it came from, and what
        reading it noted."""
        return [d.summary() for d in store.datasets.values()]

    @user_errors
    def dataset_metrics_api(variant: str, dataset: str) -> dict[str, Any]:
        """A variant's metric on a labelled dataset, with the confusion matrix of a classes or paraphrase task."""
        data = store.dataset(dataset)
        if not data.labelled:
            raise InputError(f"{dataset} has no labels: it has predictions but no metrics")
        return {"rows": len(data)} | dataset_metrics(data.task, store.predictions(variant, dataset))

    @user_errors
    def significance(task: str, variant_a: str, variant_b: str, dataset: str = "") -> dict[str, float]:
        """Paired bootstrap of two variants on every row of a labelled dataset of ``task`` (its dev set unless named):
        each one's metric, A - B with its 95% interval, and the share of resamples in which A is ahead."""
        data = dataset_for(store, task, dataset)
        if not data.labelled:
            raise InputError(f"{data.name} has no labels: there is no metric to compare")
        a, b = (_with_gold(data, store.predictions(v, data.name)) for v in (variant_a, variant_b))
        return paired(task, a["gold"].to_numpy(float), decisions(task, a), decisions(task, b))

    return [explore, hard_cases, share_link, models, datasets, dataset_metrics_api, significance]


def _with_gold(data: Dataset, predictions: pd.DataFrame) -> pd.DataFrame:
    """A variant's predictions on every row of the dataset, in the dataset's order, beside the gold label."""
    return data.frame[["id", "gold"]].merge(predictions.drop(columns=["gold"], errors="ignore"), on="id")


def _training(store: VariantStore, jobs: TrainingJobs) -> list[Any]:
    """The endpoints that start, list, stop and resume training runs."""

    def refuse_when_off() -> None:
        if not jobs.allowed:
            raise InputError("training is off on this server: start it with `python app.py --allow-training`")

    @user_errors
    def start_training(
        preset: str,
        overrides: dict[str, Any] | None = None,
        name: str = "",
        data: str = TRAIN_FILES,
        held_out: float = 0.2,
        dev: str = HELD_OUT,
    ) -> dict[str, Any]:
        """Queue a run of ``preset`` with ``overrides`` (dotted settings: {"epochs": 2, "heads.pooling": "mean"}) on
        the CS224N train files or on a labelled dataset the app has opened (its dev split ``dev``, else ``held_out`` of
        its rows). A wrong setting is named before anything starts (start_run refuses when training is off)."""
        return start_run(store, jobs, preset, overrides or {}, name, data, held_out, dev)

    @user_errors
    def training_runs() -> list[dict[str, Any]]:
        """Every run the app started: name, preset, data, status, step of total, device and its last message."""
        refuse_when_off()
        jobs.poll()
        return [summary(j, jobs.progress(j.name)) for j in jobs.jobs()]

    @user_errors
    def stop_training(name: str) -> dict[str, Any]:
        """Stop a run (SIGTERM: it saves its state) or take a queued one out of the queue."""
        refuse_when_off()
        job = jobs.stop(name)
        return summary(job, jobs.progress(name))

    @user_errors
    def resume_training(name: str) -> dict[str, Any]:
        """Queue a stopped run again; it continues from its last saved state."""
        refuse_when_off()
        job = jobs.resume(name)
        return summary(job, jobs.progress(name))

    return [start_training, training_runs, stop_training, resume_training]
