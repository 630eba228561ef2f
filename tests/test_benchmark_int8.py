"""train.benchmark_int8 records the variants it measures and keeps the other shipped ones already recorded."""

from __future__ import annotations

import json

import train.benchmark_int8 as cli


class _Store:
    def __init__(self, assets, precision="fp32"):
        self.precision = precision

    def model(self, name):
        return f"{name}-{self.precision}"


def test_named_variants_are_measured_again_and_the_others_kept(tmp_path, monkeypatch):
    shipped = {"a": {"shipped": True}, "b": {"shipped": True}}
    monkeypatch.setattr(cli, "read_results", lambda assets: shipped)
    monkeypatch.setattr(cli, "VariantStore", _Store)
    monkeypatch.setattr(cli, "machine_info", lambda: {"cpu": "test"})
    monkeypatch.setattr(
        cli, "precision_benchmark", lambda models, recorded, data_dir: {n: {"new": m[1]} for n, m in models.items()}
    )
    record = tmp_path / "benchmark.json"
    old = {"a": {"old": 1}, "b": {"old": 1}, "gone": {"old": 1}}
    record.write_text(json.dumps({"sentences": 5, "int8": {"variants": old, "machine": {}}}))
    assert cli.main(["b", "--json", str(record), "--data-dir", str(tmp_path)]) == 0
    written = json.loads(record.read_text())
    assert written["sentences"] == 5
    assert written["int8"]["variants"] == {"a": {"old": 1}, "b": {"new": "b-int8"}}  # "gone" is no longer shipped
    assert cli.main(["--json", str(record), "--data-dir", str(tmp_path)]) == 0  # no names: every shipped one, afresh
    assert json.loads(record.read_text())["int8"]["variants"] == {"a": {"new": "a-int8"}, "b": {"new": "b-int8"}}
