"""The Train tab (``app.py --allow-training``): pick a preset, edit its settings in a form built from TrainConfig,
train on the CS224N train files or on a labelled dataset the app has opened, and watch the run: its curves, a
progress bar with the time left, Stop (the state is saved) and Resume. A finished run's best checkpoint becomes a
model in every picker, and Compare opens it beside the variant of the preset it started from. Without the flag the
tab says how to turn training on, and the API refuses to start a run."""

from __future__ import annotations

import functools
import html
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from mtbert.app.compare import CompareTab
from mtbert.app.playground import PlaygroundTab
from mtbert.app.runs_tab import curves_figure
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore
from mtbert.app.train_form import FieldSpec, form_fields, get_value, group_of
from mtbert.app.training_jobs import FINISHED, RUNNING, Job, TrainingJobs, summary
from mtbert.app.ui import user_message, variant_choices
from mtbert.runs import read_run

TRAIN_FILES = "CS224N train files"
HELD_OUT = "held out from it"
OFF = (
    "**Training is off on this server.** A public demo must not let visitors start jobs, so the Train tab and its "
    "API are off unless the server starts with\n\n```\npython app.py --allow-training\n```\n\n"
    "Then pick a preset, edit its settings, and train on the CS224N train files or on a dataset you opened; the "
    "Runs tab shows every run's curves either way."
)
HELP = (
    "**Train a variant.** Pick a preset and edit its settings (each says what it does; a wrong value is named "
    "before anything starts). A run trains in a background process, one at a time: a second start waits in the "
    "queue. Stop saves its state; Resume continues it. When it finishes, its best checkpoint is a model in every "
    "picker, with its dev metrics."
)
JOB_COLUMNS = ["name", "preset", "data", "status", "step", "total_steps", "device", "message"]
POLL_SECONDS = 1.0


def component_value(spec: FieldSpec, value: Any) -> Any:
    """A setting's value as its form component shows it."""
    if spec.kind in ("list",):
        return json.dumps(value)
    if spec.kind in ("optional_float", "optional_str"):
        return "" if value is None else str(value)
    return value


def form_value(spec: FieldSpec, value: Any) -> Any:
    """A form component's value as a setting (numbers that are whole stay whole)."""
    if spec.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if spec.kind == "list" and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # build_config names the field
    if spec.kind in ("optional_float", "optional_str") and isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if spec.kind == "optional_float":
            try:
                return float(text)
            except ValueError:
                return text  # build_config names the field
        return text
    return value


def edits(jobs: TrainingJobs, preset: str, values: list[Any]) -> dict[str, Any]:
    """The form's settings that differ from the preset's (what the run overrides)."""
    raw = jobs.preset_config(preset)
    changed = {}
    for spec, value in zip(form_fields(), values, strict=True):
        value = form_value(spec, value)
        if value != get_value(raw, spec.name, spec.default):
            changed[spec.name] = value
    return changed


def preset_values(jobs: TrainingJobs, preset: str) -> list[Any]:
    """Every form field filled from a preset (a setting the preset leaves out shows its default)."""
    raw = jobs.preset_config(preset)
    return [component_value(s, get_value(raw, s.name, s.default)) for s in form_fields()]


def data_choices(store: VariantStore) -> list[str]:
    """What a run can train on: the CS224N train files, then each labelled dataset that is not a dev set."""
    return [TRAIN_FILES, *(d.name for d in store.datasets.values() if d.labelled and not d.dev_set)]


def start_run(
    store: VariantStore,
    jobs: TrainingJobs,
    preset: str,
    overrides: dict[str, Any] | None = None,
    name: str = "",
    data: str = TRAIN_FILES,
    held_out: float = 0.2,
    dev: str = HELD_OUT,
) -> dict[str, Any]:
    """Check and queue a run; returns its summary. Refused when training is off."""
    if not jobs.allowed:
        raise InputError("training is off on this server: start it with `python app.py --allow-training`")
    if name and name.strip() in store.variants:
        raise InputError(f"{name.strip()!r} is a model's name already: pick another run name")
    dataset = None if not data or data == TRAIN_FILES else store.dataset(data)
    dev_set = None if not dev or dev == HELD_OUT else store.dataset(dev)
    job = jobs.submit(preset, overrides or {}, (name or "").strip(), dataset, float(held_out), dev_set)
    return summary(job, jobs.progress(job.name))


def progress_html(jobs: TrainingJobs, name: str | None) -> str:
    """The picked run's progress bar: step, share, time left, device."""
    if not name:
        return ""
    job, progress = jobs.job(name), jobs.progress(name)
    total, step = progress["total_steps"], progress["step"]
    share = progress["fraction"] if total else 0.0
    left = progress["seconds_left"]
    parts = [f"{html.escape(job.name)}: {job.status}"]
    if total:
        parts.append(f"step {step:,} of {total:,} ({share:.0%})")
    if left is not None and job.status == RUNNING:
        parts.append(f"about {left / 60:.1f} min left" if left >= 60 else f"about {left:.0f} s left")
    if progress["device"]:
        parts.append(f"on {html.escape(progress['device'])}")
    if job.message:
        parts.append(html.escape(job.message))
    return (
        f'<div id="train-progress-text">{" · ".join(parts)}</div>'
        f'<progress id="train-progress-bar" max="1" value="{share:.4f}" style="width:100%"></progress>'
    )


def add_finished_run(store: VariantStore, jobs: TrainingJobs, job: Job, folder: Path) -> None:
    """A finished run's best checkpoint joins the user's models (as ``--models`` adds one), in a background thread
    its dev metrics follow; a run on the user's data keeps its held-out metrics, and its held-out split becomes a
    dataset."""
    if job.name in store.variants:
        return
    variant = store.add_user_model(folder)
    held = jobs.held_out_dataset(job)
    if held is not None:
        store.add_dataset(held)
        variant.description += f" · trained on {job.dataset}, scored on its held-out split"
        store.mark_evaluated(variant.name)
        return
    threading.Thread(target=store.evaluate_user_models, kwargs={"only": [variant.name]}, daemon=True).start()


def add_finished_runs(store: VariantStore, jobs: TrainingJobs) -> None:
    """The runs earlier servers finished: models beside the shipped ones."""
    for job in jobs.jobs():
        if job.status == FINISHED and (jobs.folder(job.name) / "best").is_dir():
            add_finished_run(store, jobs, job, jobs.folder(job.name))


def jobs_table(jobs: TrainingJobs) -> list[list[Any]]:
    return [[summary(j, jobs.progress(j.name))[c] for c in JOB_COLUMNS] for j in jobs.jobs()]


@dataclass
class TrainTab:
    run: gr.Dropdown | None


@dataclass
class Form:
    """The start form: what to train, on what, with which settings."""

    preset: gr.Dropdown
    name: gr.Textbox
    data: gr.Dropdown
    dev: gr.Dropdown
    held_out: gr.Slider
    fields: list[Any]  # one component per form_fields() entry, in its order
    start: gr.Button
    message: gr.Markdown


@dataclass
class Watch:
    """The queue and the watched run."""

    table: gr.Dataframe
    run: gr.Dropdown
    stop: gr.Button
    resume: gr.Button
    compare: gr.Button
    progress: gr.HTML
    curves: gr.Plot
    seen: gr.State
    timer: gr.Timer


def build(
    store: VariantStore,
    jobs: TrainingJobs,
    playground: PlaygroundTab,
    compare: CompareTab,
    tabs: gr.Tabs,
    demo: gr.Blocks,
) -> TrainTab:
    """The form, the queue and the watched run (or, with training off, how to turn it on). The page polls only
    while a run is running or queued: a Start or Resume turns its timer on, the tick after the last run ends turns
    it off, and a page (re)loaded while a run is going turns it on."""
    if not jobs.allowed:
        gr.Markdown(OFF, elem_id="train-off")
        return TrainTab(None)
    gr.Markdown(HELP)
    form = _form(store, jobs)
    watch = _watch(jobs)
    _wire_form(store, jobs, form, watch)
    _wire_watch(store, jobs, watch, playground, compare, tabs, demo)
    return TrainTab(watch.run)


def _form(store: VariantStore, jobs: TrainingJobs) -> Form:
    presets = list(jobs.presets())
    first = next((p for p in ("single-cross", *presets) if p in presets), None)
    specs = form_fields()
    with gr.Row():
        preset = gr.Dropdown(presets, value=first, label="Preset", elem_id="train-preset")
        name = gr.Textbox(label="Run name (blank: preset-N)", elem_id="train-name")
        data = gr.Dropdown(data_choices(store), value=TRAIN_FILES, label="Train on", elem_id="train-data")
        dev = gr.Dropdown([HELD_OUT], value=HELD_OUT, label="Dev split (your data)", elem_id="train-dev")
        held_out = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Held-out share (your data)")
    missing = jobs.train_files()
    own = "A preset that names its own data_dir still trains."
    shown = f"**No CS224N train files here.** {missing.rstrip('.')}. {own}" if missing else ""
    gr.Markdown(shown, elem_id="train-data-note")
    built: dict[str, Any] = {}
    raw = jobs.preset_config(first) if first else {}
    for group in dict.fromkeys(group_of(s) for s in specs):
        with gr.Accordion(f"Settings: {group}", open=group == "Schedule and optimiser"):
            with gr.Row():
                for spec in [s for s in specs if group_of(s) == group]:
                    built[spec.name] = _component(spec, component_value(spec, get_value(raw, spec.name, spec.default)))
    fields = [built[s.name] for s in specs]  # in form_fields() order, as the handlers read and fill them
    start = gr.Button("Start", variant="primary", elem_id="train-start")
    return Form(preset, name, data, dev, held_out, fields, start, gr.Markdown(elem_id="train-message"))


def _watch(jobs: TrainingJobs) -> Watch:
    table = gr.Dataframe(headers=JOB_COLUMNS, value=jobs_table(jobs), interactive=False, elem_id="train-jobs")
    names = [j.name for j in jobs.jobs()]
    with gr.Row():
        run = gr.Dropdown(names, value=names[0] if names else None, label="Watch run", elem_id="train-run")
        stop = gr.Button("Stop", elem_id="train-stop")
        resume = gr.Button("Resume", elem_id="train-resume")
        compare = gr.Button("Compare with its preset", elem_id="train-compare")
    progress = gr.HTML(elem_id="train-progress")
    curves = gr.Plot(label="Its curves", elem_id="train-curves")
    timer = gr.Timer(POLL_SECONDS, active=False)  # on while a run runs or waits
    return Watch(table, run, stop, resume, compare, progress, curves, gr.State(()), timer)


def _wire_form(store: VariantStore, jobs: TrainingJobs, form: Form, watch: Watch) -> None:
    def fill(chosen: str) -> list[Any]:
        try:
            return preset_values(jobs, chosen)
        except InputError as err:
            raise gr.Error(str(err), print_exception=False) from err

    form.preset.input(fill, form.preset, form.fields, api_visibility="private")
    form.data.focus(lambda: gr.update(choices=data_choices(store)), None, form.data, api_visibility="private")
    others = lambda: gr.update(choices=[HELD_OUT, *data_choices(store)[1:]])  # noqa: E731
    form.dev.focus(others, None, form.dev, api_visibility="private")

    def on_start(chosen: str, run_name: str, on: str, share: float, split: str, *values: Any) -> tuple[Any, ...]:
        try:
            out = start_run(store, jobs, chosen, edits(jobs, chosen, list(values)), run_name, on, share, split)
        except (InputError, KeyError, ValueError) as err:
            return f"**Not started.** {html.escape(user_message(err))}", gr.skip(), gr.skip(), gr.skip(), gr.skip()
        where = "started" if out["status"] == RUNNING else "queued: it starts when the run before it ends"
        shown = [j.name for j in jobs.jobs()]
        watched = gr.update(choices=shown, value=out["name"])
        return f"Run **{out['name']}** {where}.", jobs_table(jobs), watched, "", gr.Timer(active=True)

    form.start.click(
        on_start,
        [form.preset, form.name, form.data, form.held_out, form.dev, *form.fields],
        [form.message, watch.table, watch.run, form.name, watch.timer],
        api_visibility="private",
    )

    def act(action: str, chosen: str) -> tuple[Any, ...]:
        if not chosen:
            return "Pick a run first.", gr.skip(), gr.skip()
        try:
            getattr(jobs, action)(chosen)
        except (InputError, KeyError) as err:
            return f"**{action.title()}:** {html.escape(user_message(err))}", gr.skip(), gr.skip()
        return f"{action.title()}: **{chosen}**.", jobs_table(jobs), gr.Timer(active=True)  # the tick shows the end

    for button, action in ((watch.stop, "stop"), (watch.resume, "resume")):
        outputs = [form.message, watch.table, watch.timer]
        button.click(functools.partial(act, action), watch.run, outputs, api_visibility="private")


def _wire_watch(
    store: VariantStore,
    jobs: TrainingJobs,
    watch: Watch,
    playground: PlaygroundTab,
    compare: CompareTab,
    tabs: gr.Tabs,
    demo: gr.Blocks,
) -> None:
    def tick(chosen: str, last: tuple) -> tuple[Any, ...]:
        finished = jobs.poll()
        polling = gr.Timer(active=jobs.busy())  # off once nothing runs or waits: this tick shows the end
        state = (tuple(tuple(r) for r in jobs_table(jobs)), chosen)
        if not jobs.jobs() or (state == tuple(last or ()) and not finished):
            return (*(gr.skip(),) * 6, polling)
        running = [j.name for j in jobs.jobs() if j.status == RUNNING]
        picked = chosen or next(iter(running + [j.name for j in jobs.jobs()]), None)  # a reloaded page reattaches
        figure = curves_figure([read_run(picked, jobs.folder(picked))]) if picked else None
        shown = [j.name for j in jobs.jobs()]
        return (
            jobs_table(jobs),
            progress_html(jobs, picked),
            figure,
            # The picked run is set only on a page that has none: a tick computed before a user's pick (or a
            # Start's) must not undo it when it lands after.
            gr.update(choices=shown, value=picked) if not chosen else gr.update(choices=shown),
            gr.update(choices=variant_choices(store)) if finished else gr.skip(),  # a new model in the picker
            state,
            polling,
        )

    outputs = [watch.table, watch.progress, watch.curves, watch.run, playground.variant, watch.seen, watch.timer]
    watch.timer.tick(
        tick,
        [watch.run, watch.seen],
        outputs,
        api_visibility="private",
        show_progress="hidden",
        # A cheap poll goes as one plain request, outside the queue: it never waits behind (or holds up) a model's
        # work, and it opens and closes no event stream every second.
        queue=False,
    )
    # A page (re)loaded shows the runs as they are now (the table built with the app is not), reattaches to the
    # latest run and polls if one is running or queued.
    demo.load(tick, [watch.run, watch.seen], outputs, api_visibility="private", show_progress="hidden", queue=False)
    watch.run.input(
        lambda c: (progress_html(jobs, c), curves_figure([read_run(c, jobs.folder(c))]) if c else None),
        watch.run,
        [watch.progress, watch.curves],
        api_visibility="private",
    )

    def side_by_side(chosen: str) -> tuple[Any, ...]:
        job = jobs.job(chosen) if chosen else None
        if job is None or chosen not in store.variants:
            raise gr.Error("pick a finished run first: its model is not ready", print_exception=False)
        beside = [n for n in (job.preset,) if n in store.variants and store.variants[n].error is None]
        return gr.update(choices=variant_choices(store), value=[chosen, *beside]), gr.Tabs(selected="compare")

    watch.compare.click(side_by_side, watch.run, [compare.variants, tabs], api_visibility="private")


def _component(spec: FieldSpec, value: Any) -> Any:
    """The form component of one setting."""
    common = {
        "label": spec.label,
        "info": spec.info() or None,
        "elem_id": "train-field-" + spec.name.replace(".", "-"),
        "min_width": 220,  # a long help text wraps in a readable column
    }
    if spec.kind == "bool":
        return gr.Checkbox(value=bool(value), **common)
    if spec.kind == "choice":
        return gr.Dropdown(list(spec.choices), value=value, **common)
    if spec.kind == "tasks":
        return gr.CheckboxGroup(list(spec.choices), value=list(value or []), **common)
    if spec.kind in ("int", "float"):
        return gr.Number(value=value, precision=0 if spec.kind == "int" else None, **common)
    return gr.Textbox(value=value if value is not None else "", **common)
