"""The app API answers as recorded in ``api_answers.json.gz`` for every shipped variant (the behaviour lock of the
restructure). After an intended change of a shipped model or answer, record anew:
``python -m tests.golden.api_answers record``."""

from __future__ import annotations

import gzip
import json

from mtbert.layout import ASSETS, checkpoints_dir
from tests.golden.api_answers import APP_ENV, GOLDEN, collect, differences
from train.benchmark_app import start_app


def test_every_endpoint_answers_as_recorded():
    golden = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    variants = sorted(p.name for p in checkpoints_dir(ASSETS).iterdir() if p.is_dir())
    process, url, _ = start_app(ASSETS, APP_ENV)
    try:
        answers = json.loads(json.dumps(collect(url, variants)))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert set(answers) == set(golden)
    diffs = differences(golden, answers, tol=1e-6)
    assert not diffs, "\n".join(diffs[:20])


def test_the_comparison_sees_a_changed_number():
    assert differences({"a": [1.0, {"plot": '{"z": [0.5]}'}]}, {"a": [1.0, {"plot": '{"z": [0.5000011]}'}]})
    assert not differences({"a": [1.0]}, {"a": [1.0000001]})
    assert not differences({"a": [0.4085]}, {"a": [0.4086]})  # one unit of a 4-decimal rounding
    assert differences({"a": [0.4085]}, {"a": [0.4087]})
    import base64

    import numpy as np

    def typed(values: list[float]) -> dict:
        return {"dtype": "f4", "bdata": base64.b64encode(np.array(values, dtype="f4").tobytes()).decode()}

    assert not differences(typed([0.5, 0.25]), typed([0.5000001, 0.25]))  # the last bits of a float32
    assert differences(typed([0.5, 0.25]), typed([0.5, 0.2501]))
