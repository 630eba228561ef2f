"""A tiny random BERT (2 layers of width 32) with minilm-l6's vocabulary, saved as a Hugging Face directory once
per test session. Training tests whose subject is not the pretrained weights (resuming, processes, the zoo's
bookkeeping) train on it: the same code paths as on MiniLM-L6, at a fraction of the cost."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path


def tiny_hf_bert(directory: Path, layers: int, seed: int = 0):
    """A small random Hugging Face BERT saved with minilm-l6's vocabulary, as a user's local copy would be."""
    import torch
    from transformers import BertConfig as HFConfig
    from transformers import BertModel

    from mtbert.backbones import resolve_backbone

    config = HFConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=64
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        hf = BertModel(config).eval()
    hf.save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json", "tokenizer.json", "special_tokens_map.json"):
        (directory / name).write_bytes((resolve_backbone("minilm-l6").directory / name).read_bytes())
    return hf


@functools.cache
def tiny_backbone() -> str:
    """The directory of this session's tiny BERT (a backbone name that every config accepts)."""
    directory = Path(tempfile.mkdtemp(prefix="mtbert-tiny-bert-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    tiny_hf_bert(directory, layers=2)
    return str(directory)
