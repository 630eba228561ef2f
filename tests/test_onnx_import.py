"""minilm-l3: paraphrase-MiniLM-L3-v2 imported from its ONNX file matches onnxruntime on the same file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbert.backbones import load_backbone, minilm_l3_onnx_file
from mtbert.onnx_import import read_onnx_bert
from tests.tolerances import ONNX_RUNTIME

SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog near the river bank, twice.",
    "naïve café — 東京",
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTBERT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return load_backbone("minilm-l3")


def test_every_linear_weight_is_named_and_transposed():
    state = read_onnx_bert(minilm_l3_onnx_file())
    assert state["encoder.layer.2.intermediate.dense.weight"].shape == (1536, 384)  # (out, in) like nn.Linear
    assert state["encoder.layer.0.output.dense.weight"].shape == (384, 1536)
    assert sum(k.endswith("attention.self.query.weight") for k in state) == 3
    assert not [k for k in state if "onnx::" in k]


@pytest.mark.numerics
def test_minibert_matches_onnxruntime(imported):
    import onnxruntime as ort

    model, tokenizer = imported
    assert model.config.num_layers == 3
    session = ort.InferenceSession(str(minilm_l3_onnx_file()), providers=["CPUExecutionProvider"])
    enc = tokenizer(SENTENCES, padding=True, return_tensors="np")
    feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
    outputs = session.run(None, feeds)
    tokens = next(o for o in outputs if o.ndim == 3)  # (B, T, 384) last hidden state
    sentences = next(o for o in outputs if o.shape == (len(SENTENCES), 384))  # mean-pooled embeddings
    with torch.no_grad():
        ids = torch.tensor(enc["input_ids"])
        hidden = model(ids, torch.tensor(enc["attention_mask"]), torch.zeros_like(ids)).last_hidden_state.numpy()
    mask = enc["attention_mask"].astype(bool)
    assert np.abs(hidden[mask] - tokens[mask]).max() < ONNX_RUNTIME
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    assert np.abs(pooled - sentences).max() < ONNX_RUNTIME
