"""The one module that knows the repository's folder layout. Everything else receives paths.

::

    <repo>/assets/                     ASSETS: what ships
        checkpoints/<variant>/          checkpoint directories (see mtbert.checkpoint)
        predictions/<variant>/<task>-<split>-predictions.csv   id-only dev predictions
        runs/<variant>/                 the training logs its run left (metrics.jsonl, log.jsonl)
        data/                           the dev sets those predictions refer to (CS224N files, with provenance)
        results.json  seeds.json  hard_cases.json  benchmark.json  app_benchmark.json
    <repo>/train/configs/<name>.toml   PRESETS: training presets
    <repo>/README.md, <repo>/docs/findings.md   generated tables and findings
    <repo>/runs/                        RUNS: training output (ignored by git)
    <repo>/../shared/data/              the CS224N data files (default data directory)
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
PRESETS = REPO / "train" / "configs"
README = REPO / "README.md"
FINDINGS = REPO / "docs" / "findings.md"
RUNS = Path("runs")  # relative: training output goes under the working directory


def default_data_dirs() -> list[Path]:
    """Where the CS224N files are looked for when neither --data-dir nor $MTBERT_DATA_DIR says."""
    return [Path.cwd().parent / "shared" / "data", REPO.parent / "shared" / "data"]


def shipped_data_dir(assets: Path) -> Path:
    """The dev sets that ship beside the predictions (the CS224N dev files, named as in the data folder)."""
    return assets / "data"


def checkpoints_dir(assets: Path) -> Path:
    return assets / "checkpoints"


def checkpoint_dir(assets: Path, variant: str) -> Path:
    return assets / "checkpoints" / variant


def run_logs_dir(assets: Path, variant: str) -> Path:
    """Where a shipped variant's training logs live (``metrics.jsonl``; ``log.jsonl`` where only epochs survive)."""
    return assets / "runs" / variant


def predictions_dir(assets: Path, variant: str) -> Path:
    return assets / "predictions" / variant


def predictions_file(assets: Path, variant: str, task: str, split: str = "dev") -> Path:
    """A variant's shipped predictions for one task, as ``evaluation.write_report`` names them."""
    return predictions_dir(assets, variant) / prediction_file_name(task, split)


def prediction_file_name(task: str, split: str) -> str:
    return f"{task}-{split}-predictions.csv"


def results_file(assets: Path) -> Path:
    return assets / "results.json"


def seeds_file(assets: Path) -> Path:
    return assets / "seeds.json"


def option_costs_file(assets: Path) -> Path:
    """Cost per step of each training option (``python -m train.benchmark_options``)."""
    return assets / "option_costs.json"


def ensemble_selection_file(assets: Path) -> Path:
    """The study of choosing the ensemble's members on dev (``python -m train.ensemble_selection``)."""
    return assets / "ensemble_selection.json"


def hard_cases_file(assets: Path) -> Path:
    return assets / "hard_cases.json"


def preset_file(presets: Path, name: str) -> Path:
    return presets / f"{name}.toml"
