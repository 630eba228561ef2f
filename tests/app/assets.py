"""Builds a small assets/ folder for the app tests: real (untrained-head) checkpoints, dev predictions made by
the evaluation code on the small data, the dev files they refer to (in data/, as the shipped assets hold them),
results.json, hard_cases.json and one corrupt variant."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mtbert.checkpoint import BackboneCache, load, save_checkpoint, save_ensemble
from mtbert.data import task_file
from mtbert.evaluation import evaluate, write_report
from mtbert.layout import shipped_data_dir
from mtbert.multitask import SingleTaskModels
from tests.test_multitask import make_model

# The test variants' backbone: pretrained MiniLM-L3 (paraphrase-MiniLM-L3-v2: 3 layers of 12 heads, width 384, the
# same vocabulary) at half MiniLM-L6's cost; their heads are random either way.
BACKBONE, LAYERS = "minilm-l3", 3


def _perturbed(model, seed: int):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("backbone."):
                p.add_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def save_weights(checkpoint: Path, state: dict[str, torch.Tensor]) -> None:
    """Replace a checkpoint's weights with ``state``, and the sha256 its config records with theirs."""
    from safetensors.torch import save_file

    from mtbert.data import sha256_file
    from mtbert.files import write_json_atomic

    save_file(state, str(checkpoint / "model.safetensors"))
    config = json.loads((checkpoint / "config.json").read_text())
    write_json_atomic(
        checkpoint / "config.json", {**config, "weights_sha256": sha256_file(checkpoint / "model.safetensors")}
    )


def build_user_runs(root: Path, cache: BackboneCache, data_dir: Path) -> Path:
    """A user's folder of models: ``my-run`` (a multitask checkpoint in a run's best/, as no assets folder ships
    one), ``tiny-run`` (trained here from a tiny preset on the session's tiny BERT, as ``python -m train.train``
    leaves a run) and ``my-hf-paraphrase`` (a tiny Hugging Face BertForSequenceClassification with 2 labels)."""
    from mtbert.config import TrainConfig, from_dict
    from mtbert.presets import read_preset
    from mtbert.training import train
    from tests.test_distributed import write_preset
    from tests.test_hf_models import save_hf_classifier

    with torch.random.fork_rng():
        torch.manual_seed(4)
        model = _perturbed(make_model(cache, "cross", mode="lora", backbone_name=BACKBONE), 4)
        save_checkpoint(model, root / "my-run" / "best")
        preset = write_preset(root.parent / f"{root.name}-tiny.toml")  # the processes tests' tiny preset
        raw = read_preset(preset) | {"data_dir": str(data_dir), "out_dir": str(root / "tiny-run")}
        train(from_dict(TrainConfig, raw))
    save_hf_classifier(root / "my-hf-paraphrase", labels=2, seed=5)
    return root


def build_test_assets(root: Path, data_dir: Path, cache: BackboneCache) -> Path:
    # Heads and adapters initialise from torch's global generator: seed it here, so that the models (and every
    # prediction the app tests check) do not depend on which tests ran before this session fixture.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _build_test_assets(root, data_dir, cache)


def _build_test_assets(root: Path, data_dir: Path, cache: BackboneCache) -> Path:
    checkpoints = root / "checkpoints"
    tasks = ("sentiment", "paraphrase", "similarity")
    models = {
        "multi-cross": _perturbed(make_model(cache, "cross", mode="lora", backbone_name=BACKBONE), 1),
        "single-concat": SingleTaskModels(
            {
                t: _perturbed(
                    make_model(cache, "concat", "uv_diff_prod", mode="frozen", tasks=[t], backbone_name=BACKBONE), 2
                )
                for t in tasks
            }
        ),
        "single-cross": SingleTaskModels(
            {t: _perturbed(make_model(cache, "cross", tasks=[t], backbone_name=BACKBONE), 3) for t in tasks}
        ),
    }
    results = {}
    for name, model in models.items():
        report = evaluate(model, data_dir, "dev")
        save_checkpoint(model, checkpoints / name, metrics=report.metrics)
        write_report(report, root / "predictions" / name, "dev")
        results[name] = {**report.metrics, "trainable_parameters": 1000, "train_seconds": 0.0, "seed": 1}
    ensemble = save_ensemble(checkpoints / "ensemble", ["multi-cross", "single-cross"])
    report = evaluate(load(ensemble, cache), data_dir, "dev")
    write_report(report, root / "predictions" / "ensemble", "dev")
    results["ensemble"] = {**report.metrics, "trainable_parameters": 2000, "train_seconds": 0.0, "seed": 1}
    (root / "results.json").write_text(json.dumps(results))
    shipped = shipped_data_dir(root)
    shipped.mkdir()
    for task in tasks:
        source = task_file(data_dir, task, "dev")
        (shipped / source.name).write_bytes(source.read_bytes())
    broken = checkpoints / "broken-variant"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{ this is not json")
    sts = report.predictions["similarity"]
    sst = report.predictions["sentiment"]
    hard = {
        "categories": [
            {
                "id": "sts_overlap",
                "title": "STS: high overlap, one word flips the meaning",
                "task": "similarity",
                "description": "The model scores these too high.",
                "examples": [
                    {
                        "sentence1": r.sentence1,
                        "sentence2": r.sentence2,
                        "gold": float(r.gold),
                        "predictions": {n: 2.5 for n in models},
                    }
                    for r in sts.head(3).itertuples()
                ],
            },
            {
                "id": "sst_neighbours",
                "title": "SST: neighbouring classes",
                "task": "sentiment",
                "description": "Neutral and somewhat negative get confused.",
                "examples": [
                    {"sentence1": r.sentence1, "gold": int(r.gold), "predictions": {n: "neutral" for n in models}}
                    for r in sst.head(3).itertuples()
                ],
            },
        ]
    }
    (root / "hard_cases.json").write_text(json.dumps(hard))
    _ship_training_logs(root, data_dir)
    return root


def _ship_training_logs(root: Path, data_dir: Path) -> None:
    """Training logs as assets/runs/ ships them, from one real tiny run: multi-cross gets its step records
    (metrics.jsonl), single-cross only its epoch lines (log.jsonl), as a variant trained before step logging."""
    import shutil

    from mtbert.config import TrainConfig, from_dict
    from mtbert.layout import run_logs_dir
    from mtbert.presets import read_preset
    from mtbert.training import train
    from tests.test_distributed import write_preset

    preset = write_preset(root / "tiny-logged.toml", epochs=2, log_every_steps=1)
    run = root.parent / f"{root.name}-logged-run"
    train(from_dict(TrainConfig, read_preset(preset) | {"data_dir": str(data_dir), "out_dir": str(run)}))
    preset.unlink()
    for variant, log in (("multi-cross", "metrics.jsonl"), ("single-cross", "log.jsonl")):
        run_logs_dir(root, variant).mkdir(parents=True)
        shutil.copy(run / log, run_logs_dir(root, variant) / log)
