"""The Runs tab's figure: one colour per run in every panel, and an empty panel that says why."""

from __future__ import annotations

from mtbert.app.runs_tab import LOSS_PANELS, curves_figure
from mtbert.layout import run_logs_dir
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
