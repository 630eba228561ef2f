"""The Runs tab's figure: one colour per run in every panel, and an empty panel that says why; and when its
page polls."""

from __future__ import annotations

import os
import time

import pandas as pd

from mtbert.app.runs_tab import LOSS_PANELS, QUIET_SECONDS, broken_at_gaps, curves_figure, live, logging_interval
from mtbert.app.store import VariantStore
from mtbert.layout import run_logs_dir
from mtbert.run_log import METRICS_LOG
from mtbert.runs import read_run


def test_each_run_keeps_its_colour_and_a_loss_no_run_has_is_named_empty(app_assets):
    runs = [read_run(name, run_logs_dir(app_assets, name)) for name in ("multi-cross", "single-cross")]
    figure = curves_figure(runs, "epochs")
    colours = {}
    for trace in figure.data:
        colours.setdefault(trace.name, set()).add(trace.line.color)
    assert set(colours) == {"multi-cross", "single-cross"} and all(len(c) == 1 for c in colours.values())
    assert colours["multi-cross"] != colours["single-cross"]
    titles = [a.text for a in figure.layout.annotations[: len(LOSS_PANELS)]]
    assert titles[LOSS_PANELS.index("contrastive")] == "train loss: contrastive (not logged)"
    assert titles[LOSS_PANELS.index("similarity")] == "train loss: similarity"  # the tiny run trains it


def test_only_a_run_that_may_still_log_keeps_the_page_polling(app_assets, tmp_path):
    store = VariantStore(app_assets)
    folders = {name: run_logs_dir(app_assets, name) for name in ("multi-cross", "single-cross")}
    queued, mine = tmp_path / "queued", tmp_path / "mine"
    queued.mkdir(), mine.mkdir()
    (mine / METRICS_LOG).write_text('{"kind": "start", "step": 0, "total_steps": 10}\n')
    folders |= {"queued": queued, "mine": mine}
    assert not live(store, folders, ["multi-cross", "single-cross"])  # shipped logs never change
    assert live(store, folders, ["multi-cross", "mine"])  # logged just now
    assert live(store, folders, ["queued"])  # no log yet
    old = time.time() - QUIET_SECONDS - 60
    os.utime(mine / METRICS_LOG, (old, old))
    assert not live(store, folders, ["mine"])  # quiet for longer than a run pauses between records


def test_a_tasks_loss_line_breaks_where_other_tasks_trained_and_nowhere_else():
    # Sequential schedule, a record every 2 steps: sentiment's steps 2-6, then paraphrase's 8-12, then sentiment's
    # again from 14 (its line must not join 6 to 14).
    rows = [("sentiment", s) for s in (2, 4, 6)] + [("paraphrase", s) for s in (8, 10, 12)]
    rows += [("sentiment", s) for s in (14, 16)]
    steps = pd.DataFrame([{"part": "joint", "task": t, "step": s, "epoch": s / 16, "loss": 1.0} for t, s in rows])
    interval = logging_interval(steps.drop_duplicates(["part", "step"]))
    assert interval == 2
    x, y = broken_at_gaps(steps[steps["task"] == "sentiment"], "steps", interval)
    assert x == [2, 4, 6, None, 14, 16] and y[3] is None
    x, _ = broken_at_gaps(steps[steps["task"] == "paraphrase"], "epochs", interval)
    assert None not in x and len(x) == 3
