"""Every named endpoint of app.py through gradio_client, and the bad-input cases over the API."""

from __future__ import annotations

import csv

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.app.assets import LAYERS
from tests.tolerances import PROBABILITY_SUM, REORDERED

pytestmark = pytest.mark.xdist_group("app-server")  # one worker starts the app server these tests share

PAIR = ("A man is playing a guitar.", "A man plays an instrument.")


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server, verbose=False)


def test_named_endpoints_are_exactly_the_predict_functions(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert endpoints == {
        "/playground",
        "/saliency",
        "/compare",
        "/batch_predict",
        "/predict_sentiment",
        "/predict_paraphrase",
        "/predict_similarity",
        "/predict_pair",
        "/explore",
        "/what_if",
        "/live",
        "/embedding_map",
        "/attention_grid",
        "/hard_cases",
        "/share_link",
        "/models",
        "/datasets",
        "/add_dataset",
        "/dataset_metrics",
        "/significance",
        "/start_training",
        "/training_runs",
        "/stop_training",
        "/resume_training",
    }


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"epochs": "many"}, "epochs: takes a number"),
        ({"batch_size": 0}, "batch_size: must be >= 1"),
        ({"warp_speed": True}, "warp_speed: no such setting"),
        ({"rdrop_tasks": ["poetry"]}, "rdrop_tasks: names unknown tasks"),
    ],
)
def test_start_training_names_a_wrong_setting_and_starts_nothing(client, overrides, named):
    before = client.predict(api_name="/training_runs")
    with pytest.raises(Exception, match=named):
        client.predict("tiny", overrides, api_name="/start_training")
    assert client.predict(api_name="/training_runs") == before


def test_predict_endpoints(client):
    probs = client.predict("A gorgeous film.", "multi-cross", api_name="/predict_sentiment")
    assert set(probs) == {"very negative", "negative", "neutral", "positive", "very positive"}
    assert sum(probs.values()) == pytest.approx(1, abs=PROBABILITY_SUM)
    p = client.predict(*PAIR, "single-cross", api_name="/predict_paraphrase")
    assert 0 <= p <= 1
    s = client.predict(*PAIR, "single-concat", api_name="/predict_similarity")
    assert 0 <= s <= 5


def test_predict_pair_with_attentions(client):
    out = client.predict(*PAIR, "similarity", "multi-cross", True, api_name="/predict_pair")
    tokens = out["inputs"][0]["tokens"]
    assert tokens[0] == "[CLS]" and out["inputs"][0]["segments"][-1] == 1
    attentions = out["inputs"][0]["attentions"]
    assert len(attentions) == LAYERS and len(attentions[0]) == 12 and len(attentions[0][0]) == len(tokens)
    plain = client.predict(*PAIR, "similarity", "multi-cross", False, api_name="/predict_pair")
    assert "inputs" not in plain and plain["value"] == pytest.approx(out["value"], abs=REORDERED)


def test_ensemble_variant_averages_and_explains_through_a_member(client):
    members = [client.predict(*PAIR, name, api_name="/predict_similarity") for name in ("multi-cross", "single-cross")]
    value = client.predict(*PAIR, "ensemble", api_name="/predict_similarity")
    assert value == pytest.approx(sum(members) / 2, abs=REORDERED)  # the members' own answers, averaged
    out = client.predict(*PAIR, "similarity", "ensemble", True, api_name="/predict_pair")
    assert out["value"] == pytest.approx(value, abs=REORDERED) and len(out["inputs"][0]["attentions"]) == LAYERS
    _, note = client.predict("similarity", *PAIR, "ensemble", api_name="/saliency")
    assert "first similarity member, multi-cross" in note


def test_playground_saliency_and_compare(client):
    result = client.predict("all three", *PAIR, "multi-cross", api_name="/playground")
    assert set(result["values"]) == {"sentiment", "paraphrase", "similarity"}
    assert sum(result["values"]["sentiment"].values()) == pytest.approx(1, abs=PROBABILITY_SUM)
    assert 0 <= result["values"]["paraphrase"] <= 1 and 0 <= result["values"]["similarity"] <= 5
    assert result["focus"] == "similarity" and (result["layers"], result["heads"]) == (LAYERS, 12)
    assert result["inputs"][0]["tokens"][0] == "[CLS]" and 1 in result["inputs"][0]["segments"]  # cross-encoded
    spans, note = client.predict("similarity", *PAIR, "single-concat", api_name="/saliency")
    assert "integrated gradients" in note and "[sentence B] " in [token for token, _ in spans]
    table, line, *_ = client.predict("paraphrase", *PAIR, ["multi-cross", "single-cross"], api_name="/compare")
    assert [row[0] for row in table["data"]] == ["multi-cross", "single-cross"] and line


def test_uploads_over_the_limit_and_files_outside_are_refused(client, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("sentence\n" + "a fine film\n" * 600_000)  # about 7 MB
    assert big.stat().st_size > 5 * 1024 * 1024
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        client.predict(handle_file(str(big)), "sentiment", "multi-cross", api_name="/batch_predict")
    with pytest.raises(Exception) as info:  # a path on the server is never read through the API
        client.predict(
            {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
            "sentiment",
            "multi-cross",
            api_name="/batch_predict",
        )
    assert "root:" not in str(info.value)


@pytest.mark.parametrize("variant", ["../results.json", "/etc/passwd", "multi-cross/../../x", ""])
def test_variant_names_that_are_not_shipped_are_refused(client, variant):
    with pytest.raises(AppError, match="unknown variant"):
        client.predict(*PAIR, variant, api_name="/predict_similarity")


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "😀 " * 50, "word " * 2000])
def test_hostile_text_is_answered_as_text(client, text):
    probs = client.predict(text, "multi-cross", api_name="/predict_sentiment")
    assert sum(probs.values()) == pytest.approx(1, abs=PROBABILITY_SUM)
    line = client.predict("similarity", text, text, "multi-cross", api_name="/live")
    assert "<script>" not in line


def test_attention_grid_endpoint_and_long_input(client):
    import base64
    import io

    from PIL import Image

    url = client.predict("similarity", *PAIR, "multi-cross", "pair", api_name="/attention_grid")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == (34 + 12 * 78, 34 + LAYERS * 78)
    result = client.predict("sentiment", "word " * 2000, "", "multi-cross", api_name="/playground")
    assert "truncated" in " ".join(result["notes"])  # a 2,000-word input is cut to the model's maximum, with a note


def test_hard_cases_and_share_link_endpoints(client):
    cases = client.predict(api_name="/hard_cases")
    assert cases["columns"]["single-cross"] == "scr" and cases["categories"]
    first = cases["categories"][0]
    assert "scr" in first["rows"][0] and 0 <= first["distance_from_gold"][0]["scr"] <= 1
    query = client.predict("paraphrase", "How to cook rice?", "<b>rice</b> 👋", "single-cross", api_name="/share_link")
    assert query.startswith("?task=paraphrase&variant=single-cross&a=How+to+cook+rice") and "%3Cb%3E" in query
    with pytest.raises(AppError, match="cannot put these in a link: variant"):
        client.predict("paraphrase", "a", "b", "../etc", api_name="/share_link")


def test_embedding_map_endpoint_draws_the_dev_set(client):
    figure, note = client.predict(
        "sentiment", "multi-cross", "PCA", "error", "A fine film.", "", api_name="/embedding_map"
    )
    assert "your input" in str(figure) and note == "Your input is the star."


def test_what_if_and_live_endpoints(client):
    out = client.predict("similarity", *PAIR, "multi-cross", api_name="/what_if")
    assert [t for t, _ in out["leave_one_out"]][:2] == ["a ", "man "] or any(
        s["token"] == "man " for s in out["leave_one_out"]
    )
    assert "moves" in out["swap"] and "Leave-one-out" in out["explained"]
    line = client.predict("similarity", *PAIR, "single-cross", api_name="/live")
    assert "**similarity**" in line
    with pytest.raises(AppError, match="Sentence A is empty"):
        client.predict("similarity", "", PAIR[1], "multi-cross", api_name="/what_if")


def test_explore_endpoint_filters_the_dev_predictions(client):
    out = client.predict(
        "similarity", "multi-cross", "single-cross", "any", "any", 0.5, "any", "any", "", True, api_name="/explore"
    )
    assert out["rows"] and all(row["error"] >= 0.5 for row in out["rows"])
    assert {"sentence1", "sentence2", "gold", "predicted", "B predicted"} <= set(out["rows"][0])
    assert "match" in out["summary"] and {s["slice"] for s in out["slices"]} >= {"gold", "length", "overlap"}
    with pytest.raises(AppError, match="unknown variant"):
        client.predict("similarity", "/etc/passwd", "none", "any", "any", 0, "any", "any", "", 0, api_name="/explore")


@pytest.mark.parametrize(
    "endpoint,args",
    [
        ("/predict_sentiment", ("   ", "multi-cross")),
        ("/predict_similarity", ("", "text", "multi-cross")),
        ("/predict_paraphrase", ("text", " \n ", "multi-cross")),
    ],
)
def test_empty_input_is_a_clean_error(client, endpoint, args):
    with pytest.raises(AppError, match="is empty"):
        client.predict(*args, api_name=endpoint)


def test_long_input_is_truncated_and_reported(client):
    result = client.predict("sentiment", "word " * 300, "", "multi-cross", api_name="/playground")
    notes = " ".join(result["notes"])
    assert "300" not in notes and "token(s) dropped" in notes
    assert "174 token(s) dropped" in notes  # 302 tokens with [CLS]/[SEP], max length 128


@pytest.mark.parametrize(
    "text",
    [
        "This film 😍🍿 was great!",
        "Café crème, déjà vu à Zürich.",
        "这部电影非常好看。",
        "Фильм был отличный",
        "<script>alert(1)</script><b>bold</b>",
    ],
)
def test_unusual_text_works(client, text):
    probs = client.predict(text, "multi-cross", api_name="/predict_sentiment")
    assert sum(probs.values()) == pytest.approx(1, abs=PROBABILITY_SUM)


def test_unknown_variant_is_a_clean_error(client):
    with pytest.raises(AppError, match="^unknown variant 'nope'"):
        client.predict("text", "nope", api_name="/predict_sentiment")


def test_corrupt_variant_is_left_out_with_a_reason(client):
    with pytest.raises(AppError, match=r"broken-variant.*unavailable.*config\.json is corrupt"):
        client.predict("text", "broken-variant", api_name="/predict_sentiment")
    assert client.predict("text", "multi-cross", api_name="/predict_sentiment")


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_batch_predict_returns_a_csv(client, tmp_path):
    path = _write(tmp_path / "pairs.csv", [["sentence1", "sentence2"], *[PAIR] * 7])
    out, note = client.predict(handle_file(str(path)), "similarity", "multi-cross", api_name="/batch_predict")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7 and 0 <= float(rows[0]["similarity"]) <= 5 and "7 rows" in note


@pytest.mark.parametrize(
    "name,content,task,reason",
    [
        ("wrong.csv", "text,label\nhello,1\n", "sentiment", "wrong columns"),
        ("pairs.csv", "sentence\nhello\n", "paraphrase", "wrong columns"),
        ("binary.csv", b"\x00\x01\x02\xff\xfe", "sentiment", "not a CSV"),
        ("big.csv", "sentence\n" + "a line\n" * 5001, "sentiment", "too many rows"),
        ("empty.csv", 'sentence\n"   "\n', "sentiment", "empty sentence"),
    ],
)
def test_malformed_batch_csv_is_refused(client, tmp_path, name, content, task, reason):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(AppError, match=reason):
        client.predict(handle_file(str(path)), task, "multi-cross", api_name="/batch_predict")


def test_a_users_model_answers_and_explores_like_a_shipped_one(client):
    """``--models`` on the test server adds the user's run ``my-run``: evaluated at start, then served as any other."""
    value = client.predict(*PAIR, "my-run", api_name="/predict_similarity")
    assert 0 <= value <= 5
    out = client.predict(
        "similarity", "my-run", "multi-cross", "any", "any", 0.0, "any", "any", "", False, api_name="/explore"
    )
    assert out["rows"] and "sentence1" in out["rows"][0] and "B predicted" in out["rows"][0]


def test_models_and_datasets_are_listed_with_where_they_come_from(client):
    models = {m["name"]: m for m in client.predict(api_name="/models")}
    assert models["multi-cross"]["from"] == "shipped" and models["my-hf-paraphrase"]["from"] == "yours"
    assert (
        models["my-hf-paraphrase"]["tasks"] == ["paraphrase"] and "quora_acc" in models["my-hf-paraphrase"]["metrics"]
    )
    assert models["broken-variant"]["error"]
    datasets = {d["name"]: d for d in client.predict(api_name="/datasets")}
    assert (
        datasets["STS dev"]["task"] == "similarity" and datasets["STS dev"]["labelled"] and datasets["STS dev"]["rows"]
    )


def test_an_uploaded_dataset_is_explored_scored_and_compared_over_the_api(client, app_assets, tmp_path):
    import pandas as pd

    from mtbert.data import read_examples

    examples = read_examples(app_assets / "data" / "sts-dev.csv", "similarity")
    path = tmp_path / "scores.tsv"
    pd.DataFrame(
        {"text_a": [e.a for e in examples], "text_b": [e.b for e in examples], "score": [e.label for e in examples]}
    ).to_csv(path, sep="\t", index=False)
    *_, summary = client.predict(
        handle_file(str(path)), "api scores", "auto", "auto", "auto", "auto", "auto", api_name="/add_dataset"
    )
    assert (summary["name"], summary["task"], summary["rows"], summary["labelled"]) == (
        "api scores",
        "similarity",
        80,
        True,
    )
    out = client.predict(
        "similarity",
        "multi-cross",
        "single-cross",
        "any",
        "any",
        0.0,
        "any",
        "any",
        "",
        False,
        "api scores",
        api_name="/explore",
    )
    assert len(out["rows"]) == 80 and out["significance"]["items"] == 80
    metrics = client.predict("multi-cross", "api scores", api_name="/dataset_metrics")
    dev = client.predict("multi-cross", "STS dev", api_name="/dataset_metrics")
    assert metrics["rows"] == 80 and metrics["sts_pearson"] == pytest.approx(dev["sts_pearson"], abs=1e-6)
    test = client.predict("similarity", "multi-cross", "single-cross", "api scores", api_name="/significance")
    assert test["low"] <= test["difference"] <= test["high"] and 0 <= test["prob_a_better"] <= 1
    assert test == client.predict("similarity", "multi-cross", "single-cross", "STS dev", api_name="/significance")


@pytest.mark.parametrize(
    ("content", "args", "reason"),
    [
        ("left,right,y\na,b,1\n", ("paraphrase",), "none matched sentence1"),
        ("sentence1,sentence2,similarity\na,b,7\n", ("similarity",), "out of range"),
        ("sentence1,sentence2,is_duplicate\na,b,maybe\n", ("paraphrase",), "mixes numbers with other values"),
    ],
)
def test_bad_datasets_are_refused_with_a_reason_over_the_api(client, tmp_path, content, args, reason):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(AppError, match=reason):
        client.predict(handle_file(str(path)), "bad", *args, "auto", "auto", "auto", "auto", api_name="/add_dataset")
    assert "bad" not in {d["name"] for d in client.predict(api_name="/datasets")}


def test_the_api_reads_no_path_it_did_not_receive_as_an_upload(client):
    with pytest.raises(AppError):
        client.predict(
            {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
            "passwd",
            "auto",
            "auto",
            "auto",
            "auto",
            "auto",
            api_name="/add_dataset",
        )
    with pytest.raises(AppError, match="unknown dataset"):
        client.predict("multi-cross", "/etc/passwd", api_name="/dataset_metrics")
