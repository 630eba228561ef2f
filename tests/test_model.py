"""minBERT parity with transformers.BertModel on the pip-installed all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import pytest
import torch
from transformers import BertModel

from mtbert.backbones import load_backbone, resolve_backbone
from mtbert.config import BertConfig
from mtbert.model import MiniBert
from tests.tolerances import PROBABILITY_SUM, REORDERED

pytestmark = pytest.mark.numerics  # float32 results compared across implementations

SENTENCES = ["The movie was surprisingly good.", "Short one.", "An entirely different, much longer sentence here."]
SECONDS = ["It was not bad at all.", "Another", "Totally unrelated text about cooking rice in a pot."]


@pytest.fixture(scope="module")
def models():
    ours, tokenizer = load_backbone("minilm-l6")
    hf = BertModel.from_pretrained(str(resolve_backbone("minilm-l6").directory), attn_implementation="eager").eval()
    return ours, hf, tokenizer


@pytest.mark.parametrize("pairs", [False, True], ids=["single-sentences", "padded-pairs"])
def test_parity_hidden_states_and_attentions(models, pairs):
    ours, hf, tokenizer = models
    enc = tokenizer(SENTENCES, SECONDS if pairs else None, padding=True, return_tensors="pt")
    assert (enc["attention_mask"] == 0).any(), "the batch must contain padding"
    if pairs:
        assert (enc["token_type_ids"] == 1).any()
    with torch.no_grad():
        expected = hf(**enc, output_attentions=True)
        slow = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], output_attentions=True)
        fast = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
    real = enc["attention_mask"].bool()
    for out in (slow, fast):
        assert torch.allclose(out.last_hidden_state[real], expected.last_hidden_state[real], atol=REORDERED)
    assert fast.attentions is None
    assert len(slow.attentions) == len(expected.attentions) == 6
    for mine, theirs in zip(slow.attentions, expected.attentions, strict=True):
        assert mine.shape == theirs.shape == (3, 12, enc["input_ids"].shape[1], enc["input_ids"].shape[1])
        assert torch.allclose(mine, theirs, atol=REORDERED)


def test_attention_rows_are_distributions_and_ignore_padding(models):
    ours, _, tokenizer = models
    enc = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], output_attentions=True)
    probs = out.attentions[0]
    assert torch.allclose(probs.sum(-1), torch.ones_like(probs.sum(-1)), atol=PROBABILITY_SUM)
    pad_columns = (enc["attention_mask"] == 0)[:, None, None, :].expand_as(probs)
    assert probs[pad_columns].abs().max() < 1e-6  # exp of a masked score underflows to 0: any kernel


def test_too_long_input_is_refused():
    model = MiniBert(
        BertConfig(
            vocab_size=50, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16, max_position_embeddings=4
        )
    )
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 5, dtype=torch.long))


def test_config_rejects_bad_head_split():
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(hidden_size=10, num_heads=3)
