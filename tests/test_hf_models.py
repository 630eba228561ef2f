"""A Hugging Face BertForSequenceClassification directory opens as a model through the HF -> minBERT weight map,
and gives what transformers gives; folders that cannot be opened say why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mtbert.checkpoint import CheckpointError
from mtbert.hf_models import fingerprint, load_classifier, read_classifier
from mtbert.user_models import discover_user_models, split_scale
from tests.tolerances import REORDERED

PAIRS = (
    ["A man is playing a guitar.", "How do I learn Python?"],
    ["A man plays the guitar.", "How can I study Python?"],
)


def save_hf_classifier(directory: Path, labels: int, seed: int = 0, bias: float | None = None):
    """A tiny random BertForSequenceClassification with MiniLM's tokenizer, saved as a user would save one."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from mtbert.backbones import resolve_backbone

    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_labels=labels,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config).eval()
    if bias is not None:
        model.classifier.bias.data.fill_(bias)
    model.save_pretrained(directory)
    BertTokenizerFast.from_pretrained(str(resolve_backbone("minilm-l6").directory)).save_pretrained(directory)
    return model


def _reference(model, labels: int, a: list[str], b: list[str] | None) -> np.ndarray:
    from transformers import BertTokenizerFast

    from mtbert.backbones import resolve_backbone

    tokenizer = BertTokenizerFast.from_pretrained(str(resolve_backbone("minilm-l6").directory))
    inputs = (
        tokenizer(a, b, return_tensors="pt", padding=True) if b else tokenizer(a, return_tensors="pt", padding=True)
    )
    with torch.no_grad():
        logits = model(**inputs).logits
    if labels == 5:
        return logits.softmax(-1).numpy()
    if labels == 2:
        return logits.softmax(-1)[:, 1].numpy()
    return logits[:, 0].numpy()


@pytest.mark.numerics
@pytest.mark.parametrize(("labels", "task"), [(5, "sentiment"), (2, "paraphrase"), (1, "similarity")])
def test_each_label_count_is_its_task_and_answers_as_transformers_does(tmp_path, labels, task):
    hf = save_hf_classifier(tmp_path, labels, seed=labels, bias=2.5 if labels == 1 else None)
    model = load_classifier(tmp_path)
    assert model.tasks == [task]
    a, b = (PAIRS[0], None) if labels == 5 else PAIRS
    ours = model.predict(task, a, b)
    np.testing.assert_allclose(ours, _reference(hf, labels, a, b), atol=REORDERED)
    _, views = model.predict(task, a[0], b[0] if b else None, return_attentions=True)
    assert views[0][0].attentions.shape[:2] == (2, 4)  # the attention maps come from our own BERT


@pytest.mark.numerics
def test_a_similarity_model_on_another_scale_is_read_onto_0_to_5(tmp_path):
    hf = save_hf_classifier(tmp_path, 1, seed=3, bias=0.5)
    raw = _reference(hf, 1, *PAIRS)
    (variant,) = discover_user_models([f"{tmp_path}#scale=0-1"])
    assert "on 0-1" in variant.description and variant.error is None
    np.testing.assert_allclose(variant.load(None).predict("similarity", *PAIRS), np.clip(5 * raw, 0, 5), atol=1e-4)
    assert split_scale("/x/y") == (Path("/x/y"), None) and split_scale("/x#scale=1-5") == (Path("/x"), (1.0, 5.0))
    assert fingerprint(tmp_path) != fingerprint(tmp_path, (0.0, 1.0))


def test_an_hf_directory_is_a_users_model_marked_in_the_pickers(tmp_path):
    save_hf_classifier(tmp_path / "my-hf-paraphrase", 2)
    (variant,) = discover_user_models([tmp_path])
    assert (
        variant.error is None and variant.tasks == ["paraphrase"] and variant.label.startswith("yours · 2-layer BERT")
    )
    assert "BertForSequenceClassification" in variant.description


def test_folders_that_cannot_open_say_why(tmp_path):
    good = tmp_path / "good"
    save_hf_classifier(good, 2)
    pickle = tmp_path / "pickle"
    shutil.copytree(good, pickle)
    state = {
        k: v for k, v in __import__("safetensors.torch").torch.load_file(str(pickle / "model.safetensors")).items()
    }
    torch.save(state, pickle / "pytorch_model.bin")
    (pickle / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="holds only pytorch_model.bin, a pickle.*safe_serialization=True"):
        read_classifier(pickle)

    labels = tmp_path / "labels"
    shutil.copytree(good, labels)
    config = json.loads((labels / "config.json").read_text())
    config["id2label"] = {str(i): f"c{i}" for i in range(3)}
    (labels / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="has 3 labels"):
        read_classifier(labels)

    shapes = tmp_path / "shapes"
    shutil.copytree(good, shapes)
    config = json.loads((good / "config.json").read_text()) | {"intermediate_size": 48}
    (shapes / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not fit its config.json"):
        load_classifier(shapes)

    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(good, no_tokenizer)
    for name in ("vocab.txt", "tokenizer.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="has no tokenizer"):
        read_classifier(no_tokenizer)

    only_bin = tmp_path / "only-a-bin"
    only_bin.mkdir()
    (only_bin / "pytorch_model.bin").write_bytes(b"not even a pickle")
    errors = {v.name: v.error for v in discover_user_models([pickle, only_bin, tmp_path / "nowhere"])}
    assert "a pickle" in errors["pickle"] and "holds no config.json" in errors["only-a-bin"]
    assert "does not exist" in errors["nowhere"]
