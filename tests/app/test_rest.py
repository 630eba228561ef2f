"""POST /v1/predict: the served app answers as its Gradio API does; bad requests get a 4xx with the reason, and
over the in-flight limit a request is told at once that the server is busy."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from gradio_client import Client
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from mtbert.app import rest
from tests.tolerances import REORDERED

pytestmark = pytest.mark.xdist_group("app-server")  # the app server these tests share

PAIR = ("A man is playing a guitar.", "A man plays an instrument.")


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url.rstrip("/") + rest.PATH, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_route_answers_as_the_gradio_api_does(app_server):
    client = Client(app_server, verbose=False)
    status, out = post(app_server, {"task": "similarity", "a": PAIR[0], "b": PAIR[1], "variant": "multi-cross"})
    assert status == 200 and out["task"] == "similarity" and out["variant"] == "multi-cross"
    expected = client.predict(*PAIR, "multi-cross", api_name="/predict_similarity")
    assert out["value"] == pytest.approx(expected, abs=REORDERED)
    status, out = post(app_server, {"task": "sentiment", "a": "A gorgeous film.", "variant": "multi-cross"})
    expected = client.predict("A gorgeous film.", "multi-cross", api_name="/predict_sentiment")
    assert status == 200
    assert out["value"] == pytest.approx(expected, abs=REORDERED)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"task": "similarity", "a": "x", "b": "y", "variant": "nope"}, 404, "unknown variant 'nope'"),
        ({"task": "simil", "a": "x", "b": "y", "variant": "multi-cross"}, 400, "task must be one of"),
        ({"task": "similarity", "a": "", "b": "y", "variant": "multi-cross"}, 400, "Sentence A is empty"),
        ({"task": "similarity", "a": "x", "variant": "multi-cross"}, 400, "sentence B is empty"),
        ({"task": "sentiment", "a": "x", "b": "y", "variant": "multi-cross"}, 400, "takes one sentence"),
        ({"task": "sentiment", "a": "x", "variant": "multi-cross", "top": 3}, 400, "unknown field(s) top"),
        ({"task": "sentiment", "a": 3, "variant": "multi-cross"}, 400, "must be strings"),
        (["sentiment", "x"], 400, "must be a JSON object"),
    ],
)
def test_a_bad_request_is_told_why(app_server, body, status, says):
    got, out = post(app_server, body)
    assert got == status and says in out["error"]


def test_over_the_limit_a_request_is_told_busy_at_once_and_the_limit_frees_again():
    entered, release = threading.Event(), threading.Event()

    class Held(rest.PredictRoute):
        def answer(self, body):  # the first request holds its slot until released
            entered.set()
            release.wait(30)
            return {"value": body["a"]}

    route = Held(store=None, max_in_flight=1)  # type: ignore[arg-type]
    app = Starlette(routes=[Route(rest.PATH, route.endpoint, methods=["POST"])])
    with TestClient(app) as client:
        first: dict = {}
        holder = threading.Thread(target=lambda: first.update(r=client.post(rest.PATH, json={"a": "held"})))
        holder.start()
        assert entered.wait(30)
        busy = client.post(rest.PATH, json={"a": "second"})
        assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["Retry-After"] == "1"
        release.set()
        holder.join(30)
        assert first["r"].status_code == 200 and first["r"].json() == {"value": "held"}
        assert client.post(rest.PATH, json={"a": "third"}).json() == {"value": "third"}  # the slot is free again
    assert route.busy_answers == 1 and route.in_flight == 0
