"""The user's own models: a checkpoint, a run folder or a folder of runs, each a Variant marked as the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtbert.catalog import USER
from mtbert.checkpoint import save_checkpoint
from mtbert.user_models import discover_user_models, paths_from_env
from tests.test_multitask import make_model


@pytest.fixture(scope="module")
def runs(tmp_path_factory, backbone_cache) -> Path:
    """A folder of runs: two runs (their best/ checkpoints), a bare checkpoint and a folder that is neither."""
    root = tmp_path_factory.mktemp("runs")
    model = make_model(backbone_cache, tasks=["similarity"])
    for folder in ("first/best", "second/best", "plain"):
        save_checkpoint(model, root / folder)
    (root / "notes").mkdir()
    return root


def test_a_checkpoint_a_run_and_a_folder_of_runs_are_each_models(runs):
    (single,) = discover_user_models([runs / "plain"])
    (run,) = discover_user_models([runs / "first"])
    assert (single.name, single.path, single.source) == ("plain", runs / "plain", USER)
    assert run.name == "first" and run.path == runs / "first" / "best" and run.error is None
    assert run.tasks == ["similarity"] and run.label.startswith("yours · minilm-l6 / first (")
    every = discover_user_models([runs])
    assert [v.name for v in every] == ["first", "plain", "second"] and all(v.error is None for v in every)


def test_names_stay_unique_beside_the_shipped_variants(runs):
    names = [v.name for v in discover_user_models([runs / "first", runs / "first"], taken=["first"])]
    assert names == ["first-2", "first-3"]


def test_a_path_without_a_model_and_a_link_out_of_the_folder_say_why(runs, tmp_path):
    missing, empty = discover_user_models([tmp_path / "nowhere", runs / "notes"])
    assert "does not exist" in missing.error and "holds no config.json" in empty.error
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "elsewhere").symlink_to(runs / "plain")
    (variant,) = discover_user_models([linked])
    assert "is a link out of" in variant.error


def test_the_environment_lists_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("MTBERT_MODELS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert paths_from_env() == [str(tmp_path / "a"), str(tmp_path / "b")]
    monkeypatch.delenv("MTBERT_MODELS")
    assert paths_from_env() == []
