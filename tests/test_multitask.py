"""Every head x pair encoding x fine-tune mode runs forward and backward; predict API shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mtbert.config import FinetuneConfig, HeadConfig
from mtbert.data import Example, bucketed_batches
from mtbert.multitask import MultitaskModel
from mtbert.train_steps import task_loss
from tests.tolerances import PROBABILITY_SUM, REORDERED

PAIRS = [("concat", "uv"), ("concat", "uv_diff_prod"), ("concat", "cosine"), ("cross", "uv")]
MODES = ["frozen", "full", "lora"]
EXAMPLES = {
    "sentiment": [Example("0", "a great film", label=4.0), Example("1", "an awful, boring mess of a movie", label=0.0)],
    "paraphrase": [
        Example("0", "how do i cook rice?", "how to cook rice?", 1.0),
        Example("1", "what is love?", "where is the capital of france?", 0.0),
    ],
    "similarity": [
        Example("0", "a man plays guitar.", "a man is playing a guitar.", 4.8),
        Example("1", "a dog runs.", "the market fell sharply today.", 0.2),
    ],
}


def make_model(
    backbone_cache,
    pair_encoding="cross",
    combine="uv",
    mode="lora",
    shared=False,
    pooling="cls",
    tasks=("sentiment", "paraphrase", "similarity"),
    backbone_name: str = "minilm-l6",
) -> MultitaskModel:
    backbone, tokenizer = backbone_cache.get(backbone_name)
    heads = HeadConfig(
        tasks=list(tasks), pair_encoding=pair_encoding, combine=combine, shared_layer=shared, pooling=pooling
    )
    return MultitaskModel(backbone, tokenizer, heads, FinetuneConfig(mode=mode, lora_rank=4), backbone_name)


@pytest.mark.parametrize(
    ("pair", "mode", "shared"),
    [(p, m, s) for p, m, s in itertools.product(PAIRS, MODES, [False, True])],
    ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v),
)
def test_forward_backward_every_head(backbone_cache, pair, mode, shared):
    model = make_model(backbone_cache, *pair, mode=mode, shared=shared, pooling="mean" if shared else "cls")
    model.train()
    for task, examples in EXAMPLES.items():
        model.zero_grad(set_to_none=True)
        batch = bucketed_batches(model.items_for(examples), 2, shuffle=False)[0]
        assert len(batch.inputs) == (2 if task != "sentiment" and pair[0] == "concat" else 1)
        loss = task_loss(model, task, batch)
        assert torch.isfinite(loss)
        loss.backward()
        head_grads = [p.grad for p in model.heads[task].parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
        backbone_grads = {n: p.grad for n, p in model.backbone.named_parameters()}
        with_grad = [n for n, g in backbone_grads.items() if g is not None and g.abs().sum() > 0]
        if mode == "frozen":
            assert not with_grad
        elif mode == "lora":
            assert with_grad and all("lora_" in n for n in with_grad)
        else:
            assert any("embeddings" in n for n in with_grad) and any("blocks.5" in n for n in with_grad)
        if shared and task != "sentiment":
            assert model.shared is not None and model.shared.dense.weight.grad is not None


def test_predict_shapes_and_ranges(backbone_cache):
    model = make_model(backbone_cache, "concat", "uv_diff_prod")
    probs = model.predict_sentiment(["good", "bad", "fine"])
    assert probs.shape == (3, 5) and np.allclose(probs.sum(1), 1, atol=PROBABILITY_SUM)
    para = model.predict_paraphrase(["a", "b"], ["c", "d"])
    assert para.shape == (2,) and ((para >= 0) & (para <= 1)).all()
    sim = model.predict_similarity(["a cat"], ["a dog"])
    assert sim.shape == (1,) and 0 <= sim[0] <= 5


@pytest.mark.numerics
def test_predictions_do_not_depend_on_batch_order(backbone_cache):
    model = make_model(backbone_cache)
    texts = ["short", "a somewhat longer sentence than the first", "mid length text"]
    together = model.predict_sentiment(texts)
    alone = np.concatenate([model.predict_sentiment([t]) for t in texts])
    assert np.allclose(together, alone, atol=REORDERED)  # another padded length: another blocking


@pytest.mark.numerics
@pytest.mark.parametrize("encoding", ["cross", "concat"])
def test_return_attentions(backbone_cache, encoding):
    model = make_model(backbone_cache, encoding)
    scores, views = model.predict_similarity(["A man plays."], ["Someone plays music."], return_attentions=True)
    plain = model.predict_similarity(["A man plays."], ["Someone plays music."])
    assert np.allclose(scores, plain, atol=REORDERED)
    assert len(views) == 1 and len(views[0]) == (1 if encoding == "cross" else 2)
    view = views[0][0]
    n = len(view.tokens)
    assert view.attentions.shape == (6, 12, n, n)
    assert view.tokens[0] == "[CLS]" and view.tokens[-1] == "[SEP]"
    if encoding == "cross":
        assert set(view.segments) == {0, 1}


def test_truncation_is_reported(backbone_cache):
    model = make_model(backbone_cache)
    model.max_length = 16
    _, views = model.predict_sentiment(["word " * 40], return_attentions=True)
    assert len(views[0][0].tokens) == 16 and views[0][0].dropped_tokens == 42 - 16


def test_empty_sentence_is_refused(backbone_cache):
    model = make_model(backbone_cache)
    with pytest.raises(ValueError, match="empty"):
        model.predict_similarity(["   "], ["text"])
