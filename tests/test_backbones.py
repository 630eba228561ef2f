"""Backbone registry and the Hugging Face -> minBERT weight map."""

from __future__ import annotations

import pytest
import torch

from mtbert.backbones import BackboneNotAvailable, convert_hf_state_dict, hf_weight_map, load_backbone
from mtbert.config import BertConfig
from mtbert.model import MiniBert
from tests.tiny import tiny_hf_bert
from tests.tolerances import REORDERED


def test_weight_map_covers_every_minbert_parameter():
    model = MiniBert(BertConfig(num_layers=2))
    assert set(hf_weight_map(2).values()) == set(model.state_dict())


def test_convert_accepts_bert_prefix_and_gamma_beta():
    model = MiniBert(BertConfig(vocab_size=20, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16))
    reverse = {ours: hf for hf, ours in hf_weight_map(1).items()}
    hf_state = {}
    for name, tensor in model.state_dict().items():
        key = "bert." + reverse[name]
        if "LayerNorm" in key:
            key = key.replace(".weight", ".gamma").replace(".bias", ".beta")
        hf_state[key] = tensor
    hf_state["cls.predictions.bias"] = torch.zeros(3)  # an MLM head is dropped
    converted = convert_hf_state_dict(hf_state, 1)
    assert set(converted) == set(model.state_dict())


def test_convert_names_missing_weights():
    with pytest.raises(ValueError, match="missing"):
        convert_hf_state_dict({"embeddings.word_embeddings.weight": torch.zeros(2, 2)}, 1)


def test_minilm_l6_loads_with_its_tokenizer():
    model, tokenizer = load_backbone("minilm-l6")
    assert model.config.num_layers == 6 and model.config.hidden_size == 384 and model.config.num_heads == 12
    assert tokenizer("Hello")["input_ids"][0] == tokenizer.cls_token_id
    assert tokenizer.is_fast


@pytest.mark.parametrize("name", ["bert-base-uncased", "princeton-nlp/sup-simcse-bert-base-uncased"])
def test_uncached_hub_backbone_fails_with_one_clear_sentence(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneNotAvailable) as info:
        load_backbone(name)
    message = str(info.value)
    assert name in message and "huggingface-cli download" in message and "\n" not in message


@pytest.mark.numerics
def test_local_hf_directory_loads(tmp_path):
    hf = tiny_hf_bert(tmp_path, layers=2)
    ours, tokenizer = load_backbone(str(tmp_path))
    enc = tokenizer(["a test sentence", "b"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = hf(**enc).last_hidden_state
        got = ours(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).last_hidden_state
    real = enc["attention_mask"].bool()
    assert torch.allclose(got[real], expected[real], atol=REORDERED)


def test_hub_id_found_in_the_local_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    tiny_hf_bert(tmp_path / "models--some-org--tiny-bert" / "snapshots" / "0123abcd", layers=1)
    (tmp_path / "models--some-org--tiny-bert" / "refs").mkdir()
    (tmp_path / "models--some-org--tiny-bert" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, _ = load_backbone("some-org/tiny-bert")
    assert model.config.num_layers == 1 and model.config.hidden_size == 32
