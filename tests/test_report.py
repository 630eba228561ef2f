"""The README's tables are generated from assets/*.json and are up to date."""

from __future__ import annotations

from pathlib import Path

from mtbert.report import benchmark_table, models_table, render_readme
from mtbert.zoo import DEFAULT_ASSETS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_tables_match_the_assets():
    text = README.read_text()
    assert render_readme(text, DEFAULT_ASSETS) == text, "run: python -m train.update_readme"


def test_models_table_lists_each_usable_variant(app_assets):
    table = models_table(app_assets)
    assert "| multi-cross | minilm-l6 |" in table and "broken-variant" not in table
    assert "| ensemble | minilm-l6 | ensemble of multi-cross + single-cross |" in table
    assert len(table.splitlines()) == 2 + 4


def test_benchmark_table_without_files_is_just_a_header(tmp_path):
    assert benchmark_table(tmp_path).count("\n") == 1
