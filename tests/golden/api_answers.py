"""The app API's answers to a fixed set of questions: every shipped variant's three predictions, and every endpoint
on the variants that cover its code paths (the behaviour lock of refactors).

``python -m tests.golden.api_answers record`` serves the app on a copy of ``assets/`` and writes
``tests/golden/api_answers.json.gz``; ``... check`` compares a fresh run with it and prints every difference and
the largest deviation it allowed. The app runs with no data folder, as on a fresh clone: the dev sentences come from
``assets/data``, so the answers do not depend on whether the CS224N files lie beside the clone.

How close is "the same answer" (``differences``):
- A float may move by ``ATOL + RTOL * |value|``. float32 rounds each operation to 2**-24 (6e-8) of its result; a
  dot product of n terms, summed in another order or in other vector widths (AVX2 against AVX-512, another BLAS
  path or thread count), may then differ by about n * 6e-8 of its terms' magnitude. Through six layers of width
  384 and 1536 that is up to ~1e-4 relative in the worst case. Seen: 5.3e-6 absolute (1.4e-6 relative) between
  an AVX2 and an AVX-512 machine; 6.2e-6 absolute with ATEN_CPU_CAPABILITY=default, 2.4e-6 with
  MKL_CBWR=COMPATIBLE. ATOL = 2e-5 plus RTOL = 5e-5 of the value leaves a margin of 3x or more over what was seen,
  and stays well below what a real change moves: a head's bias moved by 1e-3 moves its score by ~1e-3 and a
  probability by p(1-p) * 1e-3 (``test_a_moved_head_bias_is_caught``).
- A number the app rounds to d decimals (2 to 4) may move by one unit of its last decimal: float32 noise can carry
  a value across a rounding boundary. Numbers inside strings (the batch CSV, notes, the live line) and plotly
  figures are compared the same way; the rest of a string must match exactly.
- An image (a PNG data URL) may differ by one level per channel: the app maps attention to colours with a
  truncation to 8 bits, which float32 noise can move by one.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import math
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "api_answers.json.gz"
RTOL = 5e-5
CLIENTS = 3
ATOL = 2e-5
SENTENCES = ["A gorgeous, witty and deeply moving film.", "It is not a bad movie, but it is not good either."]
PAIRS = [
    ("A man is playing a guitar.", "A man plays an instrument."),
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?"),
]
# The variants that cover the endpoints' code paths: a multitask cross-encoder (LoRA), single-task bi-encoders
# (two views per pair), a frozen multitask bi-encoder, another backbone (3 layers), a model composed of other
# variants' task models, and the ensemble (it averages members and explains through its first one).
PATH_VARIANTS = ["multi-cross", "single-concat", "frozen", "small-l3", "single-best", "ensemble"]
# Copies of one shipped variant with one head's bias moved by 1e-3: the lock must see each of them.
MOVED_FROM = "multi-cross"
MOVED = {
    f"{MOVED_FROM}-moved-{task}": (task, f"heads.{key}.bias")
    for task, key in (
        ("sentiment", "sentiment.classifier"),
        ("paraphrase", "paraphrase.linear"),
        ("similarity", "similarity.linear"),
    )
}


def _call(client: Any, api_name: str, *args: Any) -> Any:
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


def variant_questions(variant: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """One variant's three predictions (every head it has; an error for a task it does not do)."""
    return {
        f"{variant}/predict_sentiment": ("/predict_sentiment", (SENTENCES[1], variant)),
        f"{variant}/predict_paraphrase": ("/predict_paraphrase", (*PAIRS[0], variant)),
        f"{variant}/predict_similarity": ("/predict_similarity", (*PAIRS[0], variant)),
    }


def path_questions(variants: list[str]) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Every endpoint, each on the variants of ``PATH_VARIANTS`` whose code paths it has."""
    a, b = PAIRS[0]
    present = [v for v in PATH_VARIANTS if v in variants]
    q: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for v in present:
        q[f"{v}/playground/all three"] = ("/playground", ("all three", a, b, v))
    for v in present[:4]:
        for task in ("paraphrase", "similarity"):
            q[f"{v}/predict_pair/{task}"] = ("/predict_pair", (a, b, task, v, True))
    for v in present[:2]:
        q[f"{v}/playground/sentiment"] = ("/playground", ("sentiment", SENTENCES[0], "", v))
        q[f"{v}/playground/paraphrase"] = ("/playground", ("paraphrase", *PAIRS[1], v))
    for v, task, second in (
        ("multi-cross", "sentiment", ""),
        ("multi-cross", "similarity", b),
        ("single-concat", "similarity", b),
        ("ensemble", "similarity", b),
    ):
        if v in present:
            q[f"{v}/saliency/{task}"] = ("/saliency", (task, a, second, v))
    for v in present[:2]:
        q[f"{v}/what_if/similarity"] = ("/what_if", ("similarity", a, b, v))
        q[f"{v}/what_if/sentiment"] = ("/what_if", ("sentiment", SENTENCES[0], "", v))
        q[f"{v}/attention_grid"] = ("/attention_grid", ("similarity", a, b, v, "sentence B"))
        q[f"{v}/live"] = ("/live", ("all three", a, b, v))
        q[f"{v}/explore/similarity"] = (
            "/explore",
            ("similarity", v, present[1 - present.index(v)], "any", "any", 0.5, "any", "any", "", False),
        )
    for task in ("sentiment", "paraphrase", "similarity"):
        q[f"compare/{task}"] = ("/compare", (task, a, b, present[:4]))
    q[f"{present[0]}/embedding_map"] = ("/embedding_map", ("sentiment", present[0], "PCA", "error", SENTENCES[0], ""))
    q["hard_cases"] = ("/hard_cases", ())
    q["share_link"] = ("/share_link", ("paraphrase", *PAIRS[1], present[0]))
    return q


def collect(url: str, variants: list[str], extra: Sequence[str] = ()) -> dict[str, Any]:
    """The answers to every question about ``variants``, plus the per-variant predictions of ``extra``."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    questions = {k: q for v in [*variants, *extra] for k, q in variant_questions(v).items()}
    questions.update(path_questions(variants))
    # Asked from CLIENTS clients at once (the app serves two events at a time): each answer is the same whatever
    # else is asked beside it, which the lock checks too.
    local = threading.local()

    def ask(question: tuple[str, tuple[Any, ...]]) -> Any:
        if not hasattr(local, "client"):
            local.client = Client(url, verbose=False)
        return _call(local.client, question[0], *question[1])

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = dict(zip(questions, pool.map(ask, questions.values()), strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        single, pair = Path(tmp) / "single.csv", Path(tmp) / "pair.csv"
        single.write_text("sentence\n" + "\n".join(f'"{s}"' for s in SENTENCES) + "\n")
        pair.write_text("sentence1,sentence2\n" + "\n".join(f'"{x}","{y}"' for x, y in PAIRS) + "\n")
        for v in [v for v in PATH_VARIANTS if v in variants][:2]:
            for task, path in (("sentiment", single), ("paraphrase", pair), ("similarity", pair)):
                out = _call(client, "/batch_predict", handle_file(str(path)), task, v)
                answers[f"{v}/batch_predict/{task}"] = _strip_files(out)
    return json.loads(json.dumps(answers))  # tuples -> lists, as the file holds them


def move_bias(checkpoint: Path, key: str, task: str, by: float = 1e-3) -> None:
    """Move one head's bias in a checkpoint folder by ``by`` (the first class's entry of a classes head: moving
    every logit alike changes no probability)."""
    from safetensors.torch import load_file

    from tests.app.assets import save_weights

    state = load_file(str(checkpoint / "model.safetensors"))
    bias = state[key].float()
    if task == "sentiment":
        bias[0] += by
    else:
        bias += by
    state[key] = bias.to(state[key].dtype)
    save_weights(checkpoint, state)


@contextmanager
def serve_golden_app(assets: Path) -> Iterator[tuple[str, list[str]]]:
    """The app on a copy of ``assets`` with the ``MOVED`` variants added and no data folder, served from this process
    (``tests.app.serve``); yields its URL and the shipped variants' names."""
    from mtbert.app.store import VariantStore
    from mtbert.layout import checkpoints_dir
    from tests.app.serve import served

    variants = sorted(p.name for p in checkpoints_dir(assets).iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "assets"
        shutil.copytree(assets, copy, ignore=shutil.ignore_patterns("screenshots"))
        for name, (task, key) in MOVED.items():
            shutil.copytree(checkpoints_dir(copy) / MOVED_FROM, checkpoints_dir(copy) / name)
            move_bias(checkpoints_dir(copy) / name, key, task)
        empty = Path(tmp) / "no-data"
        empty.mkdir()
        with served(VariantStore(copy, empty)) as url:
            yield url, variants


def moved_answers(answers: dict[str, Any], name: str) -> dict[str, Any]:
    """A moved variant's answers, keyed as its source variant's."""
    return {k.replace(name, MOVED_FROM, 1): v for k, v in answers.items() if k.startswith(f"{name}/")}


def _typed_array(value: dict[str, Any]) -> dict[str, Any]:
    """A plotly typed array ({"dtype", "bdata", "shape"}) with its numbers decoded into a list."""
    import numpy as np

    numbers = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value.get("dtype", "f8")))
    return {**{k: v for k, v in value.items() if k != "bdata"}, "values": numbers.astype(float).tolist()}


def _decimals(text: str) -> int:
    """Digits after the point in a number's shortest form (0 for an integer or an exponent form)."""
    if "e" in text.lower() or "." not in text:
        return 0
    return len(text.split(".", 1)[1])


def allowed(old: float, new: float, old_text: str | None = None, new_text: str | None = None) -> float:
    """How far ``new`` may lie from ``old`` and still be the same answer (see the module's docstring)."""
    slack = ATOL + RTOL * max(abs(old), abs(new))
    places = max(_decimals(old_text or repr(old)), _decimals(new_text or repr(new)))
    if 2 <= places <= 4:  # rounded by the app: one unit of the last decimal
        slack = max(slack, 10.0**-places * (1 + 1e-9))
    return slack


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _string_differences(old: str, new: str, where: str) -> list[str]:
    """Strings match when their text matches and their numbers agree to ``allowed``."""
    if old == new:
        return []
    old_parts, new_parts = NUMBER.split(old), NUMBER.split(new)
    old_numbers, new_numbers = NUMBER.findall(old), NUMBER.findall(new)
    if old_parts != new_parts or len(old_numbers) != len(new_numbers):
        return [f"{where}: {old[:80]!r} != {new[:80]!r}"]
    for x, y in zip(old_numbers, new_numbers, strict=True):
        if abs(float(x) - float(y)) > allowed(float(x), float(y), x, y):
            return [f"{where}: number {x} != {y} in {old[:60]!r}"]
    return []


def _png_differences(old: str, new: str, where: str) -> list[str]:
    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))), dtype=int) for s in (old, new))
    if a.shape != b.shape:
        return [f"{where}: image {a.shape} != {b.shape}"]
    gap = int(np.abs(a - b).max())
    return [] if gap <= 1 else [f"{where}: image pixels differ by up to {gap} levels"]


PNG = "data:image/png;base64,"


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Every place where two answers differ by more than float32 noise (see the module's docstring)."""
    if isinstance(old, str) and isinstance(new, str):
        if old.startswith("{") and new.startswith("{"):
            try:  # a plotly figure travels as a JSON string: compare its numbers with the tolerance too
                return differences(json.loads(old), json.loads(new), where)
            except json.JSONDecodeError:
                pass
        if old.startswith(PNG) and new.startswith(PNG):
            return _png_differences(old, new, where)
        return _string_differences(old, new, where)
    if isinstance(old, bool | str | type(None)) or isinstance(new, bool | str | type(None)):
        return [] if old == new else [f"{where}: {str(old)[:80]!r} != {str(new)[:80]!r}"]
    if isinstance(old, int | float) and isinstance(new, int | float):
        if math.isnan(old) and math.isnan(new):
            return []
        gap = abs(old - new)
        return [] if gap <= allowed(old, new) else [f"{where}: {old} != {new} (|d| {gap:.2e})"]
    if isinstance(old, dict) and isinstance(new, dict) and "bdata" in old and "bdata" in new:
        old, new = _typed_array(old), _typed_array(new)  # plotly's base64 arrays: compare the numbers they hold
    if isinstance(old, dict) and isinstance(new, dict):
        if set(old) != set(new):
            return [f"{where}: keys {sorted(set(old) ^ set(new))[:6]} differ"]
        return [d for k in old for d in differences(old[k], new[k], f"{where}/{k}")]
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: length {len(old)} != {len(new)}"]
        pairs = enumerate(zip(old, new, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{where}[{i}]")]
    return [f"{where}: {type(old).__name__} != {type(new).__name__}"]


def largest_deviation(old: Any, new: Any) -> tuple[float, float]:
    """The largest absolute and relative gap between the unrounded floats of two matching answers."""
    worst = [0.0, 0.0]

    def walk(x: Any, y: Any) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            if "bdata" in x and "bdata" in y:
                x, y = _typed_array(x), _typed_array(y)
            for k in x.keys() & y.keys():
                walk(x[k], y[k])
        elif isinstance(x, list) and isinstance(y, list):
            for a, b in zip(x, y, strict=False):
                walk(a, b)
        elif isinstance(x, float) and isinstance(y, float) and _decimals(repr(x)) > 4 and not math.isnan(x):
            worst[0] = max(worst[0], abs(x - y))
            worst[1] = max(worst[1], abs(x - y) / max(abs(x), 1e-3))
        elif isinstance(x, str) and isinstance(y, str) and x.startswith("{") and y.startswith("{"):
            try:
                walk(json.loads(x), json.loads(y))
            except json.JSONDecodeError:
                pass

    walk(old, new)
    return worst[0], worst[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--assets", type=Path, default=Path("assets"))
    args = parser.parse_args(argv)
    with serve_golden_app(args.assets) as (url, variants):
        answers = collect(url, variants)
    if args.action == "record":
        GOLDEN.write_bytes(gzip.compress(json.dumps(answers, sort_keys=True).encode(), mtime=0))
        print(f"wrote {len(answers)} answers to {GOLDEN}")
        return 0
    golden = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    diffs = differences(golden, answers)
    absolute, relative = largest_deviation(golden, answers)
    print("\n".join(diffs[:50]) or f"all {len(golden)} answers match")
    print(f"largest deviation of an unrounded float: {absolute:.2e} absolute, {relative:.2e} relative")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
