"""The app's handlers are plain functions of the store: each is called here without a server."""

from __future__ import annotations

import pandas as pd
import pytest

from mtbert.app import api, batch_tab, cases, compare, playground, results, whatif
from mtbert.app.service import InputError
from mtbert.app.store import VariantStore
from tests.app.assets import LAYERS

PAIR = ("A man is playing a guitar.", "A man plays an instrument.")


@pytest.fixture(scope="module")
def store(app_assets):
    return VariantStore(app_assets)


def test_playground_returns_every_output_by_name(store):
    out = playground.run(store, "all three", *PAIR, "multi-cross")
    assert tuple(out) == playground.OUTPUTS
    assert out["sentiment"]["visible"] and out["paraphrase"]["visible"] and out["similarity"]["visible"]
    assert out["focus"] == "similarity" and out["layer"]["maximum"] == LAYERS
    assert out["which"]["choices"] == ["pair"] and out["views"][0].tokens[0] == "[CLS]"
    assert f"layer {LAYERS}" in out["heatmap"].layout.title.text
    only_a = playground.run(store, "sentiment", PAIR[0], "", "single-concat")
    assert not only_a["paraphrase"]["visible"] and only_a["which"]["value"] == "sentence"
    figure = playground.redraw(out["views"], 2, "rollout", "pair", True, "similarity")
    assert "rollout to layer 2" in figure.layout.title.text and "A→B" in figure.layout.title.text
    spans, note = playground.saliency(store, "similarity", *PAIR, "single-concat")
    assert "[sentence B] " in [s for s, _ in spans] and "integrated gradients" in note


def test_a_run_streams_the_prediction_and_map_first_then_grid_saliency_and_what_if(store):
    steps = list(playground.run_stream(store, "similarity", *PAIR, "multi-cross"))
    streamed = set().union(*steps)
    # every output is in the first chunk (the later panels cleared), so none is first set by a diff in a later one
    assert set(steps[0]) == streamed == {*playground.OUTPUTS, *playground.PENDING}
    assert all(steps[0][name] == cleared for name, cleared in playground.PENDING.items())
    assert any(x.endswith("B·instrument") for x in steps[0]["heatmap"].data[0].x) and steps[0]["similarity"]["visible"]
    assert set(steps[1]) == {"grid"} and steps[1]["grid"].endswith(".png")
    assert set(steps[2]) == {"saliency", "saliency_note"} and "integrated gradients" in steps[2]["saliency_note"]
    assert set(steps[3]) == {"loo", "loo_note", "swap"} and len(steps) == 4
    with pytest.raises(InputError, match="Sentence A is empty"):  # nothing is sent before the input is checked
        next(playground.run_stream(store, "similarity", " ", PAIR[1], "multi-cross"))


def test_compare_and_its_preset(store):
    out = compare.compare(store, "paraphrase", *PAIR, ["multi-cross", "single-cross"])
    assert [row[0] for row in out["table"]] == ["multi-cross", "single-cross"] and out["line"]
    assert out["plot0"]["visible"] and out["plot1"]["visible"] and not out["plot3"]["visible"]
    layers = store.model("multi-cross").backbone.config.num_layers  # the test backbone is not 6 layers deep
    assert out["layer"]["maximum"] == out["layer"]["value"] == layers != 6
    heads = store.model("multi-cross").backbone.config.num_heads
    assert out["head"]["choices"][-1] == str(heads - 1) and out["head"]["value"] == "mean"
    with pytest.raises(InputError, match="between 2 and 4"):
        compare.compare(store, "paraphrase", *PAIR, ["multi-cross"])
    assert compare.preset(store)["variants"] == ["single-concat", "single-cross"]


def test_results_hard_cases_batch_and_api(store, tmp_path):
    out = results.results_for(store, "multi-cross")
    assert out["sst"] is not None and out["sts"] is not None and out["note"] == ""
    assert "SST acc" in results.column_names().values()
    case = cases.load_case("Compare", "sentiment", ["a film", "ignored"])
    assert case["b"] == "" and case["c_a"] == "a film" and case["tabs"].selected == "compare"
    assert cases.column_widths(["sentence1", "sentence2", "gold", "x"]) == ["25%", "25%", "25.0%", "25.0%"]
    many = ["sentence", "gold", *(f"v{i}" for i in range(20))]  # 380 + 21 * 96 px: wider than the page
    assert cases.column_widths(many, "sentiment") == ["380px", *["96px"] * 21]
    csv = tmp_path / "in.csv"
    csv.write_text("sentence1,sentence2\na,b\nc,d\n")
    path, note = batch_tab.batch_predict(store, str(csv), "similarity", "multi-cross", progress=lambda *a, **k: None)
    assert "2 rows" in note and open(path).read().splitlines()[0] == "sentence1,sentence2,similarity"
    pair = api.predict_pair(store, *PAIR, "similarity", "multi-cross", True)
    assert pair["task"] == "similarity" and len(pair["inputs"][0]["attentions"]) == LAYERS
    with pytest.raises(InputError, match="'paraphrase' or 'similarity'"):
        api.predict_pair(store, *PAIR, "sentiment", "multi-cross", False)


def test_explorer_filters_slices_and_a_second_variant(store):
    from mtbert.app import explorer

    everything = explorer.explore(store, "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "", False)
    table = everything["table"]
    n = len(store.dev_predictions("multi-cross", "similarity"))
    assert len(table) == n and everything["summary"].startswith(f"{n:,} of {n:,}")
    assert list(table.columns[:3]) == ["sentence1", "sentence2", "gold"] and table["error"].is_monotonic_decreasing
    big = explorer.explore(store, "similarity", "multi-cross", "none", "any", "any", 1.0, "any", "any", "", False)
    assert (big["table"]["error"] >= 1.0).all() and len(big["table"]) < n
    again = explorer.explore(store, "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "", False)
    pd.testing.assert_frame_equal(again["table"], table)  # the kept table is the filters' input, never changed
    both = explorer.explore(store, "paraphrase", "multi-cross", "single-cross", "any", "any", 0, "any", "any", "", True)
    kept = both["table"]
    assert "B predicted" in kept and ((kept["predicted"] >= 0.5) != (kept["B predicted"] >= 0.5)).all()
    sentiment = explorer.explore(store, "sentiment", "multi-cross", "none", "2 neutral", "any", 0, "any", "any", "", 0)
    assert set(sentiment["table"]["gold"]) <= {2} and sentiment["slices"] is not None
    word = explorer.explore(store, "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "<b>", False)
    assert word["table"].empty and word["slices"] is None and word["summary"].startswith("0 of")
    with pytest.raises(InputError, match="at most 200 characters"):
        explorer.explore(store, "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "x" * 10_000, 0)
    with pytest.raises(InputError, match="unknown variant '../results.json'"):
        explorer.explore(store, "similarity", "../results.json", "none", "any", "any", 0, "any", "any", "", False)
    with pytest.raises(InputError, match="filter has a value"):
        explorer.explore(store, "similarity", "multi-cross", "none", "<script>", "any", 0, "any", "any", "", False)
    opened = explorer.row_inputs("similarity", list(table.iloc[0]))
    assert opened["a"] == table.iloc[0]["sentence1"] and opened["b"] == table.iloc[0]["sentence2"]


def test_explorer_without_the_dev_sets_says_so(app_assets, tmp_path, monkeypatch):
    import shutil

    from mtbert.app import evaluations, explorer
    from mtbert.data import DataDirNotFound

    bare = tmp_path / "assets"  # assets without the dev sets they refer to
    shutil.copytree(app_assets, bare, ignore=shutil.ignore_patterns("data"))

    monkeypatch.delenv("MTBERT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here
    monkeypatch.setattr(evaluations, "resolve_data_dir", lambda d: (_ for _ in ()).throw(DataDirNotFound("x")))
    with pytest.raises(InputError, match="the similarity dev set is not here"):
        explorer.explore(VariantStore(bare), "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "", 0)
    shipped = explorer.explore(
        VariantStore(app_assets), "similarity", "multi-cross", "none", "any", "any", 0, "any", "any", "", False
    )
    assert not shipped["note"] and "sentence1" in shipped["table"]  # the dev sets in <assets>/data need no folder


def test_attention_grid_maps_clicks_to_layer_and_head(store):
    from mtbert.app import attention

    views = playground.run(store, "similarity", *PAIR, "multi-cross")["views"]
    image = attention.grid(views, "pair")
    step = attention.CELL + attention.GAP
    assert image.shape == (attention.MARGIN + LAYERS * step, attention.MARGIN + 12 * step, 3)
    x, y = attention.MARGIN + 4 * step + 3, attention.MARGIN + 2 * step + 3  # layer 3, head 4 (index 4: the fifth)
    assert attention.head_at(views, x, y) == (3, "4")
    assert attention.head_at(views, 2, 2) is None and attention.grid([], "pair") is None
    # the map in that cell is that head's attention, row-normalised
    cell = image[y - 3 : y - 3 + attention.CELL, x - 3 : x - 3 + attention.CELL]
    expected = attention.thumbnail(views[0].attentions[2, 4])
    assert (cell == expected).all()


def test_what_if_gives_leave_one_out_and_the_swapped_answer(store):
    from mtbert.app import whatif

    out = whatif.what_if(store, "similarity", *PAIR, "multi-cross")
    tokens = [t for t, _ in out["loo"]]
    assert "man " in tokens and "[SEP] " in tokens and "Leave-one-out" in out["loo_note"]
    assert max(abs(v) for _, v in out["loo"] if v is not None) == pytest.approx(1.0)
    assert "A and B swapped" in out["swap"] and "moves" in out["swap"]
    single = whatif.what_if(store, "sentiment", PAIR[0], "", "multi-cross")
    assert single["swap"] == "" and single["loo"]
    line = whatif.live(store, "similarity", *PAIR, "multi-cross")
    assert "**sentiment**" in line and "**paraphrase**" in line and "/ 5" in line
    assert whatif.live(store, "similarity", "", "", "multi-cross").startswith("Type sentence A")


def test_compare_draws_the_same_head_for_every_variant(store):
    out = compare.compare(store, "similarity", *PAIR, ["multi-cross", "single-concat"])
    assert set(out["views"]) == {"multi-cross", "single-concat"}
    redrawn = compare.heads(out["views"], 2, "7")
    assert "layer 2, head 7" in redrawn["plot0"]["value"].layout.title.text
    assert "layer 2, head 7" in redrawn["plot1"]["value"].layout.title.text and not redrawn["plot2"]["visible"]


def test_embedding_map_is_cached_on_disk_and_places_the_users_input(store, tmp_path, monkeypatch):
    from mtbert.app import embeddings

    monkeypatch.setenv("MTBERT_CACHE_DIR", str(tmp_path / "cache"))
    embeddings._projections.clear()
    silent = lambda *a, **k: None  # noqa: E731
    out = embeddings.embedding_map(store, "similarity", "multi-cross", "PCA", "gold", *PAIR, progress=silent)
    figure = out["map"]
    n = len(store.dev_predictions("multi-cross", "similarity"))
    assert len(figure.data[0].x) == n and figure.data[-1].name == "your input" and "star" in out["note"]
    assert list((tmp_path / "cache" / "embeddings").glob("*.npy"))
    labels = embeddings.embedding_map(store, "sentiment", "multi-cross", "PCA", "prediction", "", "", progress=silent)
    assert {t.name for t in labels["map"].data} <= set(embeddings.task_registry.get("sentiment").class_names)
    embeddings._projections.clear()  # a new process: the embeddings come from disk, not the model
    monkeypatch.setattr(embeddings, "embed", lambda *a, **k: pytest.fail("recomputed a cached map"))
    again = embeddings.embedding_map(store, "similarity", "multi-cross", "PCA", "error", "", "", progress=silent)
    assert len(again["map"].data) == 1 and again["note"] == ""
    with pytest.raises(InputError, match="unknown variant"):
        embeddings.embedding_map(store, "similarity", "../../etc", "PCA", "gold", "", "", progress=silent)


def test_links_fill_the_playground_and_tables_export_as_csv(store, tmp_path):
    import pandas as pd

    from mtbert.app import share

    params = {"task": "paraphrase", "variant": "single-cross", "a": "<b>hi</b> 👋", "b": "x" * 5000}
    out = share.from_url(store, params)
    assert out["task"] == "paraphrase" and out["variant"] == "single-cross" and out["a"] == "<b>hi</b> 👋"
    assert not isinstance(out["b"], str)  # too long for a link: left as it is
    hostile = share.from_url(store, {"task": "rm -rf", "variant": "../../etc/passwd"})
    assert not isinstance(hostile["task"], str) and not isinstance(hostile["variant"], str)
    path = share.csv_file(pd.DataFrame({"a": [1, 2]}), "t")
    assert open(path).read() == "a\n1\n2\n" and share.csv_file(None, "t") is None


@pytest.mark.numerics
def test_int8_serving_quantises_and_keeps_predictions_close():
    """On the shipped multi-cross (a trained model: the test assets' heads are random)."""
    import torch

    from mtbert.layout import ASSETS

    fp32, int8 = VariantStore(ASSETS), VariantStore(ASSETS, precision="int8")
    model = int8.model("multi-cross")
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in model.modules())
    assert not any("lora_" in name for name, _ in model.named_modules())
    a = fp32.model("multi-cross").predict_similarity(*PAIR)
    b = model.predict_similarity(*PAIR)
    assert abs(float(a[0]) - float(b[0])) < 0.5, (a, b)
    spans, note = playground.saliency(int8, "similarity", *PAIR, "multi-cross")
    assert spans == [] and "fp32" in note
    assert "moves" in whatif.what_if(int8, "similarity", *PAIR, "multi-cross")["swap"]
    with pytest.raises(ValueError, match="precision"):
        VariantStore(ASSETS, precision="fp8")


def test_the_grid_file_is_named_by_its_content_and_never_rewritten(store):
    import os

    from mtbert.app import attention

    views = playground.run(store, "similarity", *PAIR, "multi-cross")["views"]
    first = attention.grid_file(views, "pair")
    stamp = os.stat(first).st_mtime_ns
    assert attention.grid_file(views, "pair") == first and os.stat(first).st_mtime_ns == stamp


@pytest.mark.parametrize("text", ["<img src=x onerror=alert(1)>", "😀" * 300, "word " * 2000])
def test_the_embedding_map_takes_hostile_input_as_text(store, tmp_path, monkeypatch, text):
    from mtbert.app import embeddings

    monkeypatch.setenv("MTBERT_CACHE_DIR", str(tmp_path / "cache"))
    out = embeddings.embedding_map(
        store, "sentiment", "multi-cross", "PCA", "gold", text, "", progress=lambda *a, **k: 0
    )
    star = out["map"].data[-1]
    assert star.name == "your input" and "<img" not in star.text[0] and len(star.text[0]) <= 200


def test_model_endpoints_share_one_concurrency_group_and_table_reads_keep_their_own(store, monkeypatch):
    # No lock serialises the handlers: the endpoints that run a model share the "model" group (many in flight,
    # so concurrent predictions batch), and the Explorer's table reads and the lists never queue behind them.
    import inspect

    import gradio as gr

    registered = {}
    monkeypatch.setattr(gr, "api", lambda fn, api_name, **options: registered.setdefault(api_name, (fn, options)))
    api.register(store)
    assert "text" in inspect.signature(registered["predict_sentiment"][0]).parameters  # Gradio sees the inputs
    model_work = {name for name, (_, options) in registered.items() if options.get("concurrency_id") == "model"}
    assert {"predict_sentiment", "predict_pair", "playground", "saliency", "what_if", "attention_grid"} <= model_work
    assert not model_work & {"explore", "hard_cases", "models", "datasets", "significance"}
    assert not hasattr(store, "model_lock")


def test_the_command_line_serves_at_its_precision_with_training_off_unless_asked(monkeypatch, app_assets, tmp_path):
    import app

    built: dict = {}

    class Launched:
        def launch(self, **options):
            built["options"] = options

    monkeypatch.setattr(app, "build_app", lambda store, jobs: built.update(store=store, jobs=jobs) or Launched())
    monkeypatch.setattr(app.signal, "signal", lambda *args: None)  # the test process keeps its own SIGTERM
    app.main(["--assets", str(app_assets), "--precision", "int8", "--runs-dir", str(tmp_path), "--port", "7999"])
    assert built["store"].precision == "int8" and not built["jobs"].allowed
    assert built["options"]["server_port"] == 7999 and built["options"]["max_file_size"] == app.MAX_UPLOAD
    app.main(["--assets", str(app_assets), "--runs-dir", str(tmp_path), "--allow-training"])
    assert built["store"].precision == "fp32" and built["jobs"].allowed


def test_a_later_run_of_the_same_session_stops_an_earlier_one_before_its_next_step():
    latest = playground.LatestRun(keep=2)
    computed: list[str] = []

    def steps(name: str):
        for stage in ("prediction", "attention", "saliency"):
            computed.append(f"{name}:{stage}")
            yield {stage: name}

    first = latest.stream(steps("first"), "session")
    assert next(first) == {"prediction": "first"}
    second = latest.stream(steps("second"), "session")
    other = latest.stream(steps("other"), "another session")
    assert list(second) == [{"prediction": "second"}, {"attention": "second"}, {"saliency": "second"}]
    assert list(first) == []  # the earlier Run of that session sends nothing more
    assert "first:saliency" not in computed  # and does not compute its later steps
    assert len(list(other)) == 3 and len(list(latest.stream(steps("none"), None))) == 3
