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
    b = written["int8"]["variants"]["b"]
    assert b["new"] == "b-int8" and b["cpu"] == "test" and b["run"].endswith("Z")  # the run and CPU of each row
    assert set(written["int8"]["variants"]) == {"a", "b"} and written["int8"]["variants"]["a"] == {"old": 1}
    assert cli.main(["--json", str(record), "--data-dir", str(tmp_path)]) == 0  # no names: every shipped one, afresh
    again = json.loads(record.read_text())["int8"]["variants"]
    assert {k: v["new"] for k, v in again.items()} == {"a": "a-int8", "b": "b-int8"}
    assert again["a"]["run"] == again["b"]["run"]


def test_the_int8_table_letters_each_run_and_leaves_unrecorded_runs_apart(tmp_path):
    from mtbert.lab.speed_tables import int8_table

    def row(run=None):
        metrics = {"sst_acc": 0.5, "quora_acc": 0.8, "sts_pearson": 0.8, "overall": 0.7}
        entry = {"int8": metrics, "delta": metrics, "pair_ms_fp32": 9.0, "pair_ms_int8": 4.0, "speedup": 2.25}
        return entry | ({"run": run, "cpu": "cpu X"} if run else {})

    runs = {"old": row(), "one": row("2026-01-02T00:00:00Z"), "two": row("2026-01-02T00:00:00Z")}
    runs["later"] = row("2026-02-01T00:00:00Z")
    (tmp_path / "benchmark.json").write_text(json.dumps({"int8": {"variants": runs}}))
    lines = int8_table(tmp_path).splitlines()
    last = {line.split(" | ")[0].strip("| "): line.rsplit(" | ", 1)[1].strip(" |") for line in lines[2:6]}
    assert last == {"old": "—", "one": "A", "two": "A", "later": "B"}
    assert lines[-1].endswith("A: 2026-01-02T00:00:00Z on cpu X; B: 2026-02-01T00:00:00Z on cpu X.")
