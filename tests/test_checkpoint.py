"""Checkpoint round trips, sizes and clear errors for missing or corrupt files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mtbert.checkpoint import (
    CheckpointError,
    cast_weights,
    check_checkpoint,
    load,
    save_checkpoint,
    save_ensemble,
)
from mtbert.ensemble import EnsembleModel
from mtbert.multitask import SingleTaskModels
from tests.test_multitask import make_model
from tests.tolerances import FLOAT16_WEIGHTS, REORDERED

A, B = ["a man plays a guitar.", "how do i learn python?"], ["someone plays music.", "how can i learn python fast?"]


def _perturb_heads(model):
    # Random heads and non-zero adapters so that a round trip that dropped them would change predictions.
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and ("lora_B" in name or not name.startswith("backbone.")):
                p.add_(torch.randn_like(p) * 0.05)
    return model


def _predictions(model):
    return (model.predict_sentiment(A), model.predict_paraphrase(A, B), model.predict_similarity(A, B))


@pytest.mark.numerics
@pytest.mark.parametrize("mode", ["lora", "frozen", "full"])
@pytest.mark.parametrize("encoding", ["cross", "concat"])
def test_round_trip_gives_identical_predictions(backbone_cache, tmp_path, mode, encoding):
    model = _perturb_heads(make_model(backbone_cache, encoding, "uv_diff_prod", mode=mode, shared=True))
    if mode == "full":
        with torch.no_grad():
            model.backbone.blocks[0].ffn.up.weight.mul_(1.01)  # full checkpoints must carry backbone weights
    before = _predictions(model)
    save_checkpoint(model, tmp_path / "ckpt", {"note": "test"}, {"sts_pearson": 0.5})
    loaded = load(tmp_path / "ckpt", backbone_cache)
    for x, y in zip(before, _predictions(loaded), strict=True):
        np.testing.assert_array_equal(x, y)
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["finetune"]["mode"] == mode and config["note"] == "test"
    assert json.loads((tmp_path / "ckpt" / "metrics.json").read_text()) == {"sts_pearson": 0.5}
    assert not list(tmp_path.glob(".*")), "no temporary files are left behind"


def test_lora_checkpoint_is_small(backbone_cache, tmp_path):
    model = make_model(backbone_cache, mode="lora")
    save_checkpoint(model, tmp_path / "ckpt")
    size = sum(f.stat().st_size for f in (tmp_path / "ckpt").iterdir())
    assert size < 5 * 1024 * 1024
    full = make_model(backbone_cache, mode="full")
    save_checkpoint(full, tmp_path / "full")
    assert (tmp_path / "full" / "model.safetensors").stat().st_size > 80 * 1024 * 1024


@pytest.mark.numerics
def test_float16_weights_halve_the_file_and_load_back_as_float32(backbone_cache, tmp_path):
    models = {t: _perturb_heads(make_model(backbone_cache, tasks=[t])) for t in ("sentiment", "similarity")}
    save_checkpoint(SingleTaskModels(models), tmp_path / "fp32")
    save_checkpoint(SingleTaskModels(models), tmp_path / "saved16", dtype=torch.float16)
    shutil.copytree(tmp_path / "fp32", tmp_path / "cast16")
    cast_weights(tmp_path / "cast16", torch.float16)
    check_checkpoint(tmp_path / "cast16")  # the recorded sha256 follows the new file
    size = {d: (tmp_path / d / "sentiment" / "model.safetensors").stat().st_size for d in ("fp32", "saved16", "cast16")}
    assert size["saved16"] == size["cast16"] < 0.55 * size["fp32"]
    assert {v.dtype for v in load_file(str(tmp_path / "cast16" / "similarity" / "model.safetensors")).values()} == {
        torch.float16
    }
    for directory in ("saved16", "cast16"):
        loaded = load(tmp_path / directory, backbone_cache)
        assert all(p.dtype == torch.float32 for p in loaded.model_for("sentiment").parameters())
        np.testing.assert_allclose(
            loaded.predict_similarity(A, B), models["similarity"].predict_similarity(A, B), atol=FLOAT16_WEIGHTS
        )
        np.testing.assert_allclose(
            loaded.predict_sentiment(A), models["sentiment"].predict_sentiment(A), atol=FLOAT16_WEIGHTS
        )
    with pytest.raises(CheckpointError, match="no weights of its own"):
        cast_weights(save_ensemble(tmp_path / "ens", ["fp32"]), torch.float16)


def test_single_task_checkpoint_routes_each_task(backbone_cache, tmp_path):
    models = {t: _perturb_heads(make_model(backbone_cache, tasks=[t])) for t in ("sentiment", "similarity")}
    single = SingleTaskModels(models)
    save_checkpoint(single, tmp_path / "single")
    loaded = load(tmp_path / "single", backbone_cache)
    assert isinstance(loaded, SingleTaskModels) and loaded.tasks == ["sentiment", "similarity"]
    np.testing.assert_array_equal(loaded.predict_sentiment(A), models["sentiment"].predict_sentiment(A))
    np.testing.assert_array_equal(loaded.predict_similarity(A, B), models["similarity"].predict_similarity(A, B))
    with pytest.raises(ValueError, match="paraphrase"):
        loaded.predict_paraphrase(A, B)


@pytest.mark.numerics
def test_ensemble_averages_the_members_that_have_each_task(backbone_cache, tmp_path):
    multi = _perturb_heads(make_model(backbone_cache))
    torch.manual_seed(1)
    single = SingleTaskModels({"similarity": _perturb_heads(make_model(backbone_cache, tasks=["similarity"]))})
    save_checkpoint(multi, tmp_path / "multi")
    save_checkpoint(single, tmp_path / "single")
    save_ensemble(tmp_path / "ens", ["multi", "single"], {"sts_pearson": 0.1})
    assert not (tmp_path / "ens" / "model.safetensors").exists()
    ens = load(tmp_path / "ens", backbone_cache)
    assert isinstance(ens, EnsembleModel) and ens.tasks == multi.tasks
    expected = (multi.predict_similarity(A, B) + single.predict_similarity(A, B)) / 2
    # the same members' outputs, computed in the same order; only the float32 mean of two rounds differently
    np.testing.assert_allclose(ens.predict_similarity(A, B), expected, rtol=1e-6)
    assert not np.allclose(expected, multi.predict_similarity(A, B))
    np.testing.assert_allclose(ens.predict_sentiment(A), multi.predict_sentiment(A), rtol=1e-6)  # one member has it
    values, views = ens.predict_similarity(A[:1], B[:1], return_attentions=True)
    np.testing.assert_allclose(values, expected[:1], rtol=REORDERED)  # a batch of one, with attentions: reordered
    assert views[0][0].attentions.shape[:2] == (6, 12)
    assert ens.members_for("sentiment") == ["multi"]


def test_ensemble_members_must_exist(backbone_cache, tmp_path):
    save_checkpoint(make_model(backbone_cache), tmp_path / "multi")
    with pytest.raises(CheckpointError, match="'gone'"):
        save_ensemble(tmp_path / "ens", ["multi", "gone"])
    assert not (tmp_path / "ens").exists()
    save_ensemble(tmp_path / "ens", ["multi"])
    (tmp_path / "ens" / "config.json").write_text(
        json.dumps({**json.loads((tmp_path / "ens" / "config.json").read_text()), "members": ["../multi"]})
    )
    with pytest.raises(CheckpointError, match="not a checkpoint beside it"):
        check_checkpoint(tmp_path / "ens")


@pytest.fixture
def saved(backbone_cache, tmp_path):
    save_checkpoint(make_model(backbone_cache), tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load(tmp_path / "nowhere")


def test_missing_config_names_the_file(saved):
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json is missing"):
        load(saved)


def test_corrupt_config_names_the_file(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json is corrupt"):
        load(saved)


def test_missing_weights_names_the_file(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        load(saved)


def test_corrupt_weights_name_the_file(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt"):
        load(saved)


def test_weights_that_do_not_fit_the_config(saved):
    config = json.loads((saved / "config.json").read_text())
    config["heads"]["tasks"] = ["sentiment"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit"):
        load(saved)


def test_weights_of_another_shape_are_named(saved):
    from safetensors.torch import load_file, save_file

    state = load_file(str(saved / "model.safetensors"))
    key = next(k for k in state if k.endswith("linear.weight"))
    state[key] = torch.zeros(1, 7)
    save_file(state, str(saved / "model.safetensors"))
    config = json.loads((saved / "config.json").read_text())
    config.pop("weights_sha256", None)  # the hash check would say "corrupt" first: this test is about the shapes
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=rf"does not fit its config: {key} \(1, 7\)"):
        load(saved)
