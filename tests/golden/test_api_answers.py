"""The app API answers as recorded in ``api_answers.json.gz`` (the behaviour lock of refactors), to float32's
reproducibility across kernels and thread counts and no looser. After an intended change of a shipped model or
answer, record anew: ``python -m tests.golden.api_answers record``."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os

import numpy as np
import pytest

from mtbert.layout import ASSETS
from tests.golden.api_answers import (
    GOLDEN,
    MOVED,
    PATH_VARIANTS,
    PNG,
    collect,
    differences,
    moved_answers,
    serve_golden_app,
)

pytestmark = [pytest.mark.numerics, pytest.mark.xdist_group("golden")]  # one worker serves the app once


# ``MTBERT_GOLDEN_SCOPE=paths`` asks only the questions of the variants that carry the endpoints' code paths
# (PATH_VARIANTS, every endpoint) and of the moved copies: CI's second pass on ATen's plain kernels checks those,
# the first pass every shipped variant's predictions too.
SCOPE = os.environ.get("MTBERT_GOLDEN_SCOPE", "all")


@pytest.fixture(scope="module")
def answers() -> dict:
    """One app on a copy of the shipped assets (plus the moved-bias variants), served from this worker: every
    question asked once."""
    if SCOPE not in ("all", "paths"):
        raise ValueError(f"MTBERT_GOLDEN_SCOPE must be 'all' or 'paths', got {SCOPE!r}")
    with serve_golden_app(ASSETS) as (url, variants):
        asked = variants if SCOPE == "all" else [v for v in PATH_VARIANTS if v in variants]
        return collect(url, asked, extra=list(MOVED))


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(gzip.decompress(GOLDEN.read_bytes()))


def test_every_endpoint_answers_as_recorded(answers, golden):
    shipped = {k: v for k, v in answers.items() if not any(k.startswith(f"{name}/") for name in MOVED)}
    if SCOPE == "all":
        assert set(shipped) == set(golden)
    else:
        assert set(shipped) <= set(golden) and len(shipped) >= 50
        golden = {k: golden[k] for k in shipped}
    diffs = differences(golden, shipped)
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.parametrize("name", list(MOVED))
def test_a_moved_head_bias_is_caught(answers, golden, name):
    """A copy of a shipped variant with one head's bias moved by 1e-3 no longer answers as recorded, and what
    moved is that head's prediction."""
    moved = moved_answers(answers, name)
    diffs = differences({k: golden[k] for k in moved}, moved)
    task = MOVED[name][0]
    assert diffs and all(f"/predict_{task}" in d for d in diffs), diffs


def _png(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return PNG + base64.b64encode(buffer.getvalue()).decode()


def test_the_comparison_allows_float32_noise_and_nothing_more():
    # unrounded floats: float32 noise (1e-6 relative) passes; 1e-3 on a score or 2e-4 on a probability does not
    assert not differences({"a": [0.7781494855880737]}, {"a": [0.7781511545181274]})
    assert not differences({"a": [3.7405009269714355]}, {"a": [3.7404956817626953]})
    assert differences({"a": [3.7405009269714355]}, {"a": [3.7415009269714355]})
    assert differences({"a": [0.7781494855880737]}, {"a": [0.7783194855880737]})
    # a value the app rounds to d decimals may move by one unit of the last one, not two
    assert not differences({"a": [0.4085]}, {"a": [0.4086]})
    assert differences({"a": [0.4085]}, {"a": [0.4087]})
    assert not differences([-0.938], [-0.939]) and differences([-0.938], [-0.940])
    assert differences([3.0], [4.0]) and differences([0.5], [0.6])  # few decimals: not a licence to move
    # plotly figures (JSON strings, typed arrays) and numbers inside strings (CSV, notes) are compared as numbers
    assert differences({"a": [1.0, {"plot": '{"z": [0.5]}'}]}, {"a": [1.0, {"plot": '{"z": [0.5011]}'}]})
    assert not differences("p,0.7781\n", "p,0.7782\n") and differences("p,0.7781\n", "p,0.7783\n")
    assert differences("p,0.7781\n", "q,0.7781\n") and differences("3 layers", "4 layers")

    def typed(values: list[float]) -> dict:
        return {"dtype": "f4", "bdata": base64.b64encode(np.array(values, dtype="f4").tobytes()).decode()}

    assert not differences(typed([0.5, 0.25]), typed([0.5000001, 0.25]))  # the last bits of a float32
    assert differences(typed([0.5, 0.25]), typed([0.5, 0.2501]))
    # images: one level of 8-bit colour per channel, not two
    image = np.full((4, 4, 3), 100)
    assert not differences(_png(image), _png(image + 1)) and differences(_png(image), _png(image + 2))
