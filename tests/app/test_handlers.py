"""The app's handlers are plain functions of the store: each is called here without a server."""

from __future__ import annotations

import pytest

from mtbert.app import api, batch_tab, cases, compare, playground, results
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore

PAIR = ("A man is playing a guitar.", "A man plays an instrument.")


@pytest.fixture(scope="module")
def store(app_assets):
    return VariantStore(app_assets)


def test_playground_returns_every_output_by_name(store):
    out = playground.run(store, "all three", *PAIR, "multi-cross")
    assert tuple(out) == playground.OUTPUTS
    assert out["sentiment"]["visible"] and out["paraphrase"]["visible"] and out["similarity"]["visible"]
    assert out["focus"] == "similarity" and out["layer"]["maximum"] == 6
    assert out["which"]["choices"] == ["pair"] and out["views"][0].tokens[0] == "[CLS]"
    assert "layer 6" in out["heatmap"].layout.title.text
    only_a = playground.run(store, "sentiment", PAIR[0], "", "single-concat")
    assert not only_a["paraphrase"]["visible"] and only_a["which"]["value"] == "sentence"
    figure = playground.redraw(out["views"], 2, "rollout", "pair", True, "similarity")
    assert "rollout to layer 2" in figure.layout.title.text and "A→B" in figure.layout.title.text
    spans, note = playground.saliency(store, "similarity", *PAIR, "single-concat")
    assert "[sentence B] " in [s for s, _ in spans] and "integrated gradients" in note


def test_compare_and_its_preset(store):
    out = compare.compare(store, "paraphrase", *PAIR, ["multi-cross", "single-cross"])
    assert [row[0] for row in out["table"]] == ["multi-cross", "single-cross"] and out["line"]
    assert out["plot0"]["visible"] and out["plot1"]["visible"] and not out["plot3"]["visible"]
    with pytest.raises(InputError, match="between 2 and 4"):
        compare.compare(store, "paraphrase", *PAIR, ["multi-cross"])
    assert compare.preset(store)["variants"] == ["single-concat", "single-cross"]


def test_results_hard_cases_batch_and_api(store, tmp_path):
    out = results.results_for(store, "multi-cross")
    assert out["sst"] is not None and out["sts"] is not None and out["note"] == ""
    assert "SST acc" in results.column_names().values()
    case = cases.load_case("Compare", "sentiment", ["a film", "ignored"])
    assert case["b"] == "" and case["c_a"] == "a film" and case["tabs"].selected == "compare"
    assert cases.column_widths(["sentence1", "sentence2", "gold", "x"]) == ["30%", "30%", "20.0%", "20.0%"]
    csv = tmp_path / "in.csv"
    csv.write_text("sentence1,sentence2\na,b\nc,d\n")
    path, note = batch_tab.batch_predict(store, str(csv), "similarity", "multi-cross", progress=lambda *a, **k: None)
    assert "2 rows" in note and open(path).read().splitlines()[0] == "sentence1,sentence2,similarity"
    pair = api.predict_pair(store, *PAIR, "similarity", "multi-cross", True)
    assert pair["task"] == "similarity" and len(pair["inputs"][0]["attentions"]) == 6
    with pytest.raises(InputError, match="'paraphrase' or 'similarity'"):
        api.predict_pair(store, *PAIR, "sentiment", "multi-cross", False)
