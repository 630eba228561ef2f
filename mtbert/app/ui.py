"""What every tab shares: the theme, the task and variant pickers, and ``event``, which turns a module-level
handler ``handler(store, *inputs) -> {output name: value}`` into a Gradio event function."""

from __future__ import annotations

import functools
import html
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from mtbert import tasks as task_registry
from mtbert.app.batch import BatchInputError
from mtbert.app.service import ALL_TASKS, InputError
from mtbert.app.store import VariantStore
from mtbert.catalog import SHIPPED
from mtbert.checkpoint import CheckpointError

THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "Consolas", "monospace"]
)  # system fonts: nothing from a CDN
SINGLE_TASKS = list(task_registry.CS224N_TASKS)
TASK_CHOICES = [*SINGLE_TASKS, ALL_TASKS[-1]]
# The events that run a model share one concurrency group: enough requests in flight at once for the batcher to
# fill a batch (mtbert.app.batching), while table reads and lists keep their own slots and never wait for it.
MODEL_WORK: dict[str, Any] = {"concurrency_id": "model", "concurrency_limit": 32}
# Events waiting at once (those running not counted): the next is told at once that the queue is full, rather
# than waiting seconds behind them (the plain JSON route, mtbert.app.rest, says "busy" the same way).
QUEUE_MAX = 64
USER_ERRORS = (InputError, BatchInputError, CheckpointError, KeyError)


def user_message(err: Exception) -> str:
    """The text of a library error about the user's input or choice (a KeyError's message, unquoted)."""
    return err.args[0] if isinstance(err, KeyError) and err.args else str(err)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors about the user's input or choice into a clean gr.Error (UI message, API error)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as err:
            raise gr.Error(user_message(err), print_exception=False) from err

    return wrapper


def event(
    handler: Callable[..., Any], store: VariantStore | None, outputs: dict[str, Any] | None = None
) -> Callable[..., Any]:
    """An event function for ``handler``: the store goes first (when given), user errors become gr.Error, and a
    result keyed by output names is re-keyed by the components in ``outputs``."""
    bound = functools.partial(handler, store) if store is not None else handler

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            result = bound(*args, **kwargs)
        except USER_ERRORS as err:
            raise gr.Error(user_message(err), print_exception=False) from err
        return {outputs[name]: value for name, value in result.items()} if outputs is not None else result

    run.__signature__ = inspect.signature(bound)  # type: ignore[attr-defined]  # Gradio reads parameters from it
    run.__name__, run.__doc__ = handler.__name__, handler.__doc__
    return run


def stream_event(
    handler: Callable[..., Iterator[dict[str, Any]]], store: VariantStore, outputs: dict[str, Any]
) -> Callable[..., Iterator[dict[Any, Any]]]:
    """``event`` for a generator handler: each yielded {output name: value} is re-keyed by its component and sent
    to the page as it comes (the components a yield leaves out keep what they show)."""
    bound = functools.partial(handler, store)

    def run(*args: Any, **kwargs: Any) -> Iterator[dict[Any, Any]]:
        try:
            for result in bound(*args, **kwargs):
                yield {outputs[name]: value for name, value in result.items()}
        except USER_ERRORS as err:
            raise gr.Error(user_message(err), print_exception=False) from err

    run.__signature__ = inspect.signature(bound)  # type: ignore[attr-defined]
    run.__annotations__ = typing.get_type_hints(handler)  # Gradio finds a gr.Request parameter by its type
    run.__name__, run.__doc__ = handler.__name__, handler.__doc__
    return run


def variant_choices(store: VariantStore, task: str | None = None) -> list[tuple[str, str]]:
    """(label with dev metrics, name) of every usable variant (that has ``task``)."""
    return [(v.label, v.name) for v in store.usable(task)]


def refresh_on_focus(dropdown: Any, choices: Callable[..., Any], inputs: list[Any] | None = None) -> None:
    """Re-read a picker's choices when it is opened (a run the Train tab finished, a model added since)."""
    dropdown.focus(
        lambda *args: gr.update(choices=choices(*args)),
        inputs,
        dropdown,
        api_visibility="private",
        show_progress="hidden",
    )


def default_variant(store: VariantStore, task: str | None = None) -> str | None:
    """The variant to open on: the best one with every CS224N task (or with ``task``), by dev score.

    Ensembles are left out unless nothing else is shipped: their attention maps show only their first member. The
    user's own models are picked only when nothing ships: the app opens on the same model for every visitor.
    """
    usable = [v for v in store.usable(task) if v.source == SHIPPED] or store.usable(task)
    candidates = [v for v in usable if v.kind != "ensemble"] or usable
    full = [v for v in candidates if set(task_registry.CS224N_TASKS) <= set(v.tasks)]
    last_metric = task_registry.metric_keys()[-1]  # a similarity-only variant ranks by its STS Pearson
    ranked = sorted(
        full or candidates, key=lambda v: -v.metrics.get(task_registry.OVERALL, v.metrics.get(last_metric, 0.0))
    )
    return ranked[0].name if ranked else None


def broken_notice(store: VariantStore) -> str:
    """A Markdown list of the variants that could not be loaded, and why."""
    broken = store.broken()
    if not broken:
        return ""
    lines = [f"- `{html.escape(v.name)}` is left out: {html.escape(v.error or '')}" for v in broken]
    return "**Some variants could not be loaded:**\n" + "\n".join(lines)
