"""The Runs tab: the training curves of any number of runs on shared axes (each task's training loss, each dev
metric per epoch with the best epoch marked, the learning rate, gradient norm and throughput), one colour per run
in every panel. Shipped variants' logs come from ``assets/runs/``, the user's runs from their folders and the
app's own runs from its runs folder; a run in progress redraws as its ``metrics.jsonl`` grows."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from mtbert import tasks as task_registry
from mtbert.app.store import VariantStore
from mtbert.catalog import SHIPPED
from mtbert.layout import run_logs_dir
from mtbert.run_log import METRICS_LOG
from mtbert.runs import X_AXES, RunCurves, epoch_frame, log_files, read_run, step_frame

HELP = (
    "**Training curves.** Pick runs: shipped variants, your runs (`--models`) and the runs started in the Train "
    "tab. Top: each task's training loss (step records; dotted markers are epoch means where only one line per "
    "epoch survives). Middle: each dev metric after every epoch, the best epoch starred. Bottom: learning rate, "
    "gradient norm and examples per second. A run in progress redraws as it logs."
)
LOSS_PANELS = [*task_registry.CS224N_TASKS, "contrastive"]
METRIC_PANELS = [*task_registry.metric_keys(task_registry.CS224N_TASKS), task_registry.OVERALL]
TRAIN_PANELS = [("lr", "learning rate"), ("grad_norm", "gradient norm"), ("examples_per_second", "examples / s")]
COLOURS = qualitative.Plotly + qualitative.D3
REFRESH_SECONDS = 2.0
QUIET_SECONDS = 600.0  # a run whose log has not changed for this long is taken to be over: no more polling

RunFolders = Callable[[], dict[str, Path]]


def run_folders(store: VariantStore, extra: RunFolders | None = None) -> dict[str, Path]:
    """Every run the tab can draw, by name: each shipped variant's logs, each user model's run folder, and the
    ``extra`` ones (the Train tab's runs), each folder once."""
    folders: dict[str, Path] = {}
    for variant in store.variants.values():
        if variant.source == SHIPPED:
            folders[variant.name] = run_logs_dir(store.assets_dir, variant.name)
        else:
            path = Path(variant.path)
            folders[variant.name] = path.parent if path.name == "best" else path
    seen = {p.resolve() for p in folders.values()}
    for name, folder in (extra() if extra else {}).items():
        if folder.resolve() not in seen:
            folders[name] = folder
    return folders


def with_logs_first(folders: dict[str, Path]) -> list[str]:
    """Run names, those with a log first (each group in its order)."""
    has_log = {name: bool(log_files(folder)) for name, folder in folders.items()}
    return sorted(folders, key=lambda n: not has_log[n])


def _x(frame: pd.DataFrame, x_axis: str) -> list[Any]:
    return frame[X_AXES[x_axis]].tolist()  # plain lists: the browser's figure holds arrays, not encoded buffers


def logging_interval(per_step: pd.DataFrame) -> float:
    """A run's usual number of steps between two step records (its ``log_every_steps``)."""
    gaps = per_step.groupby("part")["step"].diff()
    gaps = gaps[gaps > 0]
    return float(gaps.median()) if not gaps.empty else 1.0


def broken_at_gaps(part: pd.DataFrame, x_axis: str, interval: float) -> tuple[list[Any], list[Any]]:
    """One task's losses as x and y lists, the line broken (a None point) where the task was not trained for more
    than two logging intervals (another task's turn in a sequential schedule), so no line is drawn across the gap."""
    xs: list[Any] = []
    ys: list[Any] = []
    last: tuple[Any, float] | None = None
    for run_part, step, x, y in zip(part["part"], part["step"], _x(part, x_axis), part["loss"].tolist(), strict=True):
        if last is not None and last[0] == run_part and step - last[1] > 2 * interval:
            xs.append(None)
            ys.append(None)
        xs.append(x)
        ys.append(y)
        last = (run_part, step)
    return xs, ys


def curves_figure(runs: list[RunCurves], x_axis: str = "steps") -> go.Figure:
    """Three rows of panels on shared x axes, one colour per run in every panel."""
    column = X_AXES[x_axis]
    titles = [f"train loss: {t}" for t in LOSS_PANELS] + [f"dev: {m}" for m in METRIC_PANELS]
    titles += [label for _, label in TRAIN_PANELS] + [""]
    fig = make_subplots(rows=3, cols=4, subplot_titles=titles, horizontal_spacing=0.06, vertical_spacing=0.12)
    drawn: set[tuple[int, int]] = set()
    for index, run in enumerate(runs):
        colour = COLOURS[index % len(COLOURS)]
        add = functools.partial(_add, fig, run.name, colour, set(), drawn)

        steps, epochs = step_frame(run), epoch_frame(run)
        if not steps.empty and steps[column].notna().any():
            per_step = steps.drop_duplicates(["part", "step"])
            interval = logging_interval(per_step)
            for col, task in enumerate(LOSS_PANELS, start=1):
                part = steps[steps["task"] == task]
                if not part.empty:
                    x, y = broken_at_gaps(part, x_axis, interval)
                    add(go.Scatter(x=x, y=y, mode="lines"), 1, col)
            for col, (key, _) in enumerate(TRAIN_PANELS, start=1):
                if per_step[key].notna().any():
                    add(go.Scatter(x=_x(per_step, x_axis), y=per_step[key].tolist(), mode="lines"), 3, col)
        elif not run.step_level:
            _epoch_losses(run, column, add)
        if not epochs.empty and epochs[column].notna().any():
            for col, metric in enumerate(METRIC_PANELS, start=1):
                part = epochs[epochs["metric"] == metric]
                if part.empty:
                    continue
                add(go.Scatter(x=_x(part, x_axis), y=part["value"].tolist(), mode="lines+markers"), 2, col)
                best = part[part["best"]].tail(1)
                add(
                    go.Scatter(
                        x=_x(best, x_axis),
                        y=best["value"].tolist(),
                        mode="markers",
                        marker={"symbol": "star", "size": 14, "color": colour, "line": {"width": 1, "color": "#111"}},
                        hovertemplate=f"{run.name}: best epoch %{{customdata}}<br>{metric} %{{y:.4f}}<extra></extra>",
                        customdata=best["epoch"].tolist(),
                    ),
                    2,
                    col,
                )
    # an empty loss panel says so (a run in progress may not have reached that task yet)
    for col, task in enumerate(LOSS_PANELS, start=1):
        if runs and (1, col) not in drawn:
            fig.layout.annotations[col - 1].text = f"train loss: {task} (not logged)"
    fig.update_xaxes(title_text=x_axis, row=3)
    fig.update_layout(
        height=800,
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
        legend={"orientation": "h", "x": 0, "y": 1.04, "yanchor": "bottom", "title": {"text": "run"}},
        hovermode="closest",
    )
    return fig


def _add(
    fig: go.Figure, name: str, colour: str, legends: set, drawn: set, trace: go.Scatter, row: int, col: int
) -> None:
    """Add one of a run's traces in its colour (the run's first trace carries its legend entry)."""
    trace.update(name=name, legendgroup=name, showlegend=name not in legends, line_color=colour)
    if trace.marker.color is None:
        trace.update(marker_color=colour)
    legends.add(name)
    drawn.add((row, col))
    fig.add_trace(trace, row=row, col=col)


def _epoch_losses(run: RunCurves, column: str, add: Callable[..., None]) -> None:
    """Epoch-mean training losses of a run that left only epoch lines (dotted markers, not steps)."""
    rows = [
        {"epoch": r["epoch"], "step": r.get("step"), "examples": None, "task": task, "loss": loss}
        for r in run.records
        if r["kind"] == "epoch"
        for task, loss in r.get("train_loss", {}).items()
    ]
    frame = pd.DataFrame(rows)
    if frame.empty or not frame[column].notna().any():
        return
    for col, task in enumerate(LOSS_PANELS, start=1):
        part = frame[frame["task"] == task]
        if not part.empty:
            x, y = part[column].tolist(), part["loss"].tolist()
            add(go.Scatter(x=x, y=y, mode="markers+lines", line={"dash": "dot"}), 1, col)


def progress_line(run: RunCurves) -> str:
    """Where a run that logs steps stands: step, epoch, device."""
    latest, start = run.latest(), run.start()
    if latest is None or start is None:
        return ""
    total = start.get("total_steps") or 0
    share = f" ({latest['step'] / total:.0%})" if total else ""
    return f"{run.name}: step {latest['step']:,} of {total:,}{share}, epoch {latest['epoch']:.2f}, on {start['device']}"


def draw(folders: dict[str, Path], names: list[str], x_axis: str = "steps") -> dict[str, Any]:
    """The figure and notes for the runs ``names`` (unknown names are refused by name)."""
    unknown = [n for n in names or [] if n not in folders]
    if unknown:
        raise KeyError(f"unknown runs {unknown}; known: {', '.join(folders)}")
    if x_axis not in X_AXES:
        raise KeyError(f"x axis must be one of {list(X_AXES)}, got {x_axis!r}")
    runs = [read_run(n, folders[n]) for n in names or []]
    notes = [n for n in (r.note() for r in runs) if n]
    if x_axis == "examples":
        notes += [f"{r.name}: its log does not count examples" for r in runs if r.found and not r.step_level]
    notes += [line for line in (progress_line(r) for r in runs) if line]
    return {"plot": curves_figure(runs, x_axis) if runs else None, "note": "\n".join(f"- {n}" for n in notes)}


def stamp(folders: dict[str, Path], names: list[str]) -> tuple:
    """What changes when a picked run logs: each of its log files' size and time."""
    marks = []
    for name in names or []:
        for _, folder in log_files(folders.get(name, Path("/nonexistent"))):
            for log in (folder / METRICS_LOG, folder / "log.jsonl"):
                if log.exists():
                    stat = log.stat()
                    marks.append((str(log), stat.st_size, stat.st_mtime_ns))
    return tuple(marks)


def live(store: VariantStore, folders: dict[str, Path], names: list[str]) -> bool:
    """Whether a picked run may still log: one that is not shipped, whose log changed in the last ``QUIET_SECONDS``
    or that has none yet (a queued run). Shipped logs never change, so a page showing only them never polls."""
    now = time.time()
    for name in names or []:
        variant = store.variants.get(name)
        if variant is not None and variant.source == SHIPPED:
            continue
        marks = stamp(folders, [name])
        if not marks or any(now - mtime_ns / 1e9 < QUIET_SECONDS for _, _, mtime_ns in marks):
            return True
    return False


def build(store: VariantStore, extra: RunFolders | None = None, picked: list[str] | None = None) -> dict[str, Any]:
    """Lay out the run picker, the x axis and the curves; a timer redraws when a picked run's log grows."""
    folders = functools.partial(run_folders, store, extra)
    gr.Markdown(HELP)
    names = with_logs_first(folders())
    start = [n for n in (picked or names[:2]) if n in names]
    with gr.Row():
        runs = gr.Dropdown(names, value=start, multiselect=True, label="Runs", elem_id="runs-picker", scale=4)
        x_axis = gr.Radio(list(X_AXES), value="steps", label="x axis", elem_id="runs-x", scale=1)
    initial = draw(folders(), start)
    note = gr.Markdown(initial["note"], elem_id="runs-note")
    plot = gr.Plot(initial["plot"], label="Training curves", elem_id="runs-plot")
    seen = gr.State(stamp(folders(), start))
    timer = gr.Timer(REFRESH_SECONDS, active=live(store, folders(), start))  # on only while a picked run may log

    def show(names: list[str], x: str, current: dict[str, Path] | None = None) -> tuple[Any, ...]:
        current = current or folders()
        try:
            out = draw(current, names, x)
        except KeyError as err:
            raise gr.Error(err.args[0], print_exception=False) from err
        return out["plot"], out["note"], stamp(current, names), gr.Timer(active=live(store, current, names))

    def refresh(names: list[str], x: str, last: tuple) -> tuple[Any, ...]:
        current = folders()  # once a tick: it walks every variant and run folder
        if stamp(current, names) == tuple(tuple(m) for m in last or ()):
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=live(store, current, names))
        return show(names, x, current)

    for trigger in (runs.change, x_axis.change):
        trigger(show, [runs, x_axis], [plot, note, seen, timer], api_visibility="private")
    timer.tick(
        refresh,
        [runs, x_axis, seen],
        [plot, note, seen, timer],
        api_visibility="private",
        show_progress="hidden",
        queue=False,  # a plain request outside the queue: it reads file sizes and redraws only when a picked run logged
    )
    runs.focus(lambda: gr.update(choices=with_logs_first(folders())), None, runs, api_visibility="private")
    return {"runs": runs, "x_axis": x_axis, "plot": plot, "note": note, "show": show}
