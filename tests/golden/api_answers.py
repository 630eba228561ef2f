"""The app API's answers for a fixed set of inputs, every endpoint and every shipped variant (attentions on).

``python -m tests.golden.api_answers record`` starts ``app.py`` on ``assets/`` and writes
``tests/golden/api_answers.json.gz``; ``... check`` compares a fresh run with it (floats to 1e-6) and prints every
difference. It is the behaviour lock for refactors: the answers must not move.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "api_answers.json.gz"
# The app's thread count, fixed for recording and checking alike: another count sums in another order and moves
# the last bits of a float.
APP_ENV = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
SENTENCES = ["A gorgeous, witty and deeply moving film.", "It is not a bad movie, but it is not good either."]
PAIRS = [
    ("A man is playing a guitar.", "A man plays an instrument."),
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?"),
]


def _call(client: Any, *args: Any, api_name: str) -> Any:
    try:
        return {"ok": client.predict(*args, api_name=api_name)}
    except Exception as err:  # an error is an answer too
        return {"error": str(err)}


def _strip_files(value: Any) -> Any:
    """Downloaded file paths differ per run: keep the file's text instead."""
    if isinstance(value, str) and value.endswith(".csv") and Path(value).exists():
        return Path(value).read_text()
    if isinstance(value, list | tuple):
        return [_strip_files(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_files(v) for k, v in value.items() if k not in ("url", "path")}
    return value


def collect(url: str, variants: list[str]) -> dict[str, Any]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    answers: dict[str, Any] = {}
    a, b = PAIRS[0]
    for v in variants:
        for i, s in enumerate(SENTENCES):
            answers[f"{v}/predict_sentiment/{i}"] = _call(client, s, v, api_name="/predict_sentiment")
        for i, (x, y) in enumerate(PAIRS):
            answers[f"{v}/predict_paraphrase/{i}"] = _call(client, x, y, v, api_name="/predict_paraphrase")
            answers[f"{v}/predict_similarity/{i}"] = _call(client, x, y, v, api_name="/predict_similarity")
        for task in ("paraphrase", "similarity"):
            answers[f"{v}/predict_pair/{task}"] = _call(client, a, b, task, v, True, api_name="/predict_pair")
        for task in ("all three", "sentiment", "paraphrase", "similarity"):
            second = "" if task == "sentiment" else b
            answers[f"{v}/playground/{task}"] = _call(client, task, a, second, v, api_name="/playground")
        answers[f"{v}/playground/all three, one sentence"] = _call(
            client, "all three", SENTENCES[0], "", v, api_name="/playground"
        )
        for task in ("sentiment", "similarity"):
            second = "" if task == "sentiment" else b
            answers[f"{v}/saliency/{task}"] = _call(client, task, a, second, v, api_name="/saliency")
    for task in ("sentiment", "paraphrase", "similarity"):
        answers[f"compare/{task}"] = _call(client, task, a, b, variants[:4], api_name="/compare")
    with tempfile.TemporaryDirectory() as tmp:
        single, pair = Path(tmp) / "single.csv", Path(tmp) / "pair.csv"
        single.write_text("sentence\n" + "\n".join(f'"{s}"' for s in SENTENCES) + "\n")
        pair.write_text("sentence1,sentence2\n" + "\n".join(f'"{x}","{y}"' for x, y in PAIRS) + "\n")
        for v in variants:
            for task, path in (("sentiment", single), ("paraphrase", pair), ("similarity", pair)):
                out = _call(client, handle_file(str(path)), task, v, api_name="/batch_predict")
                answers[f"{v}/batch_predict/{task}"] = _strip_files(out)
    return answers


def _typed_array(value: dict[str, Any]) -> dict[str, Any]:
    """A plotly typed array ({"dtype", "bdata", "shape"}) with its numbers decoded into a list."""
    import base64

    import numpy as np

    numbers = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value.get("dtype", "f8")))
    return {**{k: v for k, v in value.items() if k != "bdata"}, "values": numbers.astype(float).tolist()}


def differences(old: Any, new: Any, where: str = "", tol: float = 1e-6) -> list[str]:
    """Every place where two answers differ (floats by more than ``tol``)."""
    if isinstance(old, str) and isinstance(new, str) and old.startswith("{") and new.startswith("{"):
        try:  # a plotly figure travels as a JSON string: compare its numbers with the tolerance too
            old, new = json.loads(old), json.loads(new)
        except json.JSONDecodeError:
            pass
    if isinstance(old, bool | str | type(None)) or isinstance(new, bool | str | type(None)):
        return [] if old == new else [f"{where}: {str(old)[:80]!r} != {str(new)[:80]!r}"]
    if isinstance(old, int | float) and isinstance(new, int | float):
        if math.isnan(old) and math.isnan(new):
            return []
        # The API rounds attentions to 4 decimals: another thread count may move a value across a rounding
        # boundary, one unit of the last decimal.
        rounded = round(old, 4) == old and round(new, 4) == new
        allowed = max(tol, 1e-4 + 1e-9) if rounded else tol * max(1.0, abs(old))  # float32: relative past 1
        return [] if abs(old - new) <= allowed else [f"{where}: {old} != {new} (|d| {abs(old - new):.2e})"]
    if isinstance(old, dict) and isinstance(new, dict) and "bdata" in old and "bdata" in new:
        old, new = _typed_array(old), _typed_array(new)  # plotly's base64 arrays: compare the numbers they hold
    if isinstance(old, dict) and isinstance(new, dict):
        if set(old) != set(new):
            return [f"{where}: keys {sorted(set(old) ^ set(new))[:6]} differ"]
        return [d for k in old for d in differences(old[k], new[k], f"{where}/{k}", tol)]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: length {len(old)} != {len(new)}"]
        pairs = enumerate(zip(old, new, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{where}[{i}]", tol)]
    return [f"{where}: {type(old).__name__} != {type(new).__name__}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--assets", type=Path, default=Path("assets"))
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    from train.benchmark_app import start_app

    variants = sorted(p.name for p in (args.assets / "checkpoints").iterdir() if p.is_dir())
    process, url, _ = start_app(args.assets, APP_ENV)
    try:
        answers = collect(url, variants)
    finally:
        process.terminate()
    answers = json.loads(json.dumps(answers))  # tuples -> lists, as the file holds them
    if args.action == "record":
        GOLDEN.write_bytes(gzip.compress(json.dumps(answers, sort_keys=True).encode(), mtime=0))
        print(f"wrote {len(answers)} answers to {GOLDEN}")
        return 0
    golden = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    diffs = differences(golden, answers, tol=args.tol)
    print("\n".join(diffs[:50]) or f"all {len(golden)} answers match to {args.tol:g}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
