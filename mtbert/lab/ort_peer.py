"""ONNX Runtime as the peer of minBERT's encoder on CPU: the same weights, exported once, timed in the same run.

Four paths, each on the same pre-tokenised inputs (so tokenisation, the same for all, is left out): ORT fp32 and
minBERT fp32; ORT int8 (``onnxruntime.quantization.quantize_dynamic``) and minBERT int8 (torch dynamic
quantisation of every Linear). Each is timed on length-bucketed batches of the SST dev sentences and on one pair
(batch 1, no attentions). ORT's idle threads are kept from spinning, so that they do not steal the cores the
timing loop shares with them. ``onnxruntime`` is a test extra: without it the benchmark says so and measures nothing.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtbert.backbones import load_backbone
from mtbert.data import Example, bucketed_batches, make_items
from mtbert.lab.benchmark import PAIR, timed_ms
from mtbert.model import MiniBert

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _LastHidden(torch.nn.Module):
    """The encoder with tensor inputs and one tensor output, as the ONNX exporter takes it."""

    def __init__(self, encoder: MiniBert) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        return self.encoder(input_ids, attention_mask, token_type_ids).last_hidden_state  # (B, T, C)


def export_onnx(encoder: MiniBert, example: dict[str, torch.Tensor], path: Path) -> Path:
    """``encoder`` as an ONNX graph (batch and length dynamic) at ``path``."""
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(
            _LastHidden(encoder).eval(),  # eval as a whole: the exporter restores the mode it found
            tuple(example[name] for name in INPUTS),
            str(path),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return path


def ort_session(path: Path, threads: int) -> Any:
    """An ORT CPU session on ``threads`` intra-op threads whose idle threads sleep instead of spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _median_ms(fn: Callable[[], Any], calls: int) -> float:
    return round(statistics.median(timed_ms(fn, calls, warmup=min(10, calls))), 2)


def peer_benchmark(
    sentences: Sequence[str],
    backbone: str = "minilm-l6",
    batch_size: int = 64,
    pair_calls: int = 200,
    repeats: int = 3,
    threads: int | None = None,
) -> dict[str, Any]:
    """Sentences a second on bucketed batches and one pair's median ms, for ORT and minBERT in fp32 and int8,
    with each minBERT path's ratio to ORT's (above 1 for throughput and below 1 for time: minBERT is ahead)."""
    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return {"skipped": "onnxruntime is not installed (pip install -r requirements-test.txt)"}
    threads = threads or torch.get_num_threads()
    encoder, tokenizer = load_backbone(backbone)
    encoder.eval()
    examples = [Example(str(i), s) for i, s in enumerate(sentences)]
    batches = [b.inputs[0] for b in bucketed_batches(make_items(tokenizer, examples, "cross", 128), batch_size, False)]
    pair = dict(tokenizer(*PAIR, return_tensors="pt"))
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(encoder), {torch.nn.Linear}, dtype=torch.qint8)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = export_onnx(encoder, pair, Path(tmp) / "encoder.onnx")
        int8_path = Path(tmp) / "encoder-int8.onnx"
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
        sessions = {"ort_fp32": ort_session(fp32_path, threads), "ort_int8": ort_session(int8_path, threads)}

        def ort_run(session: Any) -> Callable[[dict[str, torch.Tensor]], Any]:
            return lambda x: session.run(None, {name: x[name].numpy() for name in INPUTS})

        def torch_run(model: torch.nn.Module) -> Callable[[dict[str, torch.Tensor]], Any]:
            def run(x: dict[str, torch.Tensor]) -> Any:
                with torch.inference_mode():
                    return model(*(x[name] for name in INPUTS))

            return run

        paths = {
            "ort_fp32": ort_run(sessions["ort_fp32"]),
            "mtbert_fp32": torch_run(encoder),
            "ort_int8": ort_run(sessions["ort_int8"]),
            "mtbert_int8": torch_run(int8),
        }
        with torch.inference_mode():
            reference = encoder(*(pair[name] for name in INPUTS)).last_hidden_state.numpy()
        agreement = float(np.abs(paths["ort_fp32"](pair)[0] - reference).max())
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(repeats):  # interleaved, so that drift in the machine's load hits every path alike
            for name, run in paths.items():
                run(batches[0])
                start = time.perf_counter()
                for batch in batches:
                    run(batch)
                seconds[name].append(time.perf_counter() - start)
        pair_ms = {name: _median_ms(lambda run=run: run(pair), pair_calls) for name, run in paths.items()}
    result: dict[str, Any] = {
        "onnxruntime": ort.__version__,
        "threads": threads,
        "sentences": len(sentences),
        "batch_size": batch_size,
        "ort_fp32_vs_mtbert_max_abs_diff": agreement,
    }
    for name in paths:
        result[name] = {
            "bucketed_sentences_per_s": round(len(sentences) / statistics.median(seconds[name]), 1),
            "pair_ms": pair_ms[name],
        }
    for precision in ("fp32", "int8"):
        ours, peer = result[f"mtbert_{precision}"], result[f"ort_{precision}"]
        ours["throughput_vs_ort"] = round(ours["bucketed_sentences_per_s"] / peer["bucketed_sentences_per_s"], 2)
        ours["pair_time_vs_ort"] = round(ours["pair_ms"] / peer["pair_ms"], 2)
    return result
