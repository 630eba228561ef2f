"""Inference throughput: minBERT vs ``transformers.BertModel`` on the same weights and batches."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import BertModel

from mtbert.backbones import load_backbone, resolve_backbone
from mtbert.config import FinetuneConfig, HeadConfig
from mtbert.data import Example, bucketed_batches, iterate_file_order, make_items
from mtbert.multitask import MultitaskModel


def _time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up run)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput_benchmark(
    sentences: Sequence[str], backbone: str = "minilm-l6", batch_size: int = 64, repeats: int = 3
) -> dict[str, Any]:
    """Sentences/s of HF and minBERT on file-order batches, and of minBERT on evaluation's bucketed batches.

    Every timing includes tokenisation and padding, so the bucketed path pays for its own sorting.
    """
    ours, tokenizer = load_backbone(backbone)
    hf = BertModel.from_pretrained(str(resolve_backbone(backbone).directory), add_pooling_layer=False).eval()
    examples = [Example(str(i), s) for i, s in enumerate(sentences)]

    def file_order(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            items = make_items(tokenizer, examples, "cross", 128)
            with torch.inference_mode():
                for batch in iterate_file_order(items, batch_size):
                    model(**batch.inputs[0]) if model is hf else model(
                        batch.inputs[0]["input_ids"],
                        batch.inputs[0]["attention_mask"],
                        batch.inputs[0]["token_type_ids"],
                    )

        return run

    def bucketed() -> None:
        items = make_items(tokenizer, examples, "cross", 128)
        with torch.inference_mode():
            for batch in bucketed_batches(items, batch_size, shuffle=False):
                x = batch.inputs[0]
                ours(x["input_ids"], x["attention_mask"], x["token_type_ids"])

    n = len(sentences)
    # Interleave the three so drift in machine load hits all of them alike.
    timings: dict[str, list[float]] = {"hf_file_order": [], "mtbert_file_order": [], "mtbert_bucketed": []}
    runs = {"hf_file_order": file_order(hf), "mtbert_file_order": file_order(ours), "mtbert_bucketed": bucketed}
    for _ in range(repeats):
        for key, fn in runs.items():
            timings[key].append(_time(fn, 1))
    result = {f"{k}_sentences_per_s": round(n / statistics.median(v), 1) for k, v in timings.items()}
    result["mtbert_vs_hf_same_batches"] = round(
        result["mtbert_file_order_sentences_per_s"] / result["hf_file_order_sentences_per_s"], 3
    )
    result["bucketed_vs_hf_file_order"] = round(
        result["mtbert_bucketed_sentences_per_s"] / result["hf_file_order_sentences_per_s"], 3
    )
    items = make_items(tokenizer, examples, "cross", 128)
    padded = sum(b.inputs[0]["input_ids"].numel() for b in iterate_file_order(items, batch_size))
    bucket_padded = sum(b.inputs[0]["input_ids"].numel() for b in bucketed_batches(items, batch_size, False))
    result["tokens_incl_padding_file_order"] = padded
    result["tokens_incl_padding_bucketed"] = bucket_padded
    result["real_tokens"] = sum(it.length for it in items)
    return result


def pair_latency(model: MultitaskModel | None = None, calls: int = 50) -> dict[str, float]:
    """Median and p95 latency (ms) of one ``predict_similarity`` call on a pair with ``return_attentions``."""
    if model is None:
        backbone, tokenizer = load_backbone()
        heads = HeadConfig(tasks=["similarity"], pair_encoding="cross")
        model = MultitaskModel(backbone, tokenizer, heads, FinetuneConfig(mode="lora"))
    a, b = "A man is playing a guitar on stage.", "Someone plays an instrument in front of an audience."
    times = []
    model.predict_similarity([a], [b], return_attentions=True)
    for _ in range(calls):
        start = time.perf_counter()
        model.predict_similarity([a], [b], return_attentions=True)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "pair_latency_attentions_p50_ms": round(statistics.median(times), 2),
        "pair_latency_attentions_p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
